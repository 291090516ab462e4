"""Staff sign-in, sign-out, lock-out, rate limit, session rotation and expiry, tenant choice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.db import utcnow
from app.models import StaffSession, StaffUser
from tests.console_world import PASSWORD, csrf_of, english, sign_in, token_for


def _staff_row(app: Flask, email: str) -> StaffUser:
    with app.extensions["samtycke.sessionmaker"]() as session:
        row = session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        assert row is not None
        return row


def test_home_signed_out_is_one_form_with_email_and_password(client: Any) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("<form") == 1
    assert 'type="email"' in html and 'name="email"' in html
    assert 'type="password"' in html and 'name="password"' in html
    assert 'autocomplete="current-password"' in html
    assert "<nav" not in html  # no console navigation before sign-in


def test_sign_in_then_dashboard_then_sign_out(app: Flask, client: Any, make_staff: Any) -> None:
    email = make_staff("dpo")
    response = sign_in(client, email)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/?lang=en").get_data(as_text=True)
    assert "<h1>Dashboard</h1>" in home
    assert '<nav class="console-nav"' in home and email in home
    assert _staff_row(app, email).last_login_at is not None

    out = client.post("/console/logout", data={"csrf_token": csrf_of(home)})
    assert out.status_code == 302
    after = client.get("/").get_data(as_text=True)
    assert 'name="password"' in after and '<nav class="console-nav"' not in after
    assert client.get("/console/persons").status_code == 302


def test_logout_is_post_only(client: Any) -> None:
    assert client.get("/console/logout").status_code == 405


def test_wrong_password_is_refused_and_counted(app: Flask, client: Any, make_staff: Any) -> None:
    email = make_staff("viewer")
    response = sign_in(client, email, "not the password")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'role="alert"' in html and 'name="password"' in html
    assert "value=\"not the password\"" not in html  # the password is never echoed back
    assert client.get("/console/persons").status_code == 302
    assert _staff_row(app, email).failed_logins == 1


def test_unknown_email_gets_the_same_answer(client: Any, make_staff: Any) -> None:
    make_staff("viewer")
    wrong_password = sign_in(client, "viewer@acme.example", "nope nope nope").get_data(as_text=True)
    unknown = sign_in(client, "nobody@acme.example", "nope nope nope").get_data(as_text=True)
    strip = lambda html: html.split('name="csrf_token"')[0]  # noqa: E731 - tokens differ
    assert strip(wrong_password).replace("viewer@", "X@") == strip(unknown).replace("nobody@", "X@")


def test_lock_out_after_repeated_failures(app: Flask, client: Any, make_staff: Any) -> None:
    email = make_staff("dpo")
    threshold = app.config["LOGIN_LOCKOUT_THRESHOLD"]
    for _ in range(threshold):
        sign_in(client, email, "wrong password!")
    row = _staff_row(app, email)
    assert row.locked_until is not None and row.locked_until > utcnow()
    # Even the right password does not open a locked account.
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 200
    assert client.get("/console/persons").status_code == 302
    from app.audit import AuditEvent

    with app.extensions["samtycke.sessionmaker"]() as session:
        types = list(session.scalars(sa.select(AuditEvent.type).where(AuditEvent.tenant_id == row.tenant_id)))
    assert "staff.locked" in types


def test_lock_out_ends_after_its_time(app: Flask, client: Any, make_staff: Any) -> None:
    email = make_staff("dpo")
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        row = session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
        row.locked_until = utcnow() - timedelta(seconds=1)
    assert sign_in(client, email).status_code == 302


def test_login_is_rate_limited(make_app: Any, make_staff: Any) -> None:
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    from app import limiter

    limiter.reset()
    client = app.test_client()
    statuses = [sign_in(client, "someone@acme.example", "wrong password").status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    limiter.reset()


def test_session_rotates_on_sign_in(client: Any, make_staff: Any) -> None:
    email = make_staff("editor")
    before = token_for(client, "/console/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    sign_in(client, email)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("sid")
    after = token_for(client, "/")
    assert after != before


def test_session_cookie_flags(client: Any, make_staff: Any) -> None:
    response = sign_in(client, make_staff("viewer"))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookie_and_hsts_behind_https(make_app: Any) -> None:
    app = make_app(BASE_URL="https://samtycke.example")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/", base_url="https://samtycke.example")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_security_headers_on_console_pages(client: Any) -> None:
    headers = client.get("/").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"


def _age_sessions(app: Flask, **ago: timedelta) -> None:
    """Move every staff session's clock back (``created_at``/``last_seen_at``), as if time had passed."""
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        for row in session.scalars(sa.select(StaffSession)):
            for column, delta in ago.items():
                setattr(row, column, getattr(row, column) - delta)


