"""Signature orders: one signer's attempt to sign, by BankID or an OpenID Provider.

A signer may start several attempts (a new one cancels the previous live one);
at most one of them ends ``complete`` and leads to the one ``Signature`` of the
consent core. Secrets handed to us by BankID or made for the OIDC round trip
(``qrStartSecret``, the autostart token, the PKCE verifier) are encrypted with
the Keyring and never leave the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, guarded_by_status, new_id, utcnow

METHODS = ("bankid", "oidc")
DEVICES = ("same", "other")
STATUSES = ("pending", "complete", "failed", "cancelled")


class SignatureOrder(Base):
    __tablename__ = "signature_orders"
    __table_args__ = (
        # "The live order of this signer" and "the latest attempt" are the hot look-ups.
        sa.Index("ix_signature_orders_signer_status", "signer_id", "status"),
        sa.Index("ix_signature_orders_signer_started", "signer_id", "started_at"),
        sa.UniqueConstraint("order_ref"),
        sa.UniqueConstraint("oidc_state"),
        sa.CheckConstraint("method IN ('bankid', 'oidc')", name="method"),
        sa.CheckConstraint("status IN ('pending', 'complete', 'failed', 'cancelled')", name="status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    signer_id: Mapped[str] = mapped_column(sa.ForeignKey("signers.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(sa.String(8))
    # "bankid", or the configured name of the OpenID Provider.
    provider: Mapped[str] = mapped_column(sa.String(64))
    device: Mapped[str | None] = mapped_column(sa.String(8), default=None)  # BankID: same | other
    # The browser was a phone or tablet: decides the universal link and BankID's A/B texts.
    mobile: Mapped[bool] = mapped_column(default=False)

    # What is being signed, fixed when the attempt starts: in the language the person read it in.
    purposes: Mapped[list[Any]] = mapped_column()
    locale: Mapped[str] = mapped_column(sa.String(5))
    visible_text: Mapped[str] = mapped_column(sa.Text)
    visible_sha256: Mapped[str] = mapped_column(sa.String(64))

    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    __mapper_args__ = guarded_by_status(status)
    # The last hint code from collect (cached, so pages may poll faster than BankID is asked).
    hint_code: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    # Why a failed attempt failed: a BankID hint/error code, an OAuth error, "wrongPerson", ...
    failure_code: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    # Consecutive collect calls that got an error instead of an answer.
    collect_errors: Mapped[int] = mapped_column(sa.Integer, default=0)

    # BankID
    order_ref: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    auto_start_token_enc: Mapped[str | None] = mapped_column(sa.Text, default=None)
    qr_start_token: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    qr_start_secret_enc: Mapped[str | None] = mapped_column(sa.Text, default=None)
    end_user_ip: Mapped[str | None] = mapped_column(sa.String(64), default=None)

    # OpenID Connect
    oidc_state: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    oidc_nonce: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    oidc_code_verifier_enc: Mapped[str | None] = mapped_column(sa.Text, default=None)

    started_at: Mapped[datetime] = mapped_column()
    # Wall-clock insertion time: orders the attempts even when two start within the same clock tick.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_collect_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    signature_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("signatures.id", ondelete="SET NULL"), default=None
    )
