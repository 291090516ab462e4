"""Background work: the one Celery application, configured from the Flask app's config alone.

The database row is the truth and the message only a nudge. Whatever causes background work
writes its row in its own transaction (a pending record, a webhook delivery); :func:`enqueue`
sends the message only after that commit, never blocking the request for long (a short
publish timeout) and never failing it: a message that could not be sent is logged, and the
periodic sweep of each domain re-enqueues rows nobody picked up. A broker that is down at
commit time therefore delays work and loses none. Tasks are idempotent: each claims its row
(a lease) before working, so a second message for the same row changes nothing.

Tasks live in their domains (``reports.tasks``, ``consent.tasks``) as ``shared_task``s and are
bound to this app when ``create_app`` imports them; their periodic entries are added with
:func:`add_periodic`. Each periodic run first claims ``(job, period)`` in ``job_runs``
(:func:`claim_period`), so however many beats are started, a job runs once per period.

Brokers: ``SAMTYCKE_BROKER_URL`` (``redis://…`` or ``amqp://…``) in production; without one, the
embedded ``filesystem://`` transport under ``instance/broker`` on one machine, worked by the
worker that ``samtycke serve`` starts beside gunicorn. In tests (``JOBS_EAGER``) each task runs
in the committing process right after the commit.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import after_commit, transaction, utcnow

log = logging.getLogger(__name__)

_KEY = "samtycke.jobs"
_PERIODIC = "samtycke.jobs.periodic"


class FlaskTask(Task):  # type: ignore[misc]
    """Every task runs inside its Flask app's context (config, sessionmaker, keyring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.app.flask_app.app_context():
            return self.run(*args, **kwargs)


def broker_folder(instance_path: str) -> Path:
    return Path(instance_path) / "broker"


