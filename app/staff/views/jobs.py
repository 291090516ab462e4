"""The dashboard's section on background work (the tenant's queue of records and webhook
deliveries), and its button that queues the failed ones once more."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, url_for
from flask_babel import ngettext
from sqlalchemy.orm import Session

from app import jobs, signals
from app.db import get_session, utcnow
from app.staff import sessions
from app.staff.blueprint import bp
from app.staff.permissions import authorize


def section(session: Session, tenant_id: str, now: datetime) -> list[jobs.QueueStatus]:
    """The dashboard section's data: each kind of background work of this tenant."""
    return jobs.queue_status(session, tenant_id=tenant_id, now=now)


@bp.post("/console/jobs/retry", endpoint="jobs_retry")
def retry() -> Any:
    staff = sessions.staff()
    authorize(staff.role, "jobs.retry")
    queued = 0
    for _receiver, ids in signals.retry_failed_jobs.send(get_session(), tenant_id=staff.tenant_id, now=utcnow()):
        queued += len(ids or [])
    flash(ngettext("%(num)d failed item queued again.", "%(num)d failed items queued again.", queued), "ok")
    return redirect(url_for("console.home"))
