"""Signature orders: start, poll and finish a signer's attempt to sign.

Services take a Session, plain values and ``now``, flush and never commit. The
consent core (``consent.signatures``) owns links, texts and the one Signature per
signer; this module owns the attempts and the conversation with BankID and the
OpenID Providers.

Order of work, every time: read, then talk to BankID or the provider, then
write. In simulator mode the RP API runs inside this process as a nested
request with its own database transaction; on SQLite that nested write would
wait on any write lock this request already holds.

Completion is idempotent: the order moves ``pending → complete`` with an
``UPDATE … WHERE status = 'pending'`` and only the request whose update
changed the row records the signature (and the consent core's unique signer
constraint backs that up), so two racing status polls record one signature.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.crypto import Keyring, sha256_hex
from app.errors import Conflict, DomainError, Gone, NotFound, Unprocessable
from consent import signatures
from consent.models import Signature, Signer
from consent.signatures import SigningView, VerifiedIdentity
from signing import oidc
from signing.bankid.client import BankIdClient, CollectResult
from signing.bankid.errors import BankIdError
from signing.bankid.qr import autostart_url, qr_data, seconds_since
from signing.models import SignatureOrder

log = logging.getLogger(__name__)

# BankID asks RPs to collect every two seconds; pages may poll faster for the QR code.
COLLECT_INTERVAL = timedelta(seconds=2)
# Collect errors in a row before an order is given up (a racing poll may see one).
MAX_COLLECT_ERRORS = 5
# How long the OpenID round trip may take.
OIDC_TIMEOUT = timedelta(minutes=15)
UNIVERSAL_LINK = "https://app.bankid.com/"


class BankIdStartFailed(DomainError):
    """BankID did not start the order; ``error_code`` is BankID's, for the user message."""

    status, slug, title = 503, "bankid-unavailable", "BankID could not start"

    def __init__(self, detail: str, *, error_code: str, **extra: Any) -> None:
        super().__init__(detail, hint_code=error_code, **extra)
        self.error_code = error_code
        if error_code == "alreadyInProgress":
            self.status, self.slug, self.title = 409, "bankid-already-in-progress", "Already in progress"


class ProviderUnavailable(DomainError):
    status, slug, title = 503, "provider-unavailable", "Identity provider unavailable"


def _actor(signer_id: str) -> str:
    return f"subject:{signer_id}"


# --- reading a link -------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    signer: Signer
    view: SigningView


def open_link(session: Session, keyring: Keyring, token: str, *, locale: str, now: datetime) -> Link:
    """The signer and what their page shows. Unknown → 404, expired → 410 (consent core)."""
    signer = signatures.signer_by_token(session, token, now=now)
    return Link(signer, signatures.signing_view(session, signer, locale=locale, now=now, keyring=keyring))


def signable(view: SigningView) -> bool:
    return view.signer_status == "pending" and view.object_status == "pending"


def require_signable(view: SigningView) -> None:
    if view.signer_status != "pending":
        raise Conflict(f"This link has already been {view.signer_status}.", signer_status=view.signer_status)
    if view.object_status != "pending":
        raise Conflict(f"This is already {view.object_status}.", object_status=view.object_status)


def choose_purposes(view: SigningView, requested: Sequence[str] | None) -> list[str]:
    """The purposes to sign: every one offered by default, else a non-empty subset of them."""
    offered = [p.key for p in view.purposes]
    if view.kind == "addendum":
        if requested:
            raise Unprocessable("An addendum has no purposes to choose.", errors={"purposes": ["Not offered."]})
        return []
    if requested is None:
        return offered
    chosen = list(dict.fromkeys(requested))
    if not chosen:
        raise Unprocessable("Choose at least one purpose.", errors={"purposes": ["Choose at least one purpose."]})
    unknown = [key for key in chosen if key not in offered]
    if unknown:
        raise Unprocessable(
            f"Not offered by this request: {', '.join(unknown)}.", errors={"purposes": ["Not offered here."]}
        )
    # Keep the page's order, whatever order the caller sent.
    return [key for key in offered if key in chosen]


# --- orders ---------------------------------------------------------------------------


def live_orders(session: Session, signer_id: str) -> list[SignatureOrder]:
    return list(
        session.scalars(
            sa.select(SignatureOrder)
            .where(SignatureOrder.signer_id == signer_id, SignatureOrder.status == "pending")
            .order_by(SignatureOrder.started_at)
        )
    )