def celery_settings(config: dict[str, Any], instance_path: str) -> dict[str, Any]:
    """Celery's settings, derived from the service's configuration (``app.config``) only."""
    queue = str(config.get("JOBS_QUEUE") or "samtycke")
    publish_timeout = float(config.get("JOBS_PUBLISH_TIMEOUT") or 2.0)
    settings: dict[str, Any] = {
        "task_default_queue": queue,
        "task_default_exchange": queue,
        "task_default_routing_key": queue,
        # The row in the database says how the work went; nobody reads results.
        "task_ignore_result": True,
        "result_backend": None,
        # A task is acknowledged when it has finished, so a worker that dies mid-task leaves the
        # message to be delivered again (the row's lease decides who works on it).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # WeasyPrint's memory grows over many records: a child process is replaced now and then.
        "worker_max_tasks_per_child": 200,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "broker_connection_retry_on_startup": True,
        # Publishing from a web request: give up soon and leave the row to the sweep.
        "broker_connection_timeout": publish_timeout,
        "broker_connection_max_retries": 0,
        "task_publish_retry": False,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": {},
    }
    url = config.get("BROKER_URL")
    if url:
        settings["broker_url"] = url
        if str(url).startswith(("redis://", "rediss://")):
            visibility = int(config.get("JOBS_VISIBILITY_TIMEOUT") or 3600)
            settings["broker_transport_options"] = {
                "visibility_timeout": visibility,
                # Look for messages of dead workers every few seconds (kombu's default: ~100 s), so
                # one is redelivered soon after its visibility timeout.
                "unacked_restore_interval": min(10, max(1, visibility // 2)),
                "unacked_restore_throttle": 1,
                "socket_connect_timeout": publish_timeout,
                "socket_timeout": max(publish_timeout, 5.0),
                "retry_on_timeout": False,
                "max_retries": 0,
            }
    else:
        # Folders, not a database: the embedded default needs no server, and the broker's writes
        # never wait on the application's SQLite write lock.
        folder = broker_folder(instance_path)
        for part in ("queue", "processed", "control"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        settings["broker_url"] = "filesystem://"
        settings["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        # The filesystem transport has no fan-out for remote control worth having on one machine.
        settings["worker_enable_remote_control"] = False
    if config.get("JOBS_EAGER"):
        settings["task_always_eager"] = True
        settings["task_eager_propagates"] = True
    return settings


def init_app(app: Flask) -> Celery:
    """The Celery application of this Flask app (``app.extensions["samtycke.jobs"]``)."""
    celery = Celery(app.import_name, task_cls=FlaskTask, set_as_current=False)
    celery.config_from_object(celery_settings(app.config, app.instance_path))
    celery.flask_app = app  # type: ignore[attr-defined]
    app.extensions[_KEY] = celery
    app.extensions[_PERIODIC] = []
    return celery


def celery_app(app: Flask) -> Celery:
    celery: Celery = app.extensions[_KEY]
    return celery


def add_periodic(app: Flask, job: str, task: str, every: Callable[[Flask], float]) -> None:
    """A periodic task for beat, run every ``every(app)`` seconds (each run claims its period)."""
    seconds = float(every(app))
    celery = celery_app(app)
    celery.conf.beat_schedule[job] = {"task": task, "schedule": seconds, "kwargs": {"period_seconds": seconds}}
    app.extensions[_PERIODIC].append((job, task, seconds))


def periodic_jobs(app: Flask) -> list[tuple[str, str, float]]:
    return list(app.extensions.get(_PERIODIC, []))


# --- sending ----------------------------------------------------------------------


# After a failed publish this process leaves the broker alone for a while: a commit that
# queues a record and several webhooks must not wait one publish timeout for each.
BROKER_BACKOFF_SECONDS = 10.0


def send(app: Flask, task: str, *args: Any) -> bool:
    """Hand one message to the broker now; False (logged) when it cannot take it."""
    celery = celery_app(app)
    down_until = getattr(celery, "samtycke_broker_down_until", 0.0)
    if down_until > time.monotonic():
        log.info("broker recently unreachable; %s%r is left to the sweep", task, args)
        return False
    try:
        celery.tasks[task].apply_async(args=args, retry=False)
        return True
    except Exception as exc:  # broker down or slow: the row waits for the sweep
        if celery.conf.task_always_eager:
            raise  # tests: a task's own failure must surface
        celery.samtycke_broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS  # type: ignore[attr-defined]
        log.warning("could not enqueue %s%r (%s: %s); the sweep will send it", task, args, type(exc).__name__, exc)
        return False


def enqueue(session: Session, task: str, *args: Any) -> None:
    """Send ``task(*args)`` once ``session`` has committed the row it works on.

    Without an app context (a bare script) nothing is sent; the sweep finds the row.
    """
    if not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    after_commit(session, lambda: send(app, task, *args))


# --- periodic runs, once per period -----------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def period_start(now: datetime, seconds: float) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    step = max(1, int(seconds))
    elapsed = int((now - epoch).total_seconds())
    return epoch + timedelta(seconds=elapsed - elapsed % step)


def claim_period(app: Flask, job: str, seconds: float, now: datetime | None = None) -> datetime | None:
    """Claim this period's run of ``job``: its start when ours, None when another process has it."""
    from app.models import JobRun

    start = period_start(now or utcnow(), seconds)
    try:
        with transaction(app.extensions["samtycke.sessionmaker"]) as session:
            session.add(JobRun(job=job, period_start=start, worker=worker_name()))
            session.flush()
    except IntegrityError:
        return None
    return start


def finish_period(app: Flask, job: str, start: datetime, outcome: str) -> None:
    from app.models import JobRun

    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        run = session.get(JobRun, (job, start))
        if run is not None:
            run.finished_at = utcnow()
            run.outcome = outcome[:500]


def run_periodic(app: Flask, job: str, seconds: float, work: Callable[[], str]) -> str:
    """Run ``work`` when this process claims the period; its outcome is kept on the run's row."""
    start = claim_period(app, job, seconds)
    if start is None:
        return "already run this period"
    try:
        outcome = work()
    except Exception as exc:
        finish_period(app, job, start, f"failed: {type(exc).__name__}: {exc}")
        raise
    finish_period(app, job, start, outcome)
    return outcome


# (session, now=, grace=, renudge=) -> ids of the rows a sweep should nudge
DueRows = Callable[..., list[str]]


def sweep(
    app: Flask, *, model: Any, due: DueRows, task: str, also: Callable[[Session, datetime], Any] | None = None
) -> str:
    """One kind of row's sweep: re-send the message of rows nobody picked up.

    ``due`` selects them (pending past ``JOBS_SWEEP_GRACE_SECONDS``, not nudged within ``renudge``);
    they are marked ``nudged_at`` in the same transaction, so the next sweep leaves them alone while
    this message may still be worked, and the messages go after the commit. ``also`` runs in that
    transaction (housekeeping of the same period)."""
    now = utcnow()
    grace = timedelta(seconds=int(app.config["JOBS_SWEEP_GRACE_SECONDS"]))
    renudge = max(timedelta(seconds=int(app.config["JOBS_LEASE_SECONDS"])), 10 * grace)
    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        ids = due(session, now=now, grace=grace, renudge=renudge)
        if ids:
            session.execute(
                sa.update(model).where(model.id.in_(ids)).values(nudged_at=now)
                .execution_options(synchronize_session=False)
            )
        if also is not None:
            also(session, now)
    sent = sum(1 for row_id in ids if send(app, task, row_id))
    return f"{sent} of {len(ids)} {model.__tablename__.replace('_', ' ')} re-sent"


def prune_runs(session: Session, *, now: datetime, keep: timedelta = timedelta(days=7)) -> int:
    from app.models import JobRun

    result = session.execute(sa.delete(JobRun).where(JobRun.period_start < now - keep))
    return int(getattr(result, "rowcount", 0) or 0)


# --- what is waiting ----------------------------------------------------------------


@dataclass(frozen=True)
class QueueStatus:
    """One kind of background work: rows waiting, the oldest one's age, rows failed for good."""

    kind: str
    pending: int
    oldest_pending_seconds: float | None
    failed: int
    retrying: int = 0
    label: Any = None  # the console's name for this kind of work (translated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "pending": self.pending, "retrying": self.retrying, "failed": self.failed,
            "oldest_pending_seconds": None if self.oldest_pending_seconds is None
            else round(self.oldest_pending_seconds, 1),
        }


def queue_status(session: Session, *, tenant_id: str | None, now: datetime) -> list[QueueStatus]:
    """Every domain's answer to ``app.signals.job_queues`` (the whole service, or one tenant)."""
    from app import signals

    found: list[QueueStatus] = []
    for _receiver, answer in signals.job_queues.send(session, tenant_id=tenant_id, now=now):
        found.extend(answer or [])
    return found


def last_runs(session: Session) -> dict[str, dict[str, Any]]:
    """The latest run of each periodic job."""
    from app.models import JobRun

    latest = (
        sa.select(JobRun.job, sa.func.max(JobRun.period_start).label("period_start")).group_by(JobRun.job).subquery()
    )
    rows = session.execute(
        sa.select(JobRun).join(
            latest, sa.and_(JobRun.job == latest.c.job, JobRun.period_start == latest.c.period_start)
        )
    ).scalars()
    return {
        r.job: {
            "period_start": r.period_start.isoformat(), "finished_at": r.finished_at.isoformat()
            if r.finished_at else None, "outcome": r.outcome,
        }
        for r in rows
    }


def broker_kind(app: Flask) -> str:
    """The broker's scheme only (its URL may hold a password)."""
    url = str(app.config.get("BROKER_URL") or "")
    return url.split(":", 1)[0] if url else "embedded"


# --- worker processes ----------------------------------------------------------------


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked worker child must not share its parent's database connections."""
    from celery import current_app as current_celery

    app = getattr(current_celery, "flask_app", None)
    if app is not None:
        app.extensions["samtycke.engine"].dispose(close=False)


def worker_argv(
    app: Flask, *, concurrency: int | None, beat: bool, loglevel: str = "INFO", hostname: str | None = None
) -> list[str]:
    argv = [
        "worker", f"--loglevel={loglevel}", "--without-gossip", "--without-mingle",
        f"--hostname={hostname or f'samtycke-{os.getpid()}@%h'}",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if beat:
        # Beat keeps its schedule in memory: each run claims its period in the database, which is
        # what keeps several beats (or a restarted one) from running a job twice.
        argv += ["--beat", "--scheduler=celery.beat:Scheduler"]
    return argv


def run_worker(app: Flask, *, concurrency: int | None = None, beat: bool = False, hostname: str | None = None) -> None:
    """Work the queue in this process (with its prefork children) until stopped."""
    celery = celery_app(app)
    celery.set_current()
    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # a line per stylesheet per record otherwise
    celery.worker_main(argv=worker_argv(app, concurrency=concurrency, beat=beat, hostname=hostname))
