"""Signing through an OpenID Provider: create the attempt and send the user there, then
verify the answer they bring back and record the signature (or the failure).

Services as in ``signing.services``; the protocol itself is ``signing.oidc``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.crypto import Keyring
from app.errors import DomainError, Gone, NotFound
from consent.models import Signer
from consent.personal_numbers import InvalidPersonalNumber, normalise
from consent.signatures import VerifiedIdentity
from signing import methods, oidc, services
from signing.bankid.client import BankIdClient
from signing.models import SignatureOrder

log = logging.getLogger(__name__)

# How long the OpenID round trip may take.
OIDC_TIMEOUT = timedelta(minutes=15)


class ProviderUnavailable(DomainError):
    status, slug, title = 503, "provider-unavailable", "Identity provider unavailable"


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
    locale: str | None,
    now: datetime,
    preferred: str | None = None,
) -> str:
    """Create the attempt and return the provider's authorization URL."""
    attempt = services.prepare_attempt(
        session, keyring, token=token, purposes=purposes, locale=locale, now=now, preferred=preferred
    )
    view = attempt.view
    methods.require_provider(view, provider)
    try:
        request = oidc.authorization_request(
            provider, http, redirect_uri=redirect_uri, sign_text=attempt.visible_text, locale=view.locale,
            required_personal_number=view.required_personal_number,
        )
    except oidc.OidcError as exc:
        log.warning("OIDC provider %s unusable: %s", provider.name, exc.code)
        raise ProviderUnavailable(f"The identity provider cannot be used now ({exc.code}).") from exc
    services.cancel_at_bankid(bankid, attempt.previous)
    services.add_order(
        session, attempt, method="oidc", provider=provider.name, end_user_ip=end_user_ip, now=now,
        oidc_state=request.state,
        oidc_nonce=request.nonce,
        oidc_code_verifier_enc=keyring.encrypt(request.code_verifier, context=f"oidc:{request.state}"),
    )
    return request.url


@dataclass(frozen=True)
class OidcOutcome:
    signer_id: str
    order_id: str
    status: str  # complete | failed
    failure_code: str | None
    locale: str  # the language of the text the person was signing


def _outcome(order: SignatureOrder) -> OidcOutcome:
    return OidcOutcome(
        order.signer_id, order.id, services.order_state(order).status, order.failure_code, order.locale
    )


def _fail(session: Session, order: SignatureOrder, code: str, now: datetime) -> OidcOutcome:
    services.fail(session, order, failure_code=code[:64], completed_at=now)
    return _outcome(order)


def normalised_personal_number(raw: str | None, country: str = "SE", *, test_numbers: bool = False) -> str | None:
    """The provider's claim as a number of its country (a broker writes it its own way: with or
    without separators or century), or None when it is none."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        return normalise(raw.strip(), country=country, test_numbers=test_numbers)
    except InvalidPersonalNumber:
        return None


def oidc_identity(
    provider: oidc.Provider, found: oidc.OidcIdentity, *, test_numbers: bool = False
) -> VerifiedIdentity:
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
        personal_number=normalised_personal_number(
            found.personal_number_raw, provider.country, test_numbers=test_numbers
        ),
        personal_number_country=provider.country,
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
    locale: str | None,
    now: datetime,
    test_numbers: bool = False,
) -> OidcOutcome:
    """The provider sent the user back: verify, then record the signature (or the failure).
    ``test_numbers``: whether test-only national numbers count (never in production)."""
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
        return _outcome(order)
    if now - order.started_at > OIDC_TIMEOUT:
        return _fail(session, order, "expired", now)
    if error:
        return _fail(session, order, error, now)
    if not code:
        return _fail(session, order, "invalid_request", now)
    provider = next((p for p in providers if p.name == order.provider), None)
    if provider is None:
        return _fail(session, order, "provider_removed", now)
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
        return _fail(session, order, exc.code, now)
    identity = oidc_identity(provider, found, test_numbers=test_numbers)
    services.finish(session, keyring, order, signer, identity, locale=locale, now=now)
    return _outcome(order)
