"""The consent domain's commands: ``samtycke demo``, and ``samtycke webhooks deliver`` and
``samtycke consents notify-expired``, both meant for cron:

    * * * * *    samtycke consents notify-expired && samtycke webhooks deliver
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
    from consent.webhook_sending import wait_for_sends

    app = _app()
    total = 0
    while True:
        with unit_of_work(app) as session:
            done = service.notify_expired(session, "cli", now=utcnow(), limit=batch)
        total += done
        if done < batch:
            break
    # The webhooks were queued by the commits above; let them go out before the command ends.
    wait_for_sends(timeout=60)
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