def test_idle_session_expires(app: Flask, client: Any, make_staff: Any) -> None:
    sign_in(english(client), make_staff("dpo"))
    assert client.get("/console/persons").status_code == 200
    _age_sessions(app, last_seen_at=timedelta(minutes=31))
    response = client.get("/console/persons")
    assert response.status_code == 302
    with client.session_transaction() as sess:
        assert "sid" not in sess
    assert "the session expired" in client.get("/console/login").get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.scalar(sa.select(StaffSession.end_reason)) == "expired"


def test_session_ends_after_its_maximum_age_even_when_busy(app: Flask, client: Any, make_staff: Any) -> None:
    sign_in(client, make_staff("dpo"))
    _age_sessions(app, created_at=timedelta(hours=12, minutes=1))
    assert client.get("/console/persons").status_code == 302


def test_next_goes_back_but_never_off_site(client: Any, make_staff: Any) -> None:
    email = make_staff("dpo")
    redirect = client.get("/console/consents?status=given")
    assert redirect.status_code == 302 and "next=" in redirect.headers["Location"]
    page = client.get(redirect.headers["Location"])
    html = page.get_data(as_text=True)
    assert 'value="/console/consents?status=given"' in html
    response = client.post("/console/login", data={
        "email": email, "password": PASSWORD, "next": "/console/consents?status=given", "csrf_token": csrf_of(html)})
    assert response.headers["Location"] == "/console/consents?status=given"
    client.post("/console/logout", data={"csrf_token": token_for(client, "/")})
    page = client.get("/console/login").get_data(as_text=True)
    response = client.post("/console/login", data={
        "email": email, "password": PASSWORD, "next": "//evil.example/", "csrf_token": csrf_of(page)})
    assert response.headers["Location"] == "/"


def test_same_email_in_two_tenants_asks_which(app: Flask, client: Any, make_staff: Any) -> None:
    make_staff("dpo", slug="acme", email="kim@example.se")
    make_staff("viewer", slug="globex", email="kim@example.se")
    response = sign_in(client, "kim@example.se")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/login/organisation")
    page = client.get("/console/login/organisation")
    html = page.get_data(as_text=True)
    assert "Acme" in html and "Globex" in html
    assert client.get("/console/persons").status_code == 302  # not signed in yet
    globex_choice = next(
        value for value, label in _radio_options(html) if label == "Globex"
    )
    chosen = client.post("/console/login/organisation", data={"tenant": globex_choice, "csrf_token": csrf_of(html)})
    assert chosen.status_code == 302
    home = client.get("/?lang=en").get_data(as_text=True)
    assert "Globex" in home and "(Viewer)" in home


def test_same_email_only_one_password_matches_signs_straight_in(client: Any, make_staff: Any) -> None:
    make_staff("dpo", slug="acme", email="lo@example.se", password="first password 1")
    make_staff("viewer", slug="globex", email="lo@example.se", password="second password 2")
    response = sign_in(client, "lo@example.se", "second password 2")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Globex" in client.get("/").get_data(as_text=True)


def test_tenant_choice_refuses_an_account_not_offered(client: Any, make_staff: Any, app: Flask) -> None:
    make_staff("dpo", slug="acme", email="kim@example.se")
    make_staff("viewer", slug="globex", email="kim@example.se")
    stranger = _staff_row(app, make_staff("dpo", slug="initech"))
    sign_in(client, "kim@example.se")
    html = client.get("/console/login/organisation").get_data(as_text=True)
    response = client.post("/console/login/organisation", data={"tenant": stranger.id, "csrf_token": csrf_of(html)})
    assert response.status_code == 422
    assert client.get("/console/persons").status_code == 302


def _radio_options(html: str) -> list[tuple[str, str]]:
    import re

    ids = dict(re.findall(r'<input id="([^"]+)" name="tenant"[^>]*type="radio" value="([^"]+)"', html))
    labels = dict(re.findall(r'<label for="([^"]+)">([^<]+)</label>', html))
    return [(value, labels[id_].strip()) for id_, value in ids.items()]
