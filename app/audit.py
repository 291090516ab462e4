"""The tamper-evident audit log: one hash chain per tenant.

``hash = sha256(prev_hash || canonical JSON of the event)``. Events carry ids and
hashes only, never personal data, so erasing a person never breaks the chain.
The head (last seq and hash) lives on the tenant row: appending locks that row,
which serialises concurrent writers, and a deleted tail shows up as a mismatch.

Lock order. Every transaction that changes a tenant's data takes that tenant's
row first (:func:`lock_tenant`, before it reads what it decides on), then the
consent or addendum, then the signer, then the signature order. Writers in one
tenant therefore queue on one row instead of meeting in opposite orders, and a
decision is taken on state read under the lock. A transaction that writes a
single row and nothing else (a BankID hint, a record being sealed, a webhook
claim) may skip it: holding one lock, it cannot close a cycle. Several tenants
(a staff e-mail in two of them, the expiry sweep) are locked in ascending id order.

Reading the log as stored is :mod:`app.audit_queries`; verifying the chain against its
anchors is :mod:`app.audit_verify`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from app import signals
from app.db import Base, new_id, utcnow
from app.models import Tenant

GENESIS = "0" * 64


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


def lock_tenant(session: Session, tenant_id: str) -> None:
    """Take the tenant's write lock: the first lock of a transaction that changes its data.

    PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` on the tenant row. It excludes the
    other writers of the tenant but not the ``FOR KEY SHARE`` locks that inserting a
    row referencing the tenant takes, so a transaction that already inserted can
    still take it (``FOR UPDATE`` conflicts with those: two inserters each waiting
    for the other's key share to go, a deadlock).

    SQLite has no row locks: a no-op ``UPDATE`` of the tenant row takes the database
    write lock, waiting up to ``busy_timeout``. pysqlite opens the transaction only
    before the first write, so whatever the caller read before this call was read
    outside it and may be stale: read again after it (``populate_existing``).

    Taking it again in the same transaction is harmless.
    """
    _locked_head(session, tenant_id)


def _locked_head(session: Session, tenant_id: str) -> tuple[int, str]:
    """Lock the tenant row and read the chain's head (seq, hash) under the lock."""
    head = sa.select(Tenant.audit_seq, Tenant.audit_head).where(Tenant.id == tenant_id)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            sa.update(Tenant)
            .where(Tenant.id == tenant_id)
            .values(audit_seq=Tenant.audit_seq)
            .execution_options(synchronize_session=False)
        )
    else:
        head = head.with_for_update(key_share=True)
    seq, digest = session.execute(head).one()
    return int(seq), str(digest)


def append(
    session: Session, tenant_id: str, type_: str, actor: str, refs: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event in the caller's transaction. ``refs`` must hold ids and hashes only."""
    refs = dict(refs or {})
    last_seq, prev_hash = _locked_head(session, tenant_id)
    at = utcnow()
    seq = last_seq + 1
    digest = chain_hash(prev_hash, canonical(tenant_id, seq, at, type_, actor, refs))
    event = AuditEvent(
        tenant_id=tenant_id, seq=seq, at=at, type=type_, actor=actor, refs=refs,
        prev_hash=prev_hash, hash=digest,
    )
    session.execute(
        sa.update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(audit_seq=seq, audit_head=digest)
        .execution_options(synchronize_session="evaluate")
    )
    session.add(event)
    session.flush()
    signals.audit_appended.send(event, session=session)
    return event
