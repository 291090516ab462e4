"""The signing domain's part of a person's export (Art. 15) and erasure (Art. 17).

Signature orders keep what an attempt showed and where it came from: the text
in the BankID app names the person (a guardian's text names the child), and the
end user's IP address. The BankID simulator plays BankID's own servers inside
our database: its orders keep full personal numbers, names, the shown text and
the signed XML. Both answer the consent core's ``exporting`` and ``erasing``
signals (``consent.signals``), so erasure scrubs exactly what the export shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consent.gdpr import PersonScope
from signing.bankid.simulator.models import SimOrder
from signing.models import SignatureOrder


def _orders(session: Session, scope: PersonScope) -> list[SignatureOrder]:
    if not scope.signer_ids:
        return []
    return list(
        session.scalars(
            sa.select(SignatureOrder)
            .where(SignatureOrder.tenant_id == scope.tenant_id, SignatureOrder.signer_id.in_(scope.signer_ids))
            .order_by(SignatureOrder.started_at, SignatureOrder.created_at)
        )
    )


def export_orders(session: Session, *, scope: PersonScope) -> dict[str, Any]:
    """Every signing attempt by or about the person: what it showed, and (their own) from where."""
    attempts = []
    for order in _orders(session, scope):
        own = order.signer_id in scope.own_signer_ids
        attempts.append(
            {
                "id": order.id,
                "signer_id": order.signer_id,
                "own": own,
                "method": order.method,
                "provider": order.provider,
                "status": order.status,
                "started_at": order.started_at.isoformat(),
                "completed_at": order.completed_at.isoformat() if order.completed_at else None,
                "visible_text": order.visible_text,
                "visible_text_sha256": order.visible_sha256,
                # Someone else's attempt about the person (a guardian's) came from their address, not the person's.
                "end_user_ip": order.end_user_ip if own else None,
            }
        )
    return {"signing_attempts": attempts}


def erase_orders(session: Session, *, scope: PersonScope, now: datetime) -> None:
    """Scrub the attempts export_orders shows, end the live ones, and forget the simulator's orders."""
    orders = _orders(session, scope)
    refs = [order.order_ref for order in orders if order.order_ref]
    if orders:
        ids = [order.id for order in orders]
        session.execute(
            sa.update(SignatureOrder)
            .where(SignatureOrder.id.in_(ids), SignatureOrder.status == "pending")
            .values(status="cancelled", hint_code="cancelled", failure_code="erased", completed_at=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            sa.update(SignatureOrder)
            .where(SignatureOrder.id.in_(ids))
            .values(
                visible_text="", end_user_ip=None, auto_start_token_enc=None, qr_start_token=None,
                qr_start_secret_enc=None, oidc_nonce=None, oidc_code_verifier_enc=None,
            )
            .execution_options(synchronize_session=False)
        )
    # BankID forgets an order once collected; the simulator forgets this person's now: by the orders
    # we know, and by number for any other it holds (one the person opened for someone else's link).
    matches: list[sa.ColumnElement[bool]] = []
    if refs:
        matches.append(SimOrder.order_ref.in_(refs))
    if scope.personal_number:
        matches += [
            SimOrder.personal_number == scope.personal_number,
            SimOrder.signer_personal_number == scope.personal_number,
        ]
    if matches:
        session.execute(sa.delete(SimOrder).where(sa.or_(*matches)).execution_options(synchronize_session=False))


