"""Staff single sign-on against a real (mock) OpenID Provider: code flow with PKCE, state and nonce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import transaction
from app.models import StaffUser

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
# The mock provider uses an authlib API that authlib itself marks deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture
def provider() -> Iterator[str]:
    users = [
        oidc_provider_mock.User(sub="sub-dpo", claims={"email": "Dpo@Acme.example", "email_verified": True}),
        oidc_provider_mock.User(sub="sub-unverified", claims={"email": "dpo@acme.example", "email_verified": False}),
        oidc_provider_mock.User(sub="sub-stranger", claims={"email": "who@else.example", "email_verified": True}),
        oidc_provider_mock.User(sub="sub-impostor", claims={"email": "dpo@acme.example", "email_verified": True}),
    ]
    with oidc_provider_mock.run_server_in_thread(require_nonce=True, user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def sso_app(make_app: Any, provider: str) -> Flask:
    app: Flask = make_app(STAFF_OIDC={
        "discovery_url": f"{provider}/.well-known/openid-configuration",
        "client_id": "samtycke-console", "client_secret": "not-so-secret", "tenant": "acme", "label": "Acme ID",
    })
    from app.auth import create_tenant
    from app.staff.accounts import create_user

    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as session:
        tenant = create_tenant(session, "acme", "Acme")
        create_user(session, tenant, "dpo@acme.example", "dpo", None)  # an SSO-only account
        other = create_tenant(session, "globex", "Globex")
        create_user(session, other, "who@else.example", "dpo", "a password 123")
    return app


def _sso(client: Any, subject: str) -> Any:
    start = client.get("/console/login/sso")
    assert start.status_code == 302
    authorize = start.headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    answer = httpx.post(authorize, data={"sub": subject}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.path == "/console/login/sso/callback"
    return client.get(f"{back.path}?{back.query}")


def test_sign_in_page_offers_single_sign_on(sso_app: Flask) -> None:
    html = sso_app.test_client().get("/?lang=en").get_data(as_text=True)
    assert 'href="/console/login/sso"' in html and "Sign in with Acme ID" in html


def test_single_sign_on_opens_the_matching_staff_account(sso_app: Flask) -> None:
    client = sso_app.test_client()
    response = _sso(client, "sub-dpo")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert '<nav class="console-nav"' in client.get("/").get_data(as_text=True)
    with sso_app.extensions["samtycke.sessionmaker"]() as session:
        user = session.scalar(sa.select(StaffUser).where(StaffUser.email == "dpo@acme.example"))
        assert user is not None and user.oidc_subject == "sub-dpo" and user.last_login_at is not None


@pytest.mark.parametrize("subject", ["sub-unverified", "sub-stranger"])
def test_single_sign_on_without_a_matching_account_is_refused(sso_app: Flask, subject: str) -> None:
    client = sso_app.test_client()
    response = _sso(client, subject)
    assert response.status_code == 200
    assert 'role="alert"' in response.get_data(as_text=True)
    assert client.get("/console/persons").status_code == 302


def test_account_stays_bound_to_its_first_identity(sso_app: Flask) -> None:
    assert _sso(sso_app.test_client(), "sub-dpo").status_code == 302
    impostor = sso_app.test_client()
    response = _sso(impostor, "sub-impostor")  # same e-mail, another subject at the provider
    assert response.status_code == 200
    assert impostor.get("/console/persons").status_code == 302


def test_a_forged_state_is_refused(sso_app: Flask) -> None:
    client = sso_app.test_client()
    client.get("/console/login/sso")
    response = client.get("/console/login/sso/callback?code=abc&state=forged")
    assert response.status_code == 200 and 'role="alert"' in response.get_data(as_text=True)
    assert client.get("/console/persons").status_code == 302


def test_single_sign_on_is_absent_unless_configured(client: Any) -> None:
    assert client.get("/console/login/sso").status_code == 404
    assert 'href="/console/login/sso"' not in client.get("/").get_data(as_text=True)


def test_a_disabled_account_is_refused_and_its_sso_session_ends(sso_app: Flask) -> None:
    from app.staff.accounts import disable_user

    client = sso_app.test_client()
    assert _sso(client, "sub-dpo").status_code == 302
    assert client.get("/console/persons").status_code == 200
    with sso_app.app_context(), transaction(sso_app.extensions["samtycke.sessionmaker"]) as session:
        user = session.scalar(sa.select(StaffUser).where(StaffUser.email == "dpo@acme.example"))
        assert user is not None
        disable_user(session, user, actor="cli")
    assert client.get("/console/persons").status_code == 302
    again = sso_app.test_client()
    response = _sso(again, "sub-dpo")
    assert response.status_code == 200 and 'role="alert"' in response.get_data(as_text=True)
    assert again.get("/console/persons").status_code == 302