def current_order(session: Session, signer_id: str) -> SignatureOrder | None:
    """The signer's latest attempt, whatever its state."""
    # The live one when there is one (at most one is pending), else the latest.
    live_first = sa.case((SignatureOrder.status == "pending", 0), else_=1)
    return session.scalar(
        sa.select(SignatureOrder)
        .where(SignatureOrder.signer_id == signer_id)
        .order_by(live_first, SignatureOrder.started_at.desc(), SignatureOrder.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


def order_of(session: Session, signer_id: str, order_id: str) -> SignatureOrder | None:
    order = session.get(SignatureOrder, order_id)
    return order if order is not None and order.signer_id == signer_id else None


def _cancel_at_bankid(bankid: BankIdClient | None, orders: Sequence[SignatureOrder]) -> None:
    """Tell BankID first (no database writes yet); it may already have forgotten the order."""
    for order in orders:
        if bankid is not None and order.method == "bankid" and order.order_ref:
            try:
                bankid.cancel(order.order_ref)
            except BankIdError as exc:
                log.info("cancel of a previous order answered %s", exc.error_code)


def _mark_cancelled(session: Session, orders: Sequence[SignatureOrder], now: datetime) -> None:
    ids = [o.id for o in orders]
    if not ids:
        return
    session.execute(
        sa.update(SignatureOrder)
        .where(SignatureOrder.id.in_(ids), SignatureOrder.status == "pending")
        .values(status="cancelled", hint_code="cancelled", failure_code="cancelled", completed_at=now)
        .execution_options(synchronize_session=False)
    )
    for order in orders:
        session.refresh(order)


def _visible(view: SigningView, purposes: list[str]) -> str:
    return signatures.visible_text(view, purposes)


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
    locale: str,
    now: datetime,
) -> BankIdStart:
    """Start a BankID ``sign`` order for this link, cancelling the signer's previous live one."""
    if device not in ("same", "other"):
        raise Unprocessable("device must be 'same' or 'other'.", errors={"device": ["Must be same or other."]})
    link = open_link(session, keyring, token, locale=locale, now=now)
    view = link.view
    require_signable(view)
    chosen = choose_purposes(view, purposes)
    text = _visible(view, chosen)
    previous = live_orders(session, view.signer_id)
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

    # BankID before any write of ours (see the module docstring).
    _cancel_at_bankid(bankid, previous)
    try:
        started = bankid.sign(end_user_ip, text, user_non_visible_data=non_visible, requirement=requirement)
    except BankIdError as exc:
        log.warning("BankID sign failed: %s", exc.error_code)
        raise BankIdStartFailed(f"BankID answered {exc.error_code}.", error_code=exc.error_code) from exc

    _mark_cancelled(session, previous, now)
    order = SignatureOrder(
        tenant_id=view.tenant_id,
        signer_id=view.signer_id,
        method="bankid",
        provider="bankid",
        device=device,
        mobile=mobile,
        purposes=chosen,
        visible_text=text,
        visible_sha256=sha256_hex(text),
        status="pending",
        hint_code="outstandingTransaction",
        order_ref=started.order_ref,
        auto_start_token_enc=keyring.encrypt(started.auto_start_token, context=f"order:{started.order_ref}"),
        qr_start_token=started.qr_start_token,
        qr_start_secret_enc=keyring.encrypt(started.qr_start_secret, context=f"order:{started.order_ref}"),
        end_user_ip=end_user_ip,
        started_at=now,
    )
    session.add(order)
    session.flush()
    audit.append(
        session, view.tenant_id, "signing.started", _actor(view.signer_id),
        {"order_id": order.id, "signer_id": view.signer_id, "method": "bankid", "visible_sha256": order.visible_sha256},
    )
    return BankIdStart(order, started.auto_start_token, start_link(started.auto_start_token, mobile))


def start_link(auto_start_token: str, mobile: bool) -> str:
    """BankID's universal link on phones and tablets, the bankid:/// scheme elsewhere."""
    if mobile:
        return f"{UNIVERSAL_LINK}?autostarttoken={auto_start_token}&redirect=null"
    return autostart_url(auto_start_token)


def auto_start_token(keyring: Keyring, order: SignatureOrder) -> str | None:
    if not order.auto_start_token_enc or not order.order_ref:
        return None
    return keyring.decrypt(order.auto_start_token_enc, context=f"order:{order.order_ref}")


def current_qr_data(keyring: Keyring, order: SignatureOrder, now: datetime) -> str | None:
    """The animated QR text for this second, or None when no QR is to be shown."""
    if order.method != "bankid" or order.status != "pending" or order.device != "other":
        return None
    if not order.qr_start_token or not order.qr_start_secret_enc or not order.order_ref:
        return None
    secret = keyring.decrypt(order.qr_start_secret_enc, context=f"order:{order.order_ref}")
    return qr_data(order.qr_start_token, secret, seconds_since(order.started_at, now))


# --- polling --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderState:
    order: SignatureOrder | None
    status: str  # pending | complete | failed | none
    hint_code: str | None
    failure_code: str | None


def order_state(order: SignatureOrder) -> OrderState:
    status = order.status
    if status == "cancelled":
        status = "failed"
    hint = order.hint_code if order.status != "complete" else None
    return OrderState(order, status, hint, order.failure_code)


def _reload(session: Session, order: SignatureOrder) -> SignatureOrder:
    session.refresh(order)
    return order


def _guarded_update(session: Session, order: SignatureOrder, **values: Any) -> bool:
    """Move a pending order on; False when another request got there first."""
    result = session.execute(
        sa.update(SignatureOrder)
        .where(SignatureOrder.id == order.id, SignatureOrder.status == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(getattr(result, "rowcount", 0) == 1)
    _reload(session, order)
    return changed


def state_of(session: Session, signer: Signer) -> OrderState:
    order = current_order(session, signer.id)
    if order is None:
        if signer.status == "signed":
            return OrderState(None, "complete", None, None)
        return OrderState(None, "none", None, None)
    return order_state(order)


def poll(
    session: Session,
    keyring: Keyring,
    bankid: BankIdClient | None,
    *,
    signer: Signer,
    locale: str,
    now: datetime,
    interval: timedelta = COLLECT_INTERVAL,
) -> OrderState:
    """The signer's current attempt, asking BankID at most every ``interval``."""
    order = current_order(session, signer.id)
    if order is None:
        return state_of(session, signer)
    if order.method != "bankid" or order.status != "pending" or bankid is None:
        return order_state(order)
    if order.last_collect_at is not None and now - order.last_collect_at < interval:
        return order_state(order)
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
            _guarded_update(session, order, collect_errors=errors, last_collect_at=now)
            return order_state(order)
        if _guarded_update(
            session, order, status="failed", failure_code=error.error_code, hint_code=None,
            collect_errors=errors, last_collect_at=now, completed_at=now,
        ):
            _audit_failed(session, order)
        return order_state(order)

    if result.status == "pending":
        _guarded_update(session, order, hint_code=result.hint_code, collect_errors=0, last_collect_at=now)
        return order_state(order)
    if result.status == "failed":
        if _guarded_update(
            session, order, status="failed", hint_code=result.hint_code, failure_code=result.hint_code,
            collect_errors=0, last_collect_at=now, completed_at=now,
        ):
            _audit_failed(session, order)
        return order_state(order)
    return _complete_bankid(session, keyring, order, signer, result, locale=locale, now=now)


def _audit_failed(session: Session, order: SignatureOrder) -> None:
    audit.append(
        session, order.tenant_id, "signing.failed", _actor(order.signer_id),
        {"order_id": order.id, "signer_id": order.signer_id, "method": order.method, "code": order.failure_code},
    )


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


def _complete_bankid(
    session: Session,
    keyring: Keyring,
    order: SignatureOrder,
    signer: Signer,
    result: CollectResult,
    *,
    locale: str,
    now: datetime,
) -> OrderState:
    identity = bankid_identity(order, result)
    return _finish(session, keyring, order, signer, identity, locale=locale, now=now)


def _finish(
    session: Session,
    keyring: Keyring,
    order: SignatureOrder,
    signer: Signer,
    identity: VerifiedIdentity,
    *,
    locale: str,
    now: datetime,
) -> OrderState:
    """The provider vouched for someone: record the signature exactly once, or fail the order."""
    view = signatures.signing_view(session, signer, locale=locale, now=now, keyring=keyring)
    if view.required_personal_number and identity.personal_number != view.required_personal_number:
        # BankID enforces the requirement itself; an OpenID Provider may not.
        if _guarded_update(
            session, order, status="failed", failure_code="wrongPerson", hint_code=None,
            last_collect_at=now, completed_at=now,
        ):
            _audit_failed(session, order)
        return order_state(order)
    if not _guarded_update(session, order, status="complete", hint_code=None, last_collect_at=now, completed_at=now):
        return order_state(order)  # another request completed (or ended) it
    try:
        with session.begin_nested():
            signature = signatures.record_signature(
                session, keyring, signer_id=signer.id, identity=identity, purposes=list(order.purposes),
                visible_text=order.visible_text, at=now,
            )
    except DomainError as exc:
        # E.g. the other guardian declined meanwhile, or the link was used in another tab.
        log.info("signature not recorded: %s", exc.slug)
        session.execute(
            sa.update(SignatureOrder)
            .where(SignatureOrder.id == order.id)
            .values(status="failed", failure_code=exc.slug)
            .execution_options(synchronize_session=False)
        )
        _reload(session, order)
        _audit_failed(session, order)
        return order_state(order)
    order.signature_id = signature.id
    session.flush()
    return order_state(order)


def cancel(session: Session, bankid: BankIdClient | None, *, signer: Signer, now: datetime) -> OrderState:
    """The user gave up on the attempt in progress (the page's Cancel button)."""
    orders = live_orders(session, signer.id)
    _cancel_at_bankid(bankid, orders)
    _mark_cancelled(session, orders, now)
    for order in orders:
        audit.append(
            session, order.tenant_id, "signing.cancelled", _actor(order.signer_id),
            {"order_id": order.id, "signer_id": order.signer_id, "method": order.method},
        )
    return state_of(session, signer)


# --- decline and withdraw ---------------------------------------------------------------


def decline(session: Session, bankid: BankIdClient | None, *, signer: Signer, now: datetime) -> None:
    orders = live_orders(session, signer.id)
    _cancel_at_bankid(bankid, orders)
    signatures.decline(session, signer_id=signer.id, at=now)
    _mark_cancelled(session, orders, now)


def withdraw(session: Session, *, signer: Signer, now: datetime) -> None:
    signatures.withdraw_by_subject(session, signer_id=signer.id, at=now)


# --- OpenID Connect -----------------------------------------------------------------------


def start_oidc(
    session: Session,
    keyring: Keyring,
    bankid: BankIdClient | None,
    http: httpx.Client,
    provider: oidc.Provider,
    *,
    token: str,
    purposes: Sequence[str] | None,
    redirect_uri: str,
    end_user_ip: str,
    locale: str,
    now: datetime,
) -> str:
    """Create the attempt and return the provider's authorization URL."""
    link = open_link(session, keyring, token, locale=locale, now=now)
    view = link.view
    require_signable(view)
    chosen = choose_purposes(view, purposes)
    text = _visible(view, chosen)
    previous = live_orders(session, view.signer_id)
    try:
        request = oidc.authorization_request(
            provider, http, redirect_uri=redirect_uri, sign_text=text, locale=view.locale,
            required_personal_number=view.required_personal_number,
        )
    except oidc.OidcError as exc:
        log.warning("OIDC provider %s unusable: %s", provider.name, exc.code)
        raise ProviderUnavailable(f"The identity provider cannot be used now ({exc.code}).") from exc
    _cancel_at_bankid(bankid, previous)
    _mark_cancelled(session, previous, now)
    order = SignatureOrder(
        tenant_id=view.tenant_id,
        signer_id=view.signer_id,
        method="oidc",
        provider=provider.name,
        purposes=chosen,
        visible_text=text,
        visible_sha256=sha256_hex(text),
        status="pending",
        end_user_ip=end_user_ip,
        oidc_state=request.state,
        oidc_nonce=request.nonce,
        oidc_code_verifier_enc=keyring.encrypt(request.code_verifier, context=f"oidc:{request.state}"),
        started_at=now,
    )
    session.add(order)
    session.flush()
    audit.append(
        session, view.tenant_id, "signing.started", _actor(view.signer_id),
        {"order_id": order.id, "signer_id": view.signer_id, "method": "oidc", "visible_sha256": order.visible_sha256},
    )
    return request.url


@dataclass(frozen=True)
class OidcOutcome:
    signer_id: str
    order_id: str
    status: str  # complete | failed
    failure_code: str | None


def _fail_oidc(session: Session, order: SignatureOrder, code: str, now: datetime) -> OidcOutcome:
    if _guarded_update(session, order, status="failed", failure_code=code[:64], completed_at=now):
        _audit_failed(session, order)
    return OidcOutcome(order.signer_id, order.id, order_state(order).status, order.failure_code)


def normalised_personal_number(raw: str | None) -> str | None:
    if not raw:
        return None
    from consent.personal_numbers import InvalidPersonalNumber, normalise

    try:
        return normalise(raw.strip())
    except InvalidPersonalNumber:
        return None


def oidc_identity(provider: oidc.Provider, found: oidc.OidcIdentity) -> VerifiedIdentity:
    """The signer as the provider vouched for them (names only from its claims)."""
    evidence: dict[str, Any] = {
        "provider": provider.name,
        "issuer": found.issuer,
        "subject": found.subject,
        "id_token": found.id_token,
        "claims": found.claims,
        "auth_time": found.auth_time,
        "acr": found.acr,
    }
    if found.amr is not None:
        evidence["amr"] = found.amr
    if found.user_signature is not None:
        evidence["userSignature"] = found.user_signature
    joined = " ".join(part for part in (found.given_name, found.family_name) if part)
    return VerifiedIdentity(
        method="oidc",
        personal_number=normalised_personal_number(found.personal_number_raw),
        name=found.name or joined or found.subject,
        given_name=found.given_name,
        surname=found.family_name,
        evidence=evidence,
    )


def finish_oidc(
    session: Session,
    keyring: Keyring,
    http: httpx.Client,
    providers: Sequence[oidc.Provider],
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    redirect_uri: str,
    locale: str,
    now: datetime,
) -> OidcOutcome:
    """The provider sent the user back: verify, then record the signature (or the failure)."""
    order = (
        session.scalar(
            sa.select(SignatureOrder).where(SignatureOrder.oidc_state == state, SignatureOrder.method == "oidc")
        )
        if state
        else None
    )
    if order is None:
        raise NotFound("This sign-in answer does not belong to any signing in progress.")
    if order.status != "pending":
        # A reload of the callback: answer as before, never a second exchange.
        return OidcOutcome(order.signer_id, order.id, order_state(order).status, order.failure_code)
    if now - order.started_at > OIDC_TIMEOUT:
        return _fail_oidc(session, order, "expired", now)
    if error:
        return _fail_oidc(session, order, error, now)
    if not code:
        return _fail_oidc(session, order, "invalid_request", now)
    provider = next((p for p in providers if p.name == order.provider), None)
    if provider is None:
        return _fail_oidc(session, order, "provider_removed", now)
    signer = session.get(Signer, order.signer_id)
    if signer is None:
        raise Gone("The signing link no longer exists.")
    assert order.oidc_code_verifier_enc is not None and order.oidc_nonce is not None
    verifier = keyring.decrypt(order.oidc_code_verifier_enc, context=f"oidc:{order.oidc_state}")
    try:
        found = oidc.complete(
            provider, http, code=code, code_verifier=verifier, nonce=order.oidc_nonce, redirect_uri=redirect_uri
        )
    except oidc.OidcError as exc:
        log.warning("OIDC answer from %s rejected: %s", provider.name, exc.code)
        return _fail_oidc(session, order, exc.code, now)
    identity = oidc_identity(provider, found)
    state_after = _finish(session, keyring, order, signer, identity, locale=locale, now=now)
    return OidcOutcome(order.signer_id, order.id, state_after.status, order.failure_code)


# --- the receipt ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    method: str
    signer_name: str | None
    signed_at: datetime
    purposes: list[str]
    visible_sha256: str
    pn_masked: str | None


def receipt(session: Session, signer: Signer) -> Receipt | None:
    signature = session.scalar(
        sa.select(Signature).where(Signature.signer_id == signer.id, Signature.tenant_id == signer.tenant_id)
    )
    if signature is None:
        return None
    return Receipt(
        method=signature.method,
        signer_name=signature.signer_name,
        signed_at=signature.signed_at,
        purposes=list(signature.purposes),
        visible_sha256=signature.visible_sha256,
        pn_masked=signature.pn_masked,
    )


def record_pdf(session: Session, view: SigningView) -> tuple[bytes, str] | None:
    """The latest sealed record of what this link signed, when the records domain made one."""
    try:
        from reports import services as records
    except ImportError:
        return None
    if view.kind == "addendum":
        found = records.latest_sealed(session, view.tenant_id, addendum_id=view.object_id)
    else:
        found = records.latest_sealed(session, view.tenant_id, consent_id=view.object_id)
    if found is None or not found.pdf:
        return None
    return bytes(found.pdf), str(found.kind)
