"""Records: queued in the transaction that changes a consent, produced after it commits.

A consent event (given, refused, withdrawn, revoked; addendum signed or revoked)
appends an audit event; the listener below adds a *pending* record row in that
same transaction, so a signature and its record-to-be are committed together.
Rendering and sealing run after the commit, on a Celery worker (``reports.tasks``): the
message is sent after the commit and a periodic sweep re-sends it for rows nobody picked up.
A worker claims the row for a lease before sealing, so two messages for one record seal it
once. A failure leaves the consent as it is and the record ``failed`` with its reason; it is
tried again automatically with back-off (:data:`BACKOFF`), and after the last automatic try
it waits for ``samtycke records retry`` or the console's retry.
A record's data comes from :mod:`reports.record_data`, its seal from :mod:`reports.keys`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import jobs
from app.audit import AuditEvent
from app.crypto import keyring_of
from app.db import transaction, utcnow
from consent.gdpr import PersonScope
from reports.anchors import checkpoint_after_seal, remember_sealed
from reports.errors import RecordError
from reports.keys import sealer
from reports.models import Record
from reports.record_data import build_context

log = logging.getLogger(__name__)

EVENT_KINDS = {
    "consent.given": "consent_given",
    "consent.refused": "consent_refused",
    "consent.withdrawn": "consent_withdrawn",
    "consent.revoked": "consent_revoked",
    "addendum.signed": "addendum_signed",
    "addendum.revoked": "addendum_revoked",
}
SEAL_TASK = "reports.seal_record"
# Waits after the 1st, 2nd, ... failed attempt; after the last the record stays failed until retried by hand.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)


# --- queueing ----------------------------------------------------------------


def on_audit_event(event: AuditEvent, *, session: Session) -> None:
    kind = EVENT_KINDS.get(event.type)
    if kind is None:
        return
    is_addendum = kind.startswith("addendum_")
    object_id = event.refs.get("addendum_id" if is_addendum else "consent_id")
    if not object_id:
        log.error("audit event %s carries no object id; no record queued", event.type)
        return
    record = Record(
        tenant_id=event.tenant_id,
        kind=kind,
        consent_id=None if is_addendum else object_id,
        addendum_id=object_id if is_addendum else None,
        audit_event_id=event.id,
        audit_event_hash=event.hash,
    )
    session.add(record)
    session.flush()
    _produce_after_commit(session, [record.id])


def _produce_after_commit(session: Session, record_ids: list[str]) -> None:
    for record_id in record_ids:
        jobs.enqueue(session, SEAL_TASK, record_id)


# --- a person's records: their part of the export and of the erasure (``consent.gdpr``) --------


def _records_naming(session: Session, scope: PersonScope) -> list[Record]:
    consent_ids = [*scope.consent_ids, *scope.signed_for]
    if not consent_ids:
        return []
    return list(
        session.scalars(
            sa.select(Record)
            .where(Record.tenant_id == scope.tenant_id, Record.consent_id.in_(consent_ids))
            .order_by(Record.created_at, Record.id)
        )
    )


def sealed_ids(session: Session, *, tenant_id: str, ids: list[str], column: str) -> set[str]:
    """Which of these consents (or addenda, ``column="addendum_id"``) have a sealed record
    (receiver of ``consent.signals.sealed_records``)."""
    target = Record.consent_id if column == "consent_id" else Record.addendum_id
    query = sa.select(target).where(
        Record.tenant_id == tenant_id, target.in_(ids), Record.status == "sealed"
    ).distinct()
    return {str(found) for found in session.scalars(query)}


def export_records(session: Session, *, scope: PersonScope) -> dict[str, Any]:
    """The records that name the person: of their consents, and of those they signed for someone else."""
    return {
        "records": [
            {
                "id": r.id, "kind": r.kind, "consent_id": r.consent_id, "status": r.status,
                "created_at": r.created_at.isoformat(), "sealed_at": r.sealed_at.isoformat() if r.sealed_at else None,
                "sha256": r.sha256,
            }
            for r in _records_naming(session, scope)
        ]
    }


def erase_records(session: Session, *, scope: PersonScope, now: datetime) -> None:
    """The records of the person's own consents go. Those of a consent the person signed for someone
    else stay the other person's record: they are made again from the erased signature, without the
    person's name, number or evidence."""
    own = set(scope.consent_ids)
    records = _records_naming(session, scope)
    for record in records:
        if record.consent_id in own:
            session.delete(record)
        else:
            record.pdf = record.sha256 = record.size = record.pades_level = record.sealed_at = None
            record.status = "pending"
            record.failure_reason = None
            record.claimed_until = record.next_attempt_at = None  # a seal in flight is not stored
    session.flush()
    _produce_after_commit(session, [r.id for r in records if r.consent_id not in own])


# --- producing ---------------------------------------------------------------


