"""Signature orders: what every way of signing shares.

Services take a Session, plain values and ``now``, flush and never commit. The
consent core (``consent.signatures``) owns links, texts and the one Signature per
signer; the signing domain owns the attempts. This module holds what BankID
(``signing.bankid_flow``) and the OpenID Providers (``signing.oidc_flow``) have
in common: reading a link, the signer's orders and their state, recording a
signature once a provider vouched for the signer, decline, withdraw and the
receipt.

Order of work, every time: read, then talk to BankID or the provider, then
write. In simulator mode the RP API runs inside this process as a nested
request with its own database transaction; on SQLite that nested write would
wait on any write lock this request already holds.

The write starts by taking the locks in the one order of ``app.audit`` (tenant,
consent or addendum, signer: ``consent.signatures.lock_signer``, then the
order) and deciding again on what it reads under them: what was read before
the talk to BankID may have changed meanwhile (a decline, a racing poll).

Completion is idempotent: the order moves ``pending → complete`` with an
``UPDATE … WHERE status = 'pending'`` and only the request whose update
changed the row records the signature (and the consent core's unique signer
constraint backs that up), so two racing status polls record one signature.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.crypto import Keyring, sha256_hex
from app.errors import Conflict, DomainError, Unprocessable
from consent import signatures, signed_text
from consent.models import Signature, Signer
from consent.signatures import SigningView, VerifiedIdentity
from reports import services as records
from reports.models import Record
from signing.bankid.client import BankIdClient
from signing.bankid.errors import BankIdError
from signing.models import SignatureOrder

log = logging.getLogger(__name__)


def audit_order(session: Session, order: SignatureOrder, event: str, **details: Any) -> None:
    """One ``signing.*`` audit entry about an order, in the signer's name."""
    audit.append(
        session, order.tenant_id, event, f"subject:{order.signer_id}",
        {"order_id": order.id, "signer_id": order.signer_id, "method": order.method, **details},
    )


# --- reading a link -------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    signer: Signer
    view: SigningView


def open_link(
    session: Session, keyring: Keyring, token: str, *, locale: str | None, now: datetime, preferred: str | None = None
) -> Link:
    """The signer and what their page shows. Unknown → 404, expired → 410 (consent core).

    ``locale`` is the language the person chose on the link's pages, ``preferred`` the
    browser's; the request's own language comes between them (see ``signing_view``)."""
    signer = signatures.signer_by_token(session, token, now=now)
    view = signatures.signing_view(session, signer, locale=locale, now=now, keyring=keyring, preferred=preferred)
    return Link(signer, view)


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


def purposes_to_sign(view: SigningView, requested: Sequence[str] | None) -> list[str]:
    """The purposes of a new attempt, once the link is known to be signable (409 if not, 422 if bad)."""
    require_signable(view)
    return choose_purposes(view, requested)


# --- orders ---------------------------------------------------------------------------


