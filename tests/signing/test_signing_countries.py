"""Signing methods by country, with the same real OpenID Provider as tests/signing/test_signing_oidc.py
(``oidc-provider-mock``) configured as a Norwegian broker (BankID Norge's ``nnin`` claim) next to a
Swedish one: a signer is offered the methods that can prove their country's number, the number in the
claim is read and compared within the provider's country, and each method is named so a reader cannot
mistake Swedish BankID for their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from flask import Flask
from signing_helpers import ADULT_PN, Clock, World, token_of
from test_signing_oidc import CLIENT_SECRET, PN_CLAIM, _authorize, _callback, _mock, _signatures

from consent.models import Signature
from signing.models import SignatureOrder
from tests.browser import live_server
from tests.consent.test_national_numbers import no_numbers

NNIN = "nnin"
NORWEGIAN = no_numbers("150786")[0]
OTHER_NORWEGIAN = no_numbers("010190", start=100)[0]
NORWEGIAN_LABELS = {"sv": "Norskt BankID", "nb": "BankID (Norge)", "en": "Norwegian BankID"}


@pytest.fixture
def ops(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One running provider, configured twice: "bankid-no" (NO, ``nnin``) and "oidc-se" (SE)."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with live_server(_mock()) as url:
        common = {
            "discovery_url": f"{url}/.well-known/openid-configuration",
            "client_id": "samtycke-test",
            "client_secret": CLIENT_SECRET,
        }
        monkeypatch.setitem(app.config, "OIDC_PROVIDERS", [
            {"name": "bankid-no", "label": NORWEGIAN_LABELS, "country": "NO", "personal_number_claim": NNIN,
             **common},
            {"name": "oidc-se", "label": "Freja eID", "country": "SE", "personal_number_claim": PN_CLAIM, **common},
        ])
        yield url


def _user(op_url: str, sub: str, **claims: Any) -> None:
    body = {"name": "Ola Nordmann", "given_name": "Ola", "family_name": "Nordmann", **claims}
    assert httpx.put(f"{op_url}/users/{sub}", json=body).status_code == 204


def _norwegian(world: World, number: str = NORWEGIAN) -> str:
    resp = world.api.post("/api/v1/persons", json={"name": "Ola Nordmann", "country": "NO", "personal_number": number})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return token_of(world.ask(resp.get_json()["id"])["signers"][0]["signing_url"])


def test_a_norwegian_is_offered_norwegian_methods_only(client: Any, world: World, ops: str) -> None:
    token = _norwegian(world)
    for lang, label in NORWEGIAN_LABELS.items():
        page = client.get(f"/s/{token}?lang={lang}").get_data(as_text=True)
        assert f'formaction="/s/{token}/oidc/bankid-no?lang={lang}"' in page, lang
        assert label in page, lang
        assert "/oidc/oidc-se" not in page and 'name="device"' not in page, lang  # no Swedish method
    # Hidden is not enough: a start of a method that cannot prove a Norwegian number is refused.
    assert client.post(f"/s/{token}/bankid/start", json={"device": "other", "purposes": ["web"]}).status_code == 403
    assert client.get(f"/s/{token}/oidc/oidc-se?purposes=web").status_code == 403


def test_a_swede_is_offered_swedish_methods_labelled_as_swedish(client: Any, world: World, ops: str) -> None:
    token = world.adult()
    expected = {"en": "Swedish BankID on this device", "nb": "Svensk BankID på denne enheten",
                "sv": "BankID på den här enheten"}
    for lang, button in expected.items():
        page = client.get(f"/s/{token}?lang={lang}").get_data(as_text=True)
        assert button in page and "Freja eID" in page, lang
        assert "/oidc/bankid-no" not in page, lang
    assert client.get(f"/s/{token}/oidc/bankid-no?purposes=web").status_code == 403


def test_a_norwegian_signs_through_a_norwegian_provider(
    app: Flask, client: Any, world: World, clock: Clock, ops: str
) -> None:
    token = _norwegian(world)
    _user(ops, "ola", **{NNIN: NORWEGIAN[:6] + " " + NORWEGIAN[6:]})  # a broker may write it spaced
    go = client.get(f"/s/{token}/oidc/bankid-no?purposes=web&lang=nb")
    assert go.status_code == 302
    done = _callback(client, _authorize(go.headers["Location"], "ola"))
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/s/{token}/receipt?lang=nb")
    [sig] = _signatures(app)
    assert sig.method == "oidc" and sig.pn_masked == "150786 *****"
    assert world.consent_of(token)["status"] == "given"
    receipt = client.get(f"/s/{token}/receipt?lang=nb").get_data(as_text=True)
    assert "BankID (Norge)" in receipt and NORWEGIAN not in receipt


@pytest.mark.parametrize("claimed", [OTHER_NORWEGIAN, ADULT_PN])
def test_another_number_in_the_claim_is_refused_for_a_norwegian(
    app: Flask, client: Any, world: World, clock: Clock, ops: str, claimed: str
) -> None:
    # Another Norwegian, or a Swede's number (which is no fødselsnummer at all).
    token = _norwegian(world)
    _user(ops, "someone", **{NNIN: claimed})
    go = client.get(f"/s/{token}/oidc/bankid-no?purposes=web&lang=en")
    done = _callback(client, _authorize(go.headers["Location"], "someone"))
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "another person than the one this link is for" in page
    assert _signatures(app) == [] and world.consent_of(token)["status"] == "pending"
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert s.scalars(sa.select(SignatureOrder.failure_code)).one() == "wrongPerson"
        assert s.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0


def test_a_swedes_number_from_a_norwegian_provider_does_not_pass_as_swedish(
    app: Flask, client: Any, world: World, clock: Clock, ops: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the Norwegian provider offered to a Swede (it is not), its claim would be read as Norwegian:
    # the same digits compared across countries never match.
    from consent.signatures import VerifiedIdentity
    from signing import oidc_flow
    from signing.oidc import Provider, provider_named

    provider = provider_named(app.config, "bankid-no")
    assert isinstance(provider, Provider) and provider.country == "NO"
    found = type("Found", (), {
        "issuer": "x", "subject": "s", "id_token": "a.b.c", "claims": {}, "auth_time": None, "acr": None,
        "amr": None, "user_signature": None, "personal_number_raw": ADULT_PN, "name": "Anna",
        "given_name": None, "family_name": None,
    })()
    identity: VerifiedIdentity = oidc_flow.oidc_identity(provider, found)  # type: ignore[arg-type]
    assert identity.personal_number is None and identity.personal_number_country == "NO"


def test_a_provider_with_an_unknown_country_is_a_named_configuration_error() -> None:
    from app.config import ConfigError, check_identity_providers
    from signing.oidc import Provider

    entry = {"name": "x", "label": "X", "discovery_url": "https://x/.well-known/openid-configuration",
             "client_id": "c", "client_secret": "s", "country": "IS"}
    with pytest.raises(ConfigError, match=r"SAMTYCKE_OIDC_PROVIDERS\[0\]: country must be one of SE, NO, DK, FI"):
        check_identity_providers({"OIDC_PROVIDERS": [entry]})
    with pytest.raises(ValueError, match="country"):
        Provider.from_config(entry)
    swedish = Provider.from_config({**entry, "country": None})
    assert swedish.country == "SE" and swedish.label_for("nb") == "X"  # as before providers had a country
