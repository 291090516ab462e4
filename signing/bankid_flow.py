"""Signing with BankID: start a ``sign`` order, collect it, show its QR code, cancel it.

Services as in ``signing.services``: a Session, plain values and ``now``; they
flush and never commit, and ask BankID before they write (see that module's
docstring for why, and for how completion stays idempotent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app import audit
from app.crypto import Keyring, sha256_hex
from app.errors import DomainError, Unprocessable
from consent.models import Signer
from consent.signatures import VerifiedIdentity
from signing import methods, services
from signing.bankid.client import BankIdClient, CollectResult
from signing.bankid.errors import BankIdError
from signing.bankid.qr import autostart_url, qr_data, seconds_since
from signing.models import SignatureOrder

log = logging.getLogger(__name__)

# BankID asks RPs to collect every two seconds; pages may poll faster for the QR code.
COLLECT_INTERVAL = timedelta(seconds=2)
# Collect errors in a row before an order is given up (a racing poll may see one).
MAX_COLLECT_ERRORS = 5
UNIVERSAL_LINK = "https://app.bankid.com/"


class BankIdStartFailed(DomainError):
    """BankID did not start the order; ``error_code`` is BankID's, for the user message."""

    status, slug, title = 503, "bankid-unavailable", "BankID could not start"

    def __init__(self, detail: str, *, error_code: str, **extra: Any) -> None:
        super().__init__(detail, hint_code=error_code, **extra)
        self.error_code = error_code
        if error_code == "alreadyInProgress":
            self.status, self.slug, self.title = 409, "bankid-already-in-progress", "Already in progress"


def _secret_context(order_ref: str) -> str:
    """Binds the order's encrypted tokens to the order they belong to."""
    return f"order:{order_ref}"


# --- starting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BankIdStart:
    order: SignatureOrder
    auto_start_token: str
    autostart_url: str


def start_bankid(
    session: Session,
    keyring: Keyring,
    bankid: BankIdClient,
    *,
    token: str,
    device: str,
    purposes: Sequence[str] | None,
    end_user_ip: str,
    mobile: bool,
    locale: str | None,
    now: datetime,
    preferred: str | None = None,
) -> BankIdStart:
    """Start a BankID ``sign`` order for this link, cancelling the signer's previous live one."""
    if device not in ("same", "other"):
        raise Unprocessable("device must be 'same' or 'other'.", errors={"device": ["Must be same or other."]})
    attempt = services.prepare_attempt(
        session, keyring, token=token, purposes=purposes, locale=locale, now=now, preferred=preferred
    )
    view, text = attempt.view, attempt.visible_text
    methods.require_bankid(view)
    non_visible = json.dumps(
        {
            "signer_id": view.signer_id,
            f"{view.kind}_id": view.object_id,
            "text_sha256": view.text_sha256,
            "visible_sha256": sha256_hex(text),
        },
        separators=(",", ":"),
    )
    requirement = {"personalNumber": view.required_personal_number} if view.required_personal_number else None

    # BankID before any write of ours (see signing.services).
    services.cancel_at_bankid(bankid, attempt.previous)
    try:
        started = bankid.sign(end_user_ip, text, user_non_visible_data=non_visible, requirement=requirement)
    except BankIdError as exc:
        log.warning("BankID sign failed: %s", exc.error_code)
        raise BankIdStartFailed(f"BankID answered {exc.error_code}.", error_code=exc.error_code) from exc

    context = _secret_context(started.order_ref)
    order = services.add_order(
        session, attempt, method="bankid", provider="bankid", end_user_ip=end_user_ip, now=now,
        device=device,
        mobile=mobile,
        hint_code="outstandingTransaction",
        order_ref=started.order_ref,
        auto_start_token_enc=keyring.encrypt(started.auto_start_token, context=context),
        qr_start_token=started.qr_start_token,
        qr_start_secret_enc=keyring.encrypt(started.qr_start_secret, context=context),
    )
    return BankIdStart(order, started.auto_start_token, start_link(started.auto_start_token, mobile))


def start_link(auto_start_token: str, mobile: bool) -> str:
    """BankID's universal link on phones and tablets, the bankid:/// scheme elsewhere."""
    if mobile:
        return f"{UNIVERSAL_LINK}?autostarttoken={auto_start_token}&redirect=null"
    return autostart_url(auto_start_token)


