"""Records: queued in the transaction that changes a consent, produced after it commits.

A consent event (given, refused, withdrawn, revoked; addendum signed or revoked)
appends an audit event; the listener below adds a *pending* record row in that
same transaction, so a signature and its record-to-be are committed together.
Rendering and sealing run after the commit; a failure leaves the consent as it
is and the record ``failed`` with its reason, for ``samtycke records retry``.
A record's data comes from :mod:`reports.record_data`, its seal from :mod:`reports.keys`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from app.audit import AuditEvent
from app.crypto import keyring_of
from app.db import after_commit, transaction, utcnow
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
    if record_ids and has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        after_commit(session, lambda: [produce(app, record_id) for record_id in record_ids])


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
    session.flush()
    _produce_after_commit(session, [r.id for r in records if r.consent_id not in own])


# --- producing ---------------------------------------------------------------


@dataclass(frozen=True)
class ProduceResult:
    record_id: str
    status: str
    reason: str | None = None


def produce(app: Flask, record_id: str) -> ProduceResult:
    """Render and seal one record in its own transactions; never raises for a render/seal failure."""
    from reports.render import render_pdf

    factory = app.extensions["samtycke.sessionmaker"]
    with app.app_context():
        with transaction(factory) as session:
            record = session.get(Record, record_id)
            if record is None or record.status == "sealed":
                return ProduceResult(record_id, record.status if record else "missing")
            try:
                ctx = build_context(session, keyring_of(app), record, app.config["BASE_URL"])
            except RecordError as exc:
                return _fail(factory, record_id, str(exc))
            except Exception as exc:  # a bug here must still leave the record visibly failed, not pending
                log.exception("record %s: building its data failed", record_id)
                return _fail(factory, record_id, f"{type(exc).__name__}: {exc}")
        try:
            the_sealer = sealer(app)
            pdf = render_pdf(ctx)
            reason = "Samtycke record" if not ctx.is_addendum else "Samtycke DPA addendum record"
            sealed = the_sealer.seal(pdf, reason=reason, location=ctx.tenant.name)
        except RecordError as exc:
            return _fail(factory, record_id, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug in rendering must not lose the queue entry either
            log.exception("record %s failed", record_id)
            return _fail(factory, record_id, f"{type(exc).__name__}: {exc}")
        with transaction(factory) as session:
            record = session.get(Record, record_id)
            if record is None:
                return ProduceResult(record_id, "missing")
            record.pdf = sealed
            record.sha256 = hashlib.sha256(sealed).hexdigest()
            record.size = len(sealed)
            record.pades_level = the_sealer.level
            record.status = "sealed"
            record.sealed_at = utcnow()
            record.failure_reason = None
            record.attempts += 1
            record.last_attempt_at = utcnow()
            tenant_id = record.tenant_id
        remember_sealed(app, tenant_id, record_id, sealed, ctx.audit_event_hash)
        # A natural point to anchor the audit chain: the record just sealed holds its event's hash.
        checkpoint_after_seal(app, tenant_id)
    return ProduceResult(record_id, "sealed")


def _fail(factory: Any, record_id: str, reason: str) -> ProduceResult:
    log.warning("record %s failed: %s", record_id, reason)
    with transaction(factory) as session:
        record = session.get(Record, record_id)
        if record is not None:
            record.status = "failed"
            record.failure_reason = reason[:2000]
            record.attempts += 1
            record.last_attempt_at = utcnow()
    return ProduceResult(record_id, "failed", reason)


def retry(app: Flask, *, include_pending: bool = True, limit: int = 1000) -> list[ProduceResult]:
    statuses = ["failed", "pending"] if include_pending else ["failed"]
    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        ids = list(
            session.scalars(
                sa.select(Record.id).where(Record.status.in_(statuses)).order_by(Record.created_at).limit(limit)
            )
        )
    return [produce(app, record_id) for record_id in ids]


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