@dataclass(frozen=True)
class ProduceResult:
    record_id: str
    status: str  # sealed | failed | pending (claimed by another worker) | missing
    reason: str | None = None
    claimed_until: datetime | None = None


def _claim(app: Flask, record_id: str, *, manual: bool) -> tuple[datetime | None, ProduceResult | None]:
    """Lease the record for this worker: (our lease, None), or (None, why not).

    A pending record is claimed unless another worker holds it; a failed one only when its
    automatic retry is due, or by hand (``manual``). A sealed record is never touched again.
    """
    now = utcnow()
    lease = now + timedelta(seconds=int(app.config.get("JOBS_LEASE_SECONDS") or 120))
    due = sa.or_(Record.status == "pending", Record.next_attempt_at <= now)
    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        claimed = session.execute(
            sa.update(Record)
            .where(
                Record.id == record_id,
                Record.status.in_(["pending", "failed"]),
                sa.or_(Record.claimed_until.is_(None), Record.claimed_until < now),
                *([] if manual else [due]),
            )
            .values(claimed_until=lease)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) == 1:
            return lease, None
        row = session.execute(
            sa.select(Record.status, Record.claimed_until).where(Record.id == record_id)
        ).one_or_none()
    if row is None:
        return None, ProduceResult(record_id, "missing")
    held = row.claimed_until if row.claimed_until is not None and row.claimed_until >= now else None
    return None, ProduceResult(record_id, row.status, claimed_until=held)


