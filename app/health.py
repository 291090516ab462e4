"""Liveness with a database check, for load balancers and the DAM; and the queue of background
work for operators (``/healthz/queue``)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify

from app.errors import problem

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    if ping_database(current_app):
        return jsonify(status="ok", db="ok")
    return problem(503, "Service unavailable", "The database does not answer.", db="unavailable")


def ping_database(app: Flask) -> bool:
    try:
        with app.extensions["samtycke.engine"].connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


@blueprint.get("/healthz/queue")
def queue() -> Response:
    """Background work waiting, for the whole service: counts and ages only (no tenant, no id),
    so a monitoring system can alert on a growing queue or a stuck periodic job."""
    from sqlalchemy.exc import DBAPIError

    from app import jobs
    from app.db import transaction, utcnow

    try:
        with transaction(current_app.extensions["samtycke.sessionmaker"]) as session:
            now = utcnow()
            queues = [q.as_dict() for q in jobs.queue_status(session, tenant_id=None, now=now)]
            runs = jobs.last_runs(session)
    except DBAPIError:
        return problem(503, "Service unavailable", "The database does not answer.", db="unavailable")
    periodic = {
        job: {"every_seconds": seconds, **(runs.get(job) or {"period_start": None, "finished_at": None,
                                                            "outcome": None})}
        for job, _task, seconds in jobs.periodic_jobs(current_app)
    }
    return jsonify(status="ok", at=now.isoformat(), broker=jobs.broker_kind(current_app), queues=queues,
                   periodic=periodic)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
