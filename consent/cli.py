"""The consent domain's commands: ``samtycke demo``, ``samtycke webhooks deliver|retry`` and
``samtycke consents notify-expired``. Celery beat runs the last two's work by itself
(``consent.tasks``); the commands do it now, by hand.
"""

from __future__ import annotations

import click


@click.group(help="Webhook deliveries to the DAM.")
def webhooks() -> None:
    pass


@webhooks.command("deliver", help="Send every pending webhook delivery that is due; prints the counts.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="At most this many deliveries in one run.")
def webhooks_deliver(limit: int) -> None:
    from app.cli import _app
    from consent.webhook_sending import Sender, deliver_due

    results = deliver_due(Sender.from_app(_app()), limit=limit)
    counts = {status: sum(1 for r in results if r.status == status) for status in ("delivered", "pending", "failed")}
    click.echo(
        f"{len(results)} deliveries tried: {counts['delivered']} delivered, "
        f"{counts['pending']} to retry later, {counts['failed']} failed for good"
    )


@webhooks.command("retry", help="Queue every delivery that failed for good once more; prints how many.")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: every tenant).")
def webhooks_retry(tenant_slug: str | None) -> None:
    from app.auth import tenant_by_slug
    from app.cli import _app, unit_of_work
    from app.db import utcnow
    from consent.webhook_sending import retry_failed

    with unit_of_work(_app()) as session:
        tenant_id = tenant_by_slug(session, tenant_slug).id if tenant_slug else None
        ids = retry_failed(session, tenant_id=tenant_id, now=utcnow())
    click.echo(f"{len(ids)} failed deliveries queued again")


@click.group(help="Consents.")
def consents() -> None:
    pass


@consents.command(
    "notify-expired",
    help="Record consent.expired (audit event and webhooks) once for every given consent whose validity has "
    "ended; prints how many.",
)
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Consents per transaction.")
def consents_notify_expired(batch: int) -> None:
    from app.cli import _app, unit_of_work
    from app.db import utcnow
    from consent import webhooks as service

    app = _app()
    total = 0
    while True:
        # Each commit sends its webhook deliveries to the workers (or the sweep will).
        with unit_of_work(app) as session:
            done = service.notify_expired(session, "cli", now=utcnow(), limit=batch)
        total += done
        if done < batch:
            break
    click.echo(f"{total} expired consents notified")


@click.command(help="Seed the demo tenant 'demo' (idempotent) and print how to log in.")
def demo() -> None:
    from app.cli import _app, unit_of_work
    from consent.demo import seed_demo

    app = _app()
    with unit_of_work(app) as session:
        info = seed_demo(session, app)
    click.echo(info)


COMMANDS = (demo, webhooks, consents)
