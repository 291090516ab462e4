"""Signing through a real OpenID Provider running locally (``oidc-provider-mock``):
authorization code + PKCE (S256), state and nonce, the id_token verified against the
provider's JWKS, the personal-number claim from configuration, and the OIDC Sweden
signature extension when the provider's discovery document advertises it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import pytest
import sqlalchemy as sa
from flask import Flask
from joserfc import jwt
from joserfc.jwk import OctKey
from signing_helpers import ADULT_PN, STRANGER_PN, Clock, World

from app.audit import AuditEvent
from app.db import transaction
from consent.models import Signature
from signing.models import SignatureOrder
from tests.browser import live_server

PN_CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"
CLIENT_SECRET = "a-client-secret-long-enough-for-hs256-keys!"


def _mock(sign_extension: bool = False) -> Flask:
    provider = oidc_provider_mock.app(require_nonce=True)
    if sign_extension:
        # This provider has no signature service of its own; advertising the extension in its
        # discovery document is what makes a relying party send a signature request.
        original = provider.view_functions["oidc-provider-mock.openid_config"]

        def openid_config() -> Any:
            data = original().get_json()
            data["scopes_supported"] = [*data["scopes_supported"], "https://id.oidc.se/scope/sign"]
            data["claims_parameter_supported"] = True
            return data

        provider.view_functions["oidc-provider-mock.openid_config"] = openid_config
    return provider


@pytest.fixture
def op(app: Flask, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    """A running OpenID Provider, configured in the app as provider "mock"."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the local provider speaks plain HTTP
    sign_extension = bool(getattr(request, "param", False))
    with live_server(_mock(sign_extension)) as url:
        monkeypatch.setitem(
            app.config,
            "OIDC_PROVIDERS",
            [
                {
                    "name": "mock",
                    "label": "Mock ID",
                    "discovery_url": f"{url}/.well-known/openid-configuration",
                    "client_id": "samtycke-test",
                    "client_secret": CLIENT_SECRET,
                    "scope": "openid profile",
                    "personal_number_claim": PN_CLAIM,
                }
            ],
        )
        yield url


def _user(op_url: str, sub: str, pn: str | None, **claims: Any) -> None:
    body = {"name": "Anna Andersson", "given_name": "Anna", "family_name": "Andersson", **claims}
    if pn:
        body[PN_CLAIM] = pn
    resp = httpx.put(f"{op_url}/users/{sub}", json=body)
    assert resp.status_code == 204, resp.text


def _authorize(location: str, sub: str | None, deny: bool = False) -> str:
    """Act as the user at the provider: open its page, then approve as ``sub`` or deny."""
    page = httpx.get(location)
    assert page.status_code == 200 and "Authorize" in page.text
    form = {"action": "deny"} if deny else {"sub": sub}
    answer = httpx.post(location, data=form)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def _callback(client: Any, redirect: str) -> Any:
    parts = urlsplit(redirect)
    assert parts.path == "/oidc/callback"
    return client.get(f"{parts.path}?{parts.query}")


def _signatures(app: Flask) -> list[Signature]:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        return list(s.scalars(sa.select(Signature)))


