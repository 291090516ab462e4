"""Webhook subscriptions, their outbox of deliveries, and the consents already announced as expired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, new_id, utcnow

TENANT_FK = "tenants.id"


class Webhook(Base):
    """An endpoint of the tenant's DAM and the events it wants; the signing secret is encrypted."""

    __tablename__ = "webhooks"
    __table_args__ = (sa.Index("ix_webhooks_tenant", "tenant_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[Any]] = mapped_column()
    description: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    # AES-GCM with the tenant id as associated data: we need the secret back to sign.
    secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook: written in the event's transaction (the outbox), sent after commit."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    webhook_id: Mapped[str] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    audit_event_id: Mapped[str] = mapped_column(sa.String(36))
    # The exact JSON body, kept as text so every retry sends (and signs) the same bytes.
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the sweep last re-sent its message (``consent.tasks``): a backlog is nudged again only after a while.
    nudged_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookExpiryMark(Base):
    """A given consent whose end has been announced (``consent.expired``), so it is announced once."""

    __tablename__ = "webhook_expiry_marks"

    consent_id: Mapped[str] = mapped_column(sa.ForeignKey("consents.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    valid_until: Mapped[datetime] = mapped_column()
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)
