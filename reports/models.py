"""Stored records: one sealed PDF per consent event, fetched only through authorised endpoints."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, new_id, utcnow


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (
        sa.Index("ix_records_tenant_consent", "tenant_id", "consent_id"),
        sa.Index("ix_records_tenant_addendum", "tenant_id", "addendum_id"),
        sa.Index("ix_records_status", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    consent_id: Mapped[str | None] = mapped_column(sa.ForeignKey("consents.id", ondelete="CASCADE"), default=None)
    addendum_id: Mapped[str | None] = mapped_column(sa.ForeignKey("addenda.id", ondelete="CASCADE"), default=None)
    audit_event_id: Mapped[str] = mapped_column(sa.String(36))
    audit_event_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")  # pending | sealed | failed
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, default=None, deferred=True)
    sha256: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    size: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    pades_level: Mapped[str | None] = mapped_column(sa.String(8), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sealed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    # A worker sealing the record holds it until then (``reports.tasks``): a second message for the
    # same record waits, and a worker that died mid-seal is replaced once the lease ends.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    # A failed record is tried again automatically from then (back-off); None: no automatic retry left.
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the sweep last re-sent its message: a backlog is nudged again only after a while.
    nudged_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditCheckpoint(Base):
    """A signed checkpoint of a tenant's audit chain head: ``payload`` is the exact JSON that
    was signed (tenant, seq, head hash, time), ``signature`` a detached CMS by the seal key
    with an RFC 3161 timestamp. The same pair is appended to a file outside the database,
    which is what someone with database access alone cannot rewind."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (sa.Index("ix_audit_checkpoints_tenant_seq", "tenant_id", "seq"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    payload: Mapped[str] = mapped_column(sa.Text)
    signature: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
