"""The simulator's one table: an order as BankID's servers would keep it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

# Order kinds, as the RP API paths name them.
KINDS = ("auth", "sign", "phone/auth", "phone/sign")


class SimOrder(Base):
    __tablename__ = "bankid_sim_orders"

    order_ref: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    end_user_ip: Mapped[str | None] = mapped_column(sa.String(64))
    call_initiator: Mapped[str | None] = mapped_column(sa.String(8))
    # Kept base64 exactly as the RP sent them: that is what the signature covers.
    user_visible_data: Mapped[str | None] = mapped_column(sa.Text)
    user_non_visible_data: Mapped[str | None] = mapped_column(sa.Text)
    user_visible_data_format: Mapped[str | None] = mapped_column(sa.String(32))
    requirement: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The personal number the order is bound to (requirement.personalNumber, or a phone order's).
    personal_number: Mapped[str | None] = mapped_column(sa.String(12), index=True)
    return_risk: Mapped[bool] = mapped_column(default=False)
    return_url: Mapped[str | None] = mapped_column(sa.Text)
    auto_start_token: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    qr_start_token: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    qr_start_secret: Mapped[str | None] = mapped_column(sa.String(36))

    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]  # the app scanned the QR code or opened the token
    finished_at: Mapped[datetime | None]
    collected_at: Mapped[datetime | None]  # the final answer went out; BankID forgets the order then

    state: Mapped[str] = mapped_column(sa.String(16), default="pending")  # pending | complete | failed
    hint_code: Mapped[str | None] = mapped_column(sa.String(32))
    cancelled: Mapped[bool] = mapped_column(default=False)  # cancelled by the RP: the order is gone

    # Who picked the order up in the app.
    signer_personal_number: Mapped[str | None] = mapped_column(sa.String(12), index=True)
    signer_given_name: Mapped[str | None] = mapped_column(sa.String(200))
    signer_surname: Mapped[str | None] = mapped_column(sa.String(200))
    device_ip: Mapped[str | None] = mapped_column(sa.String(64))

    completion_data: Mapped[dict[str, Any] | None]

    @property
    def is_phone(self) -> bool:
        return self.kind.startswith("phone/")
