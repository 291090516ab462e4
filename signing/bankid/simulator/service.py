"""The simulator's rules: orders, their hint codes and timeouts, and the phone app.

Services take a Session, plain values and ``now`` (the simulator's clock), flush
and never commit. Time-driven transitions (startFailed after 30 s,
expiredTransaction after 3 minutes) are applied whenever an order is read, so no
background worker is needed.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signing.bankid.personnummer import is_valid_personal_number
from signing.bankid.qr import parse_qr_data, qr_auth_code, seconds_since
from signing.bankid.simulator import evidence
from signing.bankid.simulator.errors import NO_SUCH_ORDER, SimError, already_in_progress, invalid
from signing.bankid.simulator.evidence import Signer, SimulatorKeys
from signing.bankid.simulator.models import SimOrder
from signing.bankid.simulator.validation import OrderRequest

START_TIMEOUT = timedelta(seconds=30)
ORDER_LIFETIME = timedelta(minutes=3)
# How long a finished order can still be collected (once).
COMPLETE_RETENTION = timedelta(minutes=3)
FAILED_RETENTION = timedelta(minutes=5)
QR_MAX_SKEW_SECONDS = 5


@dataclass(frozen=True)
class Identity:
    """Who holds the simulated phone."""

    personal_number: str
    given_name: str
    surname: str


def _new_token() -> str:
    return str(uuid.uuid4())


# --- RP API -----------------------------------------------------------------


def start_order(session: Session, request: OrderRequest, now: datetime) -> SimOrder:
    """Create an order; ``alreadyInProgress`` (after aborting the live one) when the person has one."""
    if request.personal_number:
        live = _live_orders_for(session, request.personal_number, now)
        if live:
            # BankID aborts the order in progress and creates none; the caller
            # must keep this change although the answer is an error.
            for order in live:
                _fail(order, "cancelled", now)
            session.flush()
            raise already_in_progress()
    token_start = not request.kind.startswith("phone/")
    order = SimOrder(
        order_ref=_new_token(),
        kind=request.kind,
        end_user_ip=request.end_user_ip,
        call_initiator=request.call_initiator,
        user_visible_data=request.user_visible_data,
        user_non_visible_data=request.user_non_visible_data,
        user_visible_data_format=request.user_visible_data_format,
        requirement=request.requirement,
        personal_number=request.personal_number,
        return_risk=request.return_risk,
        return_url=request.return_url,
        auto_start_token=_new_token() if token_start else None,
        qr_start_token=_new_token() if token_start else None,
        qr_start_secret=_new_token() if token_start else None,
        created_at=now,
        state="pending",
        hint_code="outstandingTransaction",
        cancelled=False,
    )
    session.add(order)
    session.flush()
    return order


def start_answer(order: SimOrder) -> dict[str, str]:
    if order.is_phone:
        return {"orderRef": order.order_ref}
    assert order.auto_start_token and order.qr_start_token and order.qr_start_secret
    return {
        "orderRef": order.order_ref,
        "autoStartToken": order.auto_start_token,
        "qrStartToken": order.qr_start_token,
        "qrStartSecret": order.qr_start_secret,
    }


def collect(session: Session, order_ref: str, now: datetime) -> dict[str, Any]:
    """The collect answer; a final answer is given once, then the order is gone."""
    order = _rp_order(session, order_ref)
    refresh(order, now)
    answer: dict[str, Any] = {"orderRef": order.order_ref, "status": order.state}
    if order.state != "pending":
        assert order.finished_at is not None
        retention = COMPLETE_RETENTION if order.state == "complete" else FAILED_RETENTION
        if now - order.finished_at > retention:
            raise invalid(NO_SUCH_ORDER)
        order.collected_at = now
    if order.state == "complete":
        answer["completionData"] = order.completion_data
    else:
        answer["hintCode"] = order.hint_code
    session.flush()
    return answer


def cancel(session: Session, order_ref: str, now: datetime) -> None:
    """The RP cancels: the order is gone; a second cancel finds nothing."""
    order = _rp_order(session, order_ref)
    refresh(order, now)
    order.cancelled = True
    if order.state == "pending":
        _fail(order, "cancelled", now)
    session.flush()


def _rp_order(session: Session, order_ref: str) -> SimOrder:
    order = session.get(SimOrder, order_ref, with_for_update=True)
    if order is None or order.cancelled or order.collected_at is not None:
        raise invalid(NO_SUCH_ORDER)
    return order


def _live_orders_for(session: Session, personal_number: str, now: datetime) -> list[SimOrder]:
    query = (
        sa.select(SimOrder)
        .where(
            sa.or_(
                SimOrder.personal_number == personal_number,
                SimOrder.signer_personal_number == personal_number,
            ),
            SimOrder.state == "pending",
            SimOrder.cancelled.is_(False),
        )
        .with_for_update()
    )
    live = []
    for order in session.scalars(query):
        refresh(order, now)
        if order.state == "pending":
            live.append(order)
    return live


def refresh(order: SimOrder, now: datetime) -> None:
    """Apply the timeouts that have passed; the moment of failure is when the limit ran out."""
    if order.state != "pending":
        return
    if order.started_at is None and not order.is_phone and now - order.created_at >= START_TIMEOUT:
        _fail(order, "startFailed", order.created_at + START_TIMEOUT)
    elif now - order.created_at >= ORDER_LIFETIME:
        _fail(order, "expiredTransaction", order.created_at + ORDER_LIFETIME)


def _fail(order: SimOrder, hint_code: str, at: datetime) -> None:
    order.state = "failed"
    order.hint_code = hint_code
    order.finished_at = at


# --- the simulated phone app ---------------------------------------------------


def scan_qr(
    session: Session,
    qr_text: str,
    identity: Identity,
    device_ip: str | None,
    now: datetime,
    max_skew: int = QR_MAX_SKEW_SECONDS,
) -> SimOrder:
    parsed = parse_qr_data(qr_text) if isinstance(qr_text, str) else None
    if parsed is None:
        raise SimError(400, "invalidParameters", "This is not a BankID QR code")
    token, seconds, code = parsed
    order = session.scalar(sa.select(SimOrder).where(SimOrder.qr_start_token == token).with_for_update())
    if order is None or order.qr_start_secret is None:
        raise SimError(404, "notFound", "No order for this QR code")
    # Like the real app: the code must be authentic and fresh, so a QR code
    # photographed and relayed later by someone else does not work.
    if not hmac.compare_digest(code, qr_auth_code(order.qr_start_secret, seconds)):
        raise SimError(403, "qrCodeRejected", "The QR code is not authentic")
    age = seconds_since(order.created_at, now)
    if abs(seconds - age) > max_skew:
        raise SimError(403, "qrCodeRejected", f"The QR code is stale: it shows {seconds} s, the order is {age} s old")
    return _pick_up(order, identity, device_ip, now)


def open_token(
    session: Session, autostart_token: str, identity: Identity, device_ip: str | None, now: datetime
) -> SimOrder:
    token = _autostart_token_from(autostart_token)
    order = session.scalar(sa.select(SimOrder).where(SimOrder.auto_start_token == token).with_for_update())
    if order is None:
        raise SimError(404, "notFound", "No order for this autostart token")
    return _pick_up(order, identity, device_ip, now)


def open_phone_order(session: Session, identity: Identity, device_ip: str | None, now: datetime) -> SimOrder:
    """The app shows the phone order waiting for this person (BankID pushes it by personal number)."""
    _check_identity(identity)
    query = (
        sa.select(SimOrder)
        .where(
            SimOrder.personal_number == identity.personal_number,
            SimOrder.kind.in_(("phone/auth", "phone/sign")),
            SimOrder.state == "pending",
            SimOrder.cancelled.is_(False),
            SimOrder.started_at.is_(None),
        )
        .order_by(SimOrder.created_at.desc())
        .with_for_update()
    )
    for order in session.scalars(query):
        refresh(order, now)
        if order.state == "pending":
            _pick_up(order, identity, device_ip, now)
            order.hint_code = "userCallConfirm"
            session.flush()
            return order
    raise SimError(404, "notFound", "No phone order waits for this personal number")


def confirm_call(session: Session, order_ref: str, in_call: bool, now: datetime) -> SimOrder:
    order = _app_order(session, order_ref, now)
    if order.hint_code != "userCallConfirm":
        raise SimError(409, "orderNotAvailable", "The order does not wait for a call confirmation")
    if not in_call:
        _fail(order, "userDeclinedCall", now)
    else:
        order.hint_code = "userMrtd" if order.requirement.get("mrtd") else "userSign"
    session.flush()
    return order


def review(session: Session, order_ref: str, now: datetime) -> SimOrder:
    """The user looks at the order in the app (travel document first when the RP asked for it)."""
    order = _app_order(session, order_ref, now)
    if order.hint_code == "userCallConfirm":
        raise SimError(409, "orderNotAvailable", "Confirm the call first")
    if order.hint_code == "started" and order.requirement.get("mrtd"):
        order.hint_code = "userMrtd"
    else:
        order.hint_code = "userSign"
    session.flush()
    return order


def confirm(session: Session, order_ref: str, approve: bool, keys: SimulatorKeys | None, now: datetime) -> SimOrder:
    """The user approves (signs) or cancels in the app."""
    order = _app_order(session, order_ref, now)
    if order.hint_code == "userCallConfirm":
        raise SimError(409, "orderNotAvailable", "Confirm the call first")
    if not approve:
        _fail(order, "userCancel", now)
    else:
        if keys is None:
            raise ValueError("keys are needed to approve")
        order.completion_data = _completion_data(order, keys, now)
        order.state = "complete"
        order.hint_code = None
        order.finished_at = now
    session.flush()
    return order


def get_order(session: Session, order_ref: str, now: datetime) -> SimOrder | None:
    """An order as the app would show it (timeouts applied), or None."""
    order = session.get(SimOrder, order_ref)
    if order is not None:
        refresh(order, now)
    return order


def _app_order(session: Session, order_ref: str, now: datetime) -> SimOrder:
    order = session.get(SimOrder, order_ref, with_for_update=True) if isinstance(order_ref, str) else None
    if order is None:
        raise SimError(404, "notFound", "No such order")
    refresh(order, now)
    if order.cancelled or order.state != "pending":
        raise SimError(409, "orderNotAvailable", "The order is no longer in progress")
    if order.started_at is None:
        raise SimError(409, "orderNotAvailable", "The order has not been opened in the app")
    return order


def _pick_up(order: SimOrder, identity: Identity, device_ip: str | None, now: datetime) -> SimOrder:
    _check_identity(identity)
    refresh(order, now)
    if order.cancelled or order.state != "pending":
        raise SimError(409, "orderNotAvailable", "The order is no longer valid")
    if order.started_at is not None:
        raise SimError(409, "orderNotAvailable", "The order has already been opened in an app")
    if order.personal_number and order.personal_number != identity.personal_number:
        # The app of anyone else never sees the order; it stays waiting for its person.
        raise SimError(403, "personalNumberMismatch", "The order is meant for another person")
    order.started_at = now
    order.hint_code = "started"
    order.signer_personal_number = identity.personal_number
    order.signer_given_name = identity.given_name
    order.signer_surname = identity.surname
    order.device_ip = device_ip
    return order


def _check_identity(identity: Identity) -> None:
    if not is_valid_personal_number(identity.personal_number):
        raise invalid("Invalid personal_number: 12 digits with a valid check digit")
    for label, value in (("given_name", identity.given_name), ("surname", identity.surname)):
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise invalid(f"Invalid {label}")


def _autostart_token_from(value: str) -> str:
    """Accept the bare token or a whole start link (``bankid:///?autostarttoken=…``)."""
    if not isinstance(value, str) or not value.strip():
        raise invalid("Invalid autostart_token")
    value = value.strip()
    marker = "autostarttoken="
    if marker in value:
        value = value.split(marker, 1)[1].split("&", 1)[0]
    return value


def _completion_data(order: SimOrder, keys: SimulatorKeys, now: datetime) -> dict[str, Any]:
    assert order.signer_personal_number and order.signer_given_name and order.signer_surname
    signer = Signer(order.signer_personal_number, order.signer_given_name.strip(), order.signer_surname.strip())
    uhi = evidence.device_uhi(signer.personal_number)
    data = evidence.signed_data(
        visible=order.user_visible_data,
        non_visible=order.user_non_visible_data,
        signer=signer,
        order_ref=order.order_ref,
        kind=order.kind,
        uhi=uhi,
        nonce=base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    signature = base64.b64encode(evidence.sign_xml(keys, data)).decode()
    ocsp = base64.b64encode(evidence.ocsp_response(keys, signature, now)).decode()
    completion: dict[str, Any] = {
        "user": {
            "personalNumber": signer.personal_number,
            "name": signer.name,
            "givenName": signer.given_name,
            "surname": signer.surname,
        },
        "device": {"ipAddress": order.device_ip or order.end_user_ip or "127.0.0.1", "uhi": uhi},
        "bankIdIssueDate": keys.cert.not_valid_before_utc.date().isoformat(),
        "stepUp": {"mrtd": bool(order.requirement.get("mrtd"))},
        "signature": signature,
        "ocspResponse": ocsp,
    }
    if order.return_risk:
        completion["risk"] = "low"
    return completion