def resume_link(keyring: Keyring, order: SignatureOrder) -> str | None:
    """The link that opens BankID again on this device, while a same-device order is pending."""
    if order.status != "pending" or order.device != "same":
        return None
    if not order.auto_start_token_enc or not order.order_ref:
        return None
    auto = keyring.decrypt(order.auto_start_token_enc, context=_secret_context(order.order_ref))
    return start_link(auto, order.mobile) if auto else None


def current_qr_data(keyring: Keyring, order: SignatureOrder | None, now: datetime) -> str | None:
    """The animated QR text for this second, or None when no QR is to be shown."""
    if order is None or order.method != "bankid" or order.status != "pending" or order.device != "other":
        return None
    if not order.qr_start_token or not order.qr_start_secret_enc or not order.order_ref:
        return None
    secret = keyring.decrypt(order.qr_start_secret_enc, context=_secret_context(order.order_ref))
    return qr_data(order.qr_start_token, secret, seconds_since(order.started_at, now))


# --- collecting ---------------------------------------------------------------------------


def poll(
    session: Session,
    keyring: Keyring,
    bankid: BankIdClient | None,
    *,
    signer: Signer,
    locale: str | None,
    now: datetime,
    interval: timedelta = COLLECT_INTERVAL,
) -> services.OrderState:
    """The signer's current attempt, asking BankID at most every ``interval``."""
    order = services.current_order(session, signer.id)
    if order is None:
        return services.state_of(session, signer)
    if order.method != "bankid" or order.status != "pending" or bankid is None:
        return services.order_state(order)
    if order.last_collect_at is not None and now - order.last_collect_at < interval:
        return services.order_state(order)
    assert order.order_ref is not None
    try:
        result: CollectResult | None = bankid.collect(order.order_ref)
        error: BankIdError | None = None
    except BankIdError as exc:
        result, error = None, exc

    if error is not None or result is None:
        assert error is not None
        errors = order.collect_errors + 1
        if errors < MAX_COLLECT_ERRORS:
            # Maybe a racing poll collected the final answer a moment ago: wait for its verdict.
            services.guarded_update(session, order, collect_errors=errors, last_collect_at=now)
            return services.order_state(order)
        return services.fail(
            session, order, failure_code=error.error_code, hint_code=None,
            collect_errors=errors, last_collect_at=now, completed_at=now,
        )

    if result.status == "pending":
        services.guarded_update(session, order, hint_code=result.hint_code, collect_errors=0, last_collect_at=now)
        return services.order_state(order)
    if result.status == "failed":
        return services.fail(
            session, order, hint_code=result.hint_code, failure_code=result.hint_code,
            collect_errors=0, last_collect_at=now, completed_at=now,
        )
    identity = bankid_identity(order, result)
    return services.finish(session, keyring, order, signer, identity, locale=locale, now=now)


def bankid_identity(order: SignatureOrder, result: CollectResult) -> VerifiedIdentity:
    data = result.completion_data
    assert data is not None
    completion = result.raw.get("completionData") or {}
    # Kept verbatim as BankID gave it: user, device, bankIdIssueDate, stepUp, signature, ocspResponse.
    evidence: dict[str, Any] = {"orderRef": result.order_ref, **completion}
    evidence["endUserIp"] = order.end_user_ip
    evidence["userVisibleDataFormat"] = "simpleMarkdownV1"
    return VerifiedIdentity(
        method="bankid",
        personal_number=data.user.personal_number,
        name=data.user.name,
        given_name=data.user.given_name,
        surname=data.user.surname,
        evidence=evidence,
    )


# --- cancelling ---------------------------------------------------------------------------


def cancel(session: Session, bankid: BankIdClient | None, *, signer: Signer, now: datetime) -> services.OrderState:
    """The user gave up on the attempt in progress (the page's Cancel button)."""
    orders = services.live_orders(session, signer.id)
    services.cancel_at_bankid(bankid, orders)
    audit.lock_tenant(session, signer.tenant_id)
    # Only what this request ended: a racing poll may have completed it meanwhile.
    for order in services.mark_cancelled(session, orders, now):
        services.audit_order(session, order, "signing.cancelled")
    return services.state_of(session, signer)
