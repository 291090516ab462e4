"""The consent domain's background work (Celery tasks, ``app.jobs``).

``consent.deliver_webhook`` sends one delivery (claimed by a lease, so a second message for it
changes nothing; a failure backs off in the row). The sweep re-sends the message of deliveries
nobody picked up or whose back-off is over; ``consent.notify_expired`` announces consents
whose validity has ended (what ``samtycke consents notify-expired`` does by hand).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from flask import Flask, current_app
from sqlalchemy.exc import DBAPIError

from app import jobs
from app.db import transaction, utcnow
from consent import webhook_sending
from consent.webhook_models import WebhookDelivery

EXPIRY_BATCH = 500


@shared_task(
    name=webhook_sending.DELIVER_TASK, autoretry_for=(DBAPIError,), retry_backoff=5, retry_backoff_max=600,
    retry_jitter=True, max_retries=20,
)
def deliver_webhook(delivery_id: str) -> str:
    sender = webhook_sending.Sender.from_app(current_app._get_current_object())  # type: ignore[attr-defined]
    return webhook_sending.attempt(sender, delivery_id).status


def sweep(app: Flask) -> str:
    return jobs.sweep(app, model=WebhookDelivery, due=webhook_sending.due_for_sweep, task=webhook_sending.DELIVER_TASK)


@shared_task(name="consent.sweep_webhooks")
def sweep_webhooks(period_seconds: float) -> str:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return jobs.run_periodic(app, "consent.sweep_webhooks", period_seconds, lambda: sweep(app))


def notify_expired_all(app: Flask, actor: str) -> int:
    """Every expired consent announced once, a batch per transaction; the webhooks go after each commit."""
    from consent import webhooks

    total = 0
    while True:
        with transaction(app.extensions["samtycke.sessionmaker"]) as session:
            done = webhooks.notify_expired(session, actor, now=utcnow(), limit=EXPIRY_BATCH)
        total += done
        if done < EXPIRY_BATCH:
            return total


@shared_task(name="consent.notify_expired")
def notify_expired(period_seconds: float) -> str:
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    return jobs.run_periodic(
        app, "consent.notify_expired", period_seconds, lambda: f"{notify_expired_all(app, 'jobs')} consents notified"
    )


def register(app: Flask) -> None:
    """The periodic entries, for beat."""
    jobs.add_periodic(app, "consent.sweep_webhooks", "consent.sweep_webhooks", lambda a: a.config["JOBS_SWEEP_SECONDS"])
    jobs.add_periodic(
        app, "consent.notify_expired", "consent.notify_expired", lambda a: a.config["JOBS_NOTIFY_EXPIRED_SECONDS"]
    )