def produce(app: Flask, record_id: str, *, manual: bool = False) -> ProduceResult:
    """Render and seal one record in its own transactions, once: never raises for a render/seal
    failure, and does nothing for a record that is sealed or that another worker holds."""
    from reports.render import render_pdf

    factory = app.extensions["samtycke.sessionmaker"]
    with app.app_context():
        lease, skipped = _claim(app, record_id, manual=manual)
        if lease is None:
            assert skipped is not None
            return skipped
        delay = float(app.config.get("JOBS_TEST_SEAL_DELAY") or 0)
        if delay:  # tests only (refused in production): a slow seal, to kill a worker in the middle
            time.sleep(delay)
        with transaction(factory) as session:
            record = session.get(Record, record_id)
            if record is None:
                return ProduceResult(record_id, "missing")
            try:
                ctx = build_context(session, keyring_of(app), record, app.config["BASE_URL"])
            except RecordError as exc:
                return _fail(factory, record_id, lease, str(exc))
            except Exception as exc:  # a bug here must still leave the record visibly failed, not pending
                log.exception("record %s: building its data failed", record_id)
                return _fail(factory, record_id, lease, f"{type(exc).__name__}: {exc}")
        try:
            the_sealer = sealer(app)
            pdf = render_pdf(ctx)
            reason = "Samtycke record" if not ctx.is_addendum else "Samtycke DPA addendum record"
            sealed = the_sealer.seal(pdf, reason=reason, location=ctx.tenant.name)
        except RecordError as exc:
            return _fail(factory, record_id, lease, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug in rendering must not lose the queue entry either
            log.exception("record %s failed", record_id)
            return _fail(factory, record_id, lease, f"{type(exc).__name__}: {exc}")
        now = utcnow()
        with transaction(factory) as session:
            # Stored only while our lease holds: an erasure meanwhile (lease dropped) or a worker
            # that took over after the lease ran out wins, and this seal is thrown away.
            stored = session.execute(
                sa.update(Record)
                .where(Record.id == record_id, Record.claimed_until == lease, Record.status != "sealed")
                .values(
                    pdf=sealed, sha256=hashlib.sha256(sealed).hexdigest(), size=len(sealed),
                    pades_level=the_sealer.level, status="sealed", sealed_at=now, failure_reason=None,
                    attempts=Record.attempts + 1, last_attempt_at=now, claimed_until=None, next_attempt_at=None,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(stored, "rowcount", 0) != 1:
                current = session.scalar(sa.select(Record.status).where(Record.id == record_id))
                log.info("record %s: lease lost while sealing; left as %s", record_id, current)
                return ProduceResult(record_id, current or "missing")
            tenant_id = session.scalar(sa.select(Record.tenant_id).where(Record.id == record_id))
        assert tenant_id is not None
        remember_sealed(app, tenant_id, record_id, sealed, ctx.audit_event_hash)
        # A natural point to anchor the audit chain: the record just sealed holds its event's hash.
        checkpoint_after_seal(app, tenant_id)
    return ProduceResult(record_id, "sealed")


def _fail(factory: Any, record_id: str, lease: datetime, reason: str) -> ProduceResult:
    log.warning("record %s failed: %s", record_id, reason)
    now = utcnow()
    with transaction(factory) as session:
        attempts = session.scalar(
            sa.select(Record.attempts).where(Record.id == record_id, Record.claimed_until == lease)
        )
        if attempts is None:
            return ProduceResult(record_id, "pending", reason)  # the lease was lost meanwhile
        attempts += 1
        session.execute(
            sa.update(Record)
            .where(Record.id == record_id, Record.claimed_until == lease)
            .values(
                status="failed", failure_reason=reason[:2000], attempts=attempts, last_attempt_at=now,
                claimed_until=None,
                next_attempt_at=now + BACKOFF[attempts - 1] if attempts <= len(BACKOFF) else None,
            )
            .execution_options(synchronize_session=False)
        )
    return ProduceResult(record_id, "failed", reason)


def retry(app: Flask, *, include_pending: bool = True, limit: int = 1000) -> list[ProduceResult]:
    """Seal failed (and pending) records now, in this process (``samtycke records retry``)."""
    statuses = ["failed", "pending"] if include_pending else ["failed"]
    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        ids = list(
            session.scalars(
                sa.select(Record.id).where(Record.status.in_(statuses)).order_by(Record.created_at).limit(limit)
            )
        )
    return [produce(app, record_id, manual=True) for record_id in ids]


def queue_failed(session: Session, *, tenant_id: str, now: datetime) -> list[str]:
    """Queue every failed record of the tenant again now (the console's retry): one more
    attempt each; the messages go after the commit."""
    ids = list(
        session.scalars(
            sa.select(Record.id).where(Record.tenant_id == tenant_id, Record.status == "failed").order_by(
                Record.created_at
            )
        )
    )
    if ids:
        session.execute(
            sa.update(Record)
            .where(Record.id.in_(ids), Record.status == "failed")
            .values(status="pending", next_attempt_at=None, nudged_at=now)
            .execution_options(synchronize_session=False)
        )
        _produce_after_commit(session, ids)
    return ids


def due_for_sweep(session: Session, *, now: datetime, grace: timedelta, renudge: timedelta,
                  limit: int = 1000) -> list[str]:
    """Records whose message was never worked (pending past the grace) or whose retry is due,
    that nobody holds and that the sweep has not nudged lately."""
    return list(
        session.scalars(
            sa.select(Record.id)
            .where(
                sa.or_(
                    sa.and_(Record.status == "pending", Record.created_at <= now - grace),
                    sa.and_(Record.status == "failed", Record.next_attempt_at <= now),
                ),
                sa.or_(Record.claimed_until.is_(None), Record.claimed_until < now),
                sa.or_(Record.nudged_at.is_(None), Record.nudged_at <= now - renudge),
            )
            .order_by(Record.created_at)
            .limit(limit)
        )
    )


def queue_status(session: Session, *, tenant_id: str | None, now: datetime) -> list[jobs.QueueStatus]:
    """Receiver of ``app.signals.job_queues``: records waiting to be sealed, and failed."""
    where = [Record.tenant_id == tenant_id] if tenant_id else []
    pending, oldest = session.execute(
        sa.select(sa.func.count(), sa.func.min(Record.created_at)).where(Record.status == "pending", *where)
    ).one()
    failed, retrying = session.execute(
        sa.select(sa.func.count(), sa.func.count(Record.next_attempt_at)).where(Record.status == "failed", *where)
    ).one()
    return [
        jobs.QueueStatus(
            kind="records", label=_l("PDF records"), pending=int(pending), failed=int(failed), retrying=int(retrying),
            oldest_pending_seconds=(now - oldest).total_seconds() if oldest is not None else None,
        )
    ]


# --- reading -----------------------------------------------------------------


def latest_sealed(
    session: Session,
    tenant_id: str,
    *,
    consent_id: str | None = None,
    addendum_id: str | None = None,
    kind: str | None = None,
) -> Record | None:
    query = sa.select(Record).where(Record.tenant_id == tenant_id, Record.status == "sealed")
    if consent_id is not None:
        query = query.where(Record.consent_id == consent_id)
    if addendum_id is not None:
        query = query.where(Record.addendum_id == addendum_id)
    if kind is not None:
        query = query.where(Record.kind == kind)
    return session.scalar(query.order_by(Record.sealed_at.desc()).limit(1).options(sa.orm.undefer(Record.pdf)))


def records_of(
    session: Session, *, tenant_id: str, consent_ids: Sequence[str] = (), addendum_ids: Sequence[str] = ()
) -> list[Record]:
    """The records of these consents and addenda, oldest first: the answer to the consent pages'
    ``consent.console.records.records_listed`` (connected in ``create_app``)."""
    if not consent_ids and not addendum_ids:
        return []
    query = sa.select(Record).where(
        Record.tenant_id == tenant_id,
        sa.or_(Record.consent_id.in_(list(consent_ids)), Record.addendum_id.in_(list(addendum_ids))),
    )
    return list(session.scalars(query.order_by(Record.created_at)))


def failed_records(session: Session, tenant_id: str, limit: int = 100) -> list[Record]:
    return list(
        session.scalars(
            sa.select(Record)
            .where(Record.tenant_id == tenant_id, Record.status == "failed")
            .order_by(Record.created_at.desc())
            .limit(limit)
        )
    )