def live_orders(session: Session, signer_id: str) -> list[SignatureOrder]:
    return list(
        session.scalars(
            sa.select(SignatureOrder)
            .where(SignatureOrder.signer_id == signer_id, SignatureOrder.status == "pending")
            .order_by(SignatureOrder.started_at)
            .execution_options(populate_existing=True)
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


def cancel_at_bankid(bankid: BankIdClient | None, orders: Sequence[SignatureOrder]) -> None:
    """Tell BankID first (no database writes yet); it may already have forgotten the order."""
    for order in orders:
        if bankid is not None and order.method == "bankid" and order.order_ref:
            try:
                bankid.cancel(order.order_ref)
            except BankIdError as exc:
                log.info("cancel of a previous order answered %s", exc.error_code)


def mark_cancelled(session: Session, orders: Sequence[SignatureOrder], now: datetime) -> list[SignatureOrder]:
    """End the orders still pending as cancelled; the ones this call ended (under the tenant lock)."""
    return [
        order for order in orders
        if guarded_update(
            session, order, status="cancelled", hint_code="cancelled", failure_code="cancelled", completed_at=now
        )
    ]


# --- starting an attempt --------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """What a new order is made of, read before anyone talks to BankID or a provider."""

    view: SigningView
    purposes: list[str]
    visible_text: str
    previous: list[SignatureOrder]  # the signer's live orders, which the new one replaces


def prepare_attempt(
    session: Session,
    keyring: Keyring,
    *,
    token: str,
    purposes: Sequence[str] | None,
    locale: str | None,
    now: datetime,
    preferred: str | None = None,
) -> Attempt:
    """The text to sign is the one the page showed: the same link, the same language choice."""
    view = open_link(session, keyring, token, locale=locale, now=now, preferred=preferred).view
    chosen = purposes_to_sign(view, purposes)
    text = signed_text.visible_text(view, chosen)
    return Attempt(view, chosen, text, live_orders(session, view.signer_id))


def add_order(
    session: Session,
    attempt: Attempt,
    *,
    method: str,
    provider: str,
    end_user_ip: str,
    now: datetime,
    **details: Any,
) -> SignatureOrder:
    """The new pending order, once the previous ones were cancelled at BankID; ends them here too.

    Under the locks, the link must still be open (a decline may have come in
    while BankID was asked), and every live order ends, so at most one is pending
    even when two starts race.
    """
    view = attempt.view
    signatures.require_pending(signatures.lock_signer(session, view.signer_id), now)
    mark_cancelled(session, live_orders(session, view.signer_id), now)
    order = SignatureOrder(
        tenant_id=view.tenant_id,
        signer_id=view.signer_id,
        method=method,
        provider=provider,
        purposes=attempt.purposes,
        locale=view.locale,
        visible_text=attempt.visible_text,
        visible_sha256=sha256_hex(attempt.visible_text),
        status="pending",
        end_user_ip=end_user_ip,
        started_at=now,
        **details,
    )
    session.add(order)
    session.flush()
    audit_order(session, order, "signing.started", visible_sha256=order.visible_sha256)
    return order


# --- order state --------------------------------------------------------------------------


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


def state_of(session: Session, signer: Signer) -> OrderState:
    order = current_order(session, signer.id)
    if order is None:
        if signer.status == "signed":
            return OrderState(None, "complete", None, None)
        return OrderState(None, "none", None, None)
    return order_state(order)


def guarded_update(session: Session, order: SignatureOrder, **values: Any) -> bool:
    """Move a pending order on; False when another request got there first.

    Alone (a BankID hint) it needs no other lock; with other writes, take the
    tenant's lock first (``app.audit``)."""
    result = session.execute(
        sa.update(SignatureOrder)
        .where(SignatureOrder.id == order.id, SignatureOrder.status == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(getattr(result, "rowcount", 0) == 1)
    session.refresh(order)
    return changed


def fail(session: Session, order: SignatureOrder, **values: Any) -> OrderState:
    """End a pending order as failed; only the request that ended it writes the audit entry."""
    audit.lock_tenant(session, order.tenant_id)
    if guarded_update(session, order, status="failed", **values):
        audit_order(session, order, "signing.failed", code=order.failure_code)
    return order_state(order)


# --- completion -----------------------------------------------------------------------------


def finish(
    session: Session,
    keyring: Keyring,
    order: SignatureOrder,
    signer: Signer,
    identity: VerifiedIdentity,
    *,
    locale: str | None,
    now: datetime,
) -> OrderState:
    """The provider vouched for someone: record the signature exactly once, or fail the order.

    The locks come first (tenant, consent, signer, then the order), and the link is
    read afresh under them: a decline that won the race has cancelled the order,
    so this one does not complete it.
    """
    signer = signatures.lock_signer(session, signer.id).signer
    view = signatures.signing_view(session, signer, locale=locale, now=now, keyring=keyring)
    if view.required_personal_number and (
        identity.personal_number != view.required_personal_number
        or identity.personal_number_country != view.signer_country
    ):
        # BankID enforces the requirement itself; an OpenID Provider may not.
        return fail(
            session, order, failure_code="wrongPerson", hint_code=None, last_collect_at=now, completed_at=now
        )
    if not guarded_update(session, order, status="complete", hint_code=None, last_collect_at=now, completed_at=now):
        return order_state(order)  # another request completed (or ended) it
    try:
        with session.begin_nested():
            signature = signatures.record_signature(
                session, keyring, signer_id=signer.id, identity=identity, purposes=list(order.purposes),
                visible_text=order.visible_text, at=now, locale=order.locale,
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
        session.refresh(order)
        audit_order(session, order, "signing.failed", code=order.failure_code)
        return order_state(order)
    order.signature_id = signature.id
    session.flush()
    return order_state(order)


# --- decline and withdraw ---------------------------------------------------------------


def decline(session: Session, bankid: BankIdClient | None, *, signer: Signer, now: datetime) -> None:
    """Refuse through this link: BankID hears first, then the consent core decides under the
    locks (409 when a signature won the race), then every live order ends."""
    cancel_at_bankid(bankid, live_orders(session, signer.id))
    signatures.decline(session, signer_id=signer.id, at=now)
    mark_cancelled(session, live_orders(session, signer.id), now)


def withdraw(session: Session, *, signer: Signer, now: datetime) -> None:
    signatures.withdraw_by_subject(session, signer_id=signer.id, at=now)


# --- the receipt ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    method: str
    signer_name: str | None
    signed_at: datetime
    purposes: list[str]
    locale: str  # the language signed
    visible_text: str  # exactly as shown when signing
    visible_sha256: str
    pn_masked: str | None
    provider: str | None  # the OpenID Provider's name, for a signature made at one


def receipt(session: Session, signer: Signer) -> Receipt | None:
    """What this signer signed, or None before they have."""
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
        locale=signature.locale,
        visible_text=signature.visible_text,
        visible_sha256=signature.visible_sha256,
        pn_masked=signature.pn_masked,
        provider=_oidc_provider(session, signer),
    )


def _oidc_provider(session: Session, signer: Signer) -> str | None:
    order = current_order(session, signer.id)
    return order.provider if order is not None and order.method == "oidc" else None


def sealed_record(session: Session, view: SigningView) -> Record | None:
    """The latest sealed record of what this link signed, once it has been produced."""
    if view.kind == "addendum":
        return records.latest_sealed(session, view.tenant_id, addendum_id=view.object_id)
    return records.latest_sealed(session, view.tenant_id, consent_id=view.object_id)
