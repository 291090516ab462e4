"""The tamper-evident audit log: one hash chain per tenant.

``hash = sha256(prev_hash || canonical JSON of the event)``. Events carry ids and
hashes only, never personal data, so erasing a person never breaks the chain.
The head (last seq and hash) lives on the tenant row: appending locks that row,
which serialises concurrent writers, and a deleted tail shows up as a mismatch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, new_id, utcnow
from app.models import Tenant

GENESIS = "0" * 64

# Called inside the same transaction for every appended event, e.g. by the records
# domain to queue a PDF record for consent.given. Listeners must only add rows.
listeners: list[Callable[[Session, AuditEvent], None]] = []


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "seq"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column()
    type: Mapped[str] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(120))
    refs: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


def canonical(tenant_id: str, seq: int, at: datetime, type_: str, actor: str, refs: dict[str, Any]) -> bytes:
    body = {
        "tenant_id": tenant_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "type": type_,
        "actor": actor,
        "refs": refs,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()


def append(
    session: Session, tenant_id: str, type_: str, actor: str, refs: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event in the caller's transaction. ``refs`` must hold ids and hashes only."""
    refs = dict(refs or {})
    tenant = session.execute(
        sa.select(Tenant).where(Tenant.id == tenant_id).with_for_update()
    ).scalar_one()
    # Refresh the head under the lock: a concurrent writer may have moved it.
    session.refresh(tenant, ["audit_seq", "audit_head"])
    at = utcnow()
    seq = tenant.audit_seq + 1
    digest = chain_hash(tenant.audit_head, canonical(tenant_id, seq, at, type_, actor, refs))
    event = AuditEvent(
        tenant_id=tenant_id, seq=seq, at=at, type=type_, actor=actor, refs=refs,
        prev_hash=tenant.audit_head, hash=digest,
    )
    tenant.audit_seq = seq
    tenant.audit_head = digest
    session.add(event)
    session.flush()
    for listener in listeners:
        listener(session, event)
    return event


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None = None


def verify(session: Session, tenant_id: str) -> ChainVerification:
    """Walk the chain; name the first sequence number where it breaks."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(tenant_id)
    rows = session.execute(
        sa.select(
            AuditEvent.seq, AuditEvent.at, AuditEvent.type, AuditEvent.actor, AuditEvent.refs,
            AuditEvent.prev_hash, AuditEvent.hash,
        )
        .where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.seq)
    )
    prev = GENESIS
    expected_seq = 1
    count = 0
    for seq, at, type_, actor, refs, prev_hash, digest in rows:
        if seq != expected_seq or prev_hash != prev:
            # A gap or a changed link: deleted, inserted or reordered rows.
            return ChainVerification(False, count, prev, first_bad_seq=min(seq, expected_seq))
        if chain_hash(prev, canonical(tenant_id, seq, at, type_, actor, refs)) != digest:
            return ChainVerification(False, count, prev, first_bad_seq=seq)
        prev = digest
        expected_seq += 1
        count += 1
    if tenant.audit_seq != count or tenant.audit_head != prev:
        # Rows missing from the tail: the head on the tenant row still remembers them.
        return ChainVerification(False, count, prev, first_bad_seq=count + 1)
    return ChainVerification(True, count, prev)


def list_events(session: Session, tenant_id: str, *, after_seq: int = 0, limit: int = 100) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq > after_seq)
            .order_by(AuditEvent.seq)
            .limit(limit)
        )
    )


def events_referring(session: Session, tenant_id: str, key: str, value: str, limit: int = 200) -> list[AuditEvent]:
    """Events whose refs name an object (for a person's or consent's trail); filtered in Python
    because JSON containment differs between SQLite and PostgreSQL."""
    events = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq.desc())
    )
    found: list[AuditEvent] = []
    for event in events:
        if event.refs.get(key) == value or value in (event.refs.get(key + "s") or []):
            found.append(event)
            if len(found) >= limit:
                break
    return found