def test_oidc_signing_records_a_verified_signature(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult()
    page = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    assert "Sign with Mock ID" in page and f'formaction="/s/{token}/oidc/mock?lang=en"' in page
    _user(op, "anna", ADULT_PN)

    go = client.get(f"/s/{token}/oidc/mock?purposes=web,print&lang=en")  # as the English page goes on
    assert go.status_code == 302
    location = go.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(f"{op}/oauth2/authorize?")
    assert query["response_type"] == "code" and query["client_id"] == "samtycke-test"
    assert query["redirect_uri"] == "http://localhost/oidc/callback"
    assert query["scope"] == "openid profile" and query["prompt"] == "login"
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        order = s.scalars(sa.select(SignatureOrder)).one()
        assert order.method == "oidc" and order.oidc_state == query["state"] and order.oidc_nonce == query["nonce"]
        verifier = app.extensions["samtycke.keyring"].decrypt(
            order.oidc_code_verifier_enc, context=f"oidc:{order.oidc_state}"
        )
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == challenge and verifier not in location

    done = _callback(client, _authorize(location, "anna"))
    # Back on the receipt in the language the text was read in.
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/s/{token}/receipt?lang=en")
    [sig] = _signatures(app)
    assert sig.method == "oidc" and sig.signer_name == "Anna Andersson" and sig.purposes == ["web", "print"]
    assert sig.pn_masked and sig.pn_masked.startswith(ADULT_PN[:8])
    evidence = sig.evidence
    assert evidence["issuer"] == op and evidence["subject"] == "anna" and evidence["provider"] == "mock"
    assert evidence["claims"][PN_CLAIM] == ADULT_PN and evidence["claims"]["nonce"] == query["nonce"]
    assert evidence["id_token"].count(".") == 2 and "userSignature" not in evidence
    assert isinstance(evidence["auth_time"], int)
    assert world.consent_of(token)["status"] == "given"
    receipt = client.get(f"/s/{token}/receipt?lang=en").get_data(as_text=True)
    assert "Mock ID" in receipt and "Anna Andersson" in receipt

    # The provider's answer is used once: replaying it records nothing more.
    replay = _callback(client, f"/oidc/callback?state={query['state']}&code=again")
    assert replay.status_code == 303 and replay.headers["Location"].endswith(f"/s/{token}/receipt?lang=en")
    assert len(_signatures(app)) == 1
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        assert list(s.scalars(sa.select(AuditEvent.type))).count("signature.recorded") == 1


def test_oidc_wrong_person_is_refused(app: Flask, client: Any, world: World, clock: Clock, op: str) -> None:
    token = world.adult()
    _user(op, "sven", STRANGER_PN, name="Sven Svensson")
    go = client.get(f"/s/{token}/oidc/mock?purposes=web&lang=en")
    done = _callback(client, _authorize(go.headers["Location"], "sven"))
    assert done.status_code == 303
    assert f"/s/{token}?attempt=" in done.headers["Location"] and "lang=en" in done.headers["Location"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "another person than the one this link is for" in page and 'role="alert"' in page
    assert _signatures(app) == [] and world.consent_of(token)["status"] == "pending"


def test_oidc_without_a_personal_number_cannot_sign_a_bound_link(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult()
    _user(op, "anon", None)
    go = client.get(f"/s/{token}/oidc/mock?purposes=web")
    _callback(client, _authorize(go.headers["Location"], "anon"))
    assert _signatures(app) == []


def test_oidc_signing_without_a_known_number_takes_the_provider_identity(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult(pn=None)
    _user(op, "someone", STRANGER_PN, name="Sam Someone")
    go = client.get(f"/s/{token}/oidc/mock?purposes=web")
    done = _callback(client, _authorize(go.headers["Location"], "someone"))
    assert urlsplit(done.headers["Location"]).path.endswith("/receipt")
    [sig] = _signatures(app)
    assert sig.signer_name == "Sam Someone" and sig.pn_masked and sig.pn_masked.startswith(STRANGER_PN[:8])


def test_oidc_user_who_cancels_at_the_provider_sees_why(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult()
    go = client.get(f"/s/{token}/oidc/mock?purposes=web&lang=en")
    state = parse_qs(urlsplit(go.headers["Location"]).query)["state"][0]
    denied = _authorize(go.headers["Location"], None, deny=True)
    assert "error=access_denied" in denied
    # This provider leaves ``state`` out of its error answer: we cannot tell whose link it was.
    lost = _callback(client, denied + "&lang=en")
    assert lost.status_code == 400 and "Signing was cancelled at the identity provider." in lost.get_data(as_text=True)
    # With ``state``, as RFC 6749 asks, the attempt fails and the user is back on their page with the reason.
    done = _callback(client, f"/oidc/callback?error=access_denied&state={state}")
    assert done.status_code == 303 and f"/s/{token}?attempt=" in done.headers["Location"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Signing was cancelled at the identity provider." in page and 'role="alert"' in page
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        order = s.scalars(sa.select(SignatureOrder)).one()
        assert order.status == "failed" and order.failure_code == "access_denied"


def test_oidc_callback_with_a_forged_state_or_code_changes_nothing(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult()
    _user(op, "anna", ADULT_PN)
    go = client.get(f"/s/{token}/oidc/mock?purposes=web")
    state = parse_qs(urlsplit(go.headers["Location"]).query)["state"][0]
    unknown = client.get("/oidc/callback?state=forged&code=x&lang=en")
    assert unknown.status_code == 404 and "Traceback" not in unknown.get_data(as_text=True)
    forged_code = _callback(client, f"/oidc/callback?state={state}&code=not-a-real-code")
    assert forged_code.status_code == 303 and "attempt=" in forged_code.headers["Location"]
    assert _signatures(app) == []


def test_oidc_id_token_for_another_nonce_is_rejected(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult()
    _user(op, "anna", ADULT_PN)
    first = client.get(f"/s/{token}/oidc/mock?purposes=web").headers["Location"]
    redirect = _authorize(first, "anna")
    # The user starts again; the first answer now comes back with the second attempt's state.
    second = client.get(f"/s/{token}/oidc/mock?purposes=web").headers["Location"]
    second_state = parse_qs(urlsplit(second).query)["state"][0]
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    swapped = _callback(client, f"/oidc/callback?state={second_state}&code={code}")
    assert "attempt=" in swapped.headers["Location"]
    assert _signatures(app) == []
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        failure = s.scalars(sa.select(SignatureOrder.failure_code).where(SignatureOrder.status == "failed")).all()
    assert "invalid_id_token" in failure


def test_unknown_provider_and_empty_purpose_choice(client: Any, world: World, op: str) -> None:
    token = world.adult()
    assert client.get(f"/s/{token}/oidc/nobody").status_code == 404
    empty = client.post(f"/s/{token}/oidc/mock", json={"purposes": []})
    assert empty.status_code == 422 and empty.mimetype == "application/problem+json"


@pytest.mark.parametrize("op", [True], indirect=True)
def test_oidc_sweden_signature_extension_sends_the_text_and_keeps_user_signature(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult()
    _user(op, "anna", ADULT_PN, **{"https://id.oidc.se/claim/userSignature": "c2lnbmF0dXJl"})
    go = client.get(f"/s/{token}/oidc/mock?purposes=web")
    query = {k: v[0] for k, v in parse_qs(urlsplit(go.headers["Location"]).query).items()}
    assert "https://id.oidc.se/scope/sign" in query["scope"].split() and query["prompt"] == "login consent"
    sign_request = jwt.decode(query["https://id.oidc.se/param/signRequest"], OctKey.import_key(CLIENT_SECRET.encode()))
    assert sign_request.header["alg"] == "HS256" and sign_request.claims["iss"] == "samtycke-test"
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        visible = s.scalars(sa.select(SignatureOrder.visible_text)).one()
    assert base64.b64decode(sign_request.claims["tbs_data"]).decode() == visible
    assert json.loads(query["claims"])["id_token"][PN_CLAIM] == {"essential": True, "value": ADULT_PN}

    _callback(client, _authorize(go.headers["Location"], "anna"))
    [sig] = _signatures(app)
    assert sig.evidence["userSignature"] == "c2lnbmF0dXJl" and sig.visible_text == visible


def test_oidc_from_the_form_without_javascript_goes_on_by_a_link(
    app: Flask, client: Any, world: World, clock: Clock, op: str
) -> None:
    token = world.adult()
    page = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    # A form post may not redirect to another origin (CSP form-action 'self'): the answer is a link on.
    answer = client.post(f"/s/{token}/oidc/mock?lang=en", data={"csrf_token": csrf, "purposes": ["print"]})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Continue to Mock ID" in html
    href = re.search(r'id="continue-link" href="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert urlsplit(href).path == f"/s/{token}/oidc/mock"
    assert parse_qs(urlsplit(href).query) == {"purposes": ["print"], "lang": ["en"]}
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        assert s.scalars(sa.select(SignatureOrder)).all() == []  # nothing starts before the user goes on
    empty = client.post(f"/s/{token}/oidc/mock?lang=en", data={"csrf_token": csrf})
    assert empty.status_code == 422 and "Choose at least one purpose" in empty.get_data(as_text=True)
    go = client.get(href)
    assert go.status_code == 302 and go.headers["Location"].startswith(f"{op}/oauth2/authorize?")


@pytest.mark.browser
def test_oidc_signing_in_the_browser(
    browser: Any, live_url: str, app: Flask, world: World, op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    from tests.browser import wait_for

    monkeypatch.setitem(app.config, "BASE_URL", live_url)  # the provider sends the browser back here
    token = world.adult()
    _user(op, "anna", ADULT_PN)
    browser.get(f"{live_url}/s/{token}?lang=en")
    for box in ("purpose-1", "purpose-3"):  # nothing is pre-ticked: tick Website and Social media
        browser.find_element(By.ID, box).click()
    browser.find_element(By.XPATH, "//button[contains(., 'Sign with Mock ID')]").click()
    wait_for(browser, lambda d: d.current_url.startswith(f"{op}/oauth2/authorize"), message="at the provider")
    browser.find_element(By.NAME, "sub").send_keys("anna")
    browser.find_element(By.XPATH, "//button[normalize-space()='Authorize']").click()
    wait_for(browser, lambda d: d.current_url.endswith(f"/s/{token}/receipt?lang=en"), timeout=15, message="receipt")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "Mock ID" in text and "Website" in text and "Social media" in text and "Print" not in text
    [sig] = _signatures(app)
    assert sig.purposes == ["web", "social"]
