"""Which ways to sign a signer is offered: those that can prove their country's national identity
number. Swedish BankID (the native RP API) proves Swedish numbers; an OpenID Provider proves the
numbers of its configured ``country``. A Norwegian is not offered Swedish BankID, nor a Swede a
Norwegian provider; a start of a method not offered is refused, not only hidden."""

from __future__ import annotations

from collections.abc import Sequence

from app.errors import Forbidden
from consent.signatures import SigningView
from signing.oidc import Provider

BANKID_COUNTRY = "SE"


def bankid_offered(view: SigningView) -> bool:
    return view.signer_country == BANKID_COUNTRY


def providers_offered(view: SigningView, providers: Sequence[Provider]) -> list[Provider]:
    return [provider for provider in providers if provider.country == view.signer_country]


def require_bankid(view: SigningView) -> None:
    if not bankid_offered(view):
        raise Forbidden("Swedish BankID cannot prove this signer's national identity number; choose another method.")


def require_provider(view: SigningView, provider: Provider) -> None:
    if provider.country != view.signer_country:
        raise Forbidden(
            f"The identity provider {provider.name} proves numbers of {provider.country}, not of this signer's "
            "country; choose another method."
        )
