"""The records domain's background work (Celery tasks, ``app.jobs``).

``reports.seal_record`` renders and seals one record; a record another worker holds is tried
again when that worker's lease ends (a worker that died mid-seal is replaced). The sweep
re-sends the message of records nobody picked up and of failed ones whose retry is due; the
audit checkpoint signs each tenant's chain head every ``AUDIT_CHECKPOINT_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from flask import Flask, current_app
from sqlalchemy.exc import DBAPIError

from app import jobs
from app.db import transaction, utcnow
from reports import services

# A database that went away is waited for; everything else is the record's own failure.
_INFRASTRUCTURE = (DBAPIError,)


@shared_task(
    name=services.SEAL_TASK, bind=True, autoretry_for=_INFRASTRUCTURE, retry_backoff=5, retry_backoff_max=600,
    retry_jitter=True, max_retries=20,
)
def seal_record(self: Any, record_id: str) -> str:
    result = services.produce(current_app._get_current_object(), record_id)  # type: ignore[attr-defined]
    if result.status == "pending" and result.claimed_until is not None and not self.request.is_eager:
        # Another worker holds it: look again once its lease has run out (it may have died).
        wait = (result.claimed_until - utcnow()).total_seconds() + 1
        raise self.retry(countdown=max(1.0, wait), max_retries=None)
    return result.status


def sweep(app: Flask) -> str:
    from reports.models import Record

    # The job_runs of past periods are pruned with the records' sweep (once per period, any beat).
    return jobs.sweep(
        app, model=Record, due=services.due_for_sweep, task=services.SEAL_TASK,
        also=lambda session, now: jobs.prune_runs(session, now=now),
    )


@shared_task(name="reports.sweep_records")
def sweep_records(period_seconds: float) -> str:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return jobs.run_periodic(app, "reports.sweep_records", period_seconds, lambda: sweep(app))


def checkpoint(app: Flask) -> str:
    from reports import anchors

    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        results = anchors.checkpoint_tenants(session, anchors.anchoring(app), None)
    counts: dict[str, int] = {}
    for made in results.values():
        counts[made.status] = counts.get(made.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no tenants"


@shared_task(name="reports.audit_checkpoint")
def audit_checkpoint(period_seconds: float) -> str:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return jobs.run_periodic(app, "reports.audit_checkpoint", period_seconds, lambda: checkpoint(app))


def register(app: Flask) -> None:
    """The periodic entries, for beat."""
    jobs.add_periodic(app, "reports.sweep_records", "reports.sweep_records", lambda a: a.config["JOBS_SWEEP_SECONDS"])
    jobs.add_periodic(
        app, "reports.audit_checkpoint", "reports.audit_checkpoint", lambda a: a.config["AUDIT_CHECKPOINT_SECONDS"]
    )
