"""Signing out, and changing or disabling an account, ends every copy of the session cookie.

The session is a server-side row: a cookie copied before the sign-out (or before the
account changed) signs its holder out, its CSRF token buys nothing, and this holds
for another web process and for a change made by another process (the CLI).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from app.audit import AuditEvent
from app.cli import main
from app.models import StaffSession, Tenant
from consent.models import Person
from tests.conftest import CliEnv
from tests.console_world import PASSWORD, audit_seq, english, sign_in, token_for

ROOT = Path(__file__).resolve().parents[3]
COOKIE = "samtycke_session"


def _cli(*args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(main, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _replaying(app: Flask, cookie: str) -> FlaskClient:
    """A browser that sends exactly this cookie (an attacker ignores the cookie the server clears)."""
    client = english(app.test_client())
    client.set_cookie(COOKIE, cookie)
    return client


def _persons(app: Flask) -> int:
    with app.extensions["samtycke.sessionmaker"]() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Person)) or 0)


def _assert_signed_out(app: Flask, cookie: str, csrf: str, tenant_id: str) -> None:
    """What the holder of the old cookie sees: the sign-in page, and a write that changes nothing."""
    page = _replaying(app, cookie).get("/console/persons")
    assert page.status_code == 302 and page.headers["Location"].startswith("/?next=")
    home = _replaying(app, cookie).get("/").get_data(as_text=True)
    assert 'name="password"' in home and '<nav class="console-nav"' not in home
    persons, seq = _persons(app), audit_seq(app, tenant_id)
    # The old CSRF token still matches the old cookie (so this is not a 400): the ended session stops it.
    write = _replaying(app, cookie).post("/console/persons/new", data={"name": "Mallory Replay", "csrf_token": csrf})
    assert write.status_code == 302 and write.headers["Location"] == "/"
    assert (_persons(app), audit_seq(app, tenant_id)) == (persons, seq)


def _signed_in_dpo(app: Flask, make_staff: Any, email: str | None = None) -> tuple[FlaskClient, str, str, str]:
    """A DPO's browser, signed in; returns it, its cookie, a page's CSRF token and the tenant id."""
    client = english(app.test_client())
    email = email or make_staff("dpo")
    assert sign_in(client, email).status_code == 302
    csrf = token_for(client, "/console/persons/new")
    cookie = _cookie(client)
    # The session works before anything happens to it: a copy of the cookie writes as the owner.
    ok = _replaying(app, cookie).post("/console/persons/new", data={"name": "Anna Before", "csrf_token": csrf})
    assert ok.status_code == 302 and "/console/persons/" in ok.headers["Location"]
    with app.extensions["samtycke.sessionmaker"]() as session:
        tenant_id = session.scalar(sa.select(Tenant.id).where(Tenant.slug == "acme"))
    assert tenant_id
    return client, cookie, csrf, tenant_id


def test_a_copied_cookie_dies_with_the_sign_out(app: Flask, make_staff: Any) -> None:
    owner, cookie, csrf, tenant_id = _signed_in_dpo(app, make_staff)
    assert _replaying(app, cookie).get("/console/persons").status_code == 200  # a copy works while signed in

    assert owner.post("/console/logout", data={"csrf_token": csrf}).status_code == 302
    _assert_signed_out(app, cookie, csrf, tenant_id)
    with app.extensions["samtycke.sessionmaker"]() as session:
        ended = session.scalar(sa.select(StaffSession))
        types = list(session.scalars(sa.select(AuditEvent.type).where(AuditEvent.tenant_id == tenant_id)))
    assert ended is not None and ended.ended_at is not None and ended.end_reason == "logout"
    assert "staff.logout" in types
    # Signing in again opens a new session; the old cookie stays dead.
    assert sign_in(owner, make_staff("dpo")).status_code == 302
    assert owner.get("/console/persons").status_code == 200
    assert _replaying(app, cookie).get("/console/persons").status_code == 302


def test_another_web_process_honours_the_sign_out(app: Flask, make_app: Any, make_staff: Any) -> None:
    other_app = make_app()  # a second app on the same database, as another worker or machine would be
    owner, cookie, csrf, tenant_id = _signed_in_dpo(app, make_staff)
    assert _replaying(other_app, cookie).get("/console/persons").status_code == 200
    owner.post("/console/logout", data={"csrf_token": csrf})
    _assert_signed_out(other_app, cookie, csrf, tenant_id)


@pytest.mark.parametrize(
    ("command", "stdin", "reason"),
    [
        (("user", "set-role", "--role", "viewer"), None, "role"),
        (("user", "disable"), None, "disabled"),
        (("user", "set-password", "--password-stdin"), "a brand new password 2\n", "password"),
        (("user", "end-sessions"), None, "revoked"),
    ],
)
def test_an_account_change_ends_every_session_of_the_account(
    app: Flask, make_staff: Any, cli_env: CliEnv, command: tuple[str, ...], stdin: str | None, reason: str
) -> None:
    email = make_staff("dpo")
    _, laptop, csrf, tenant_id = _signed_in_dpo(app, make_staff, email)
    phone = english(app.test_client())
    sign_in(phone, email)
    assert phone.get("/console/persons").status_code == 200
    phone_csrf = token_for(phone, "/console/persons/new")

    result = _cli(*command, "--tenant", "acme", "--email", email, input=stdin)
    assert '"sessions_ended": 2' in result.output
    _assert_signed_out(app, laptop, csrf, tenant_id)
    _assert_signed_out(app, _cookie(phone), phone_csrf, tenant_id)
    with app.extensions["samtycke.sessionmaker"]() as session:
        reasons = set(session.scalars(sa.select(StaffSession.end_reason)))
    assert reasons == {reason}


def test_a_disabled_account_cannot_sign_in_until_enabled(app: Flask, make_staff: Any, cli_env: CliEnv) -> None:
    email = make_staff("editor")
    _cli("user", "disable", "--tenant", "acme", "--email", email)
    client = english(app.test_client())
    refused = sign_in(client, email, PASSWORD)
    assert refused.status_code == 200 and 'role="alert"' in refused.get_data(as_text=True)
    assert client.get("/console/persons").status_code == 302
    _cli("user", "enable", "--tenant", "acme", "--email", email)
    assert sign_in(client, email, PASSWORD).status_code == 302
    assert client.get("/console/persons").status_code == 200


def test_a_new_password_replaces_the_old_one(app: Flask, make_staff: Any, cli_env: CliEnv) -> None:
    email = make_staff("viewer")
    _cli("user", "set-password", "--tenant", "acme", "--email", email, "--password-stdin",
         input="another password 99\n")
    client = english(app.test_client())
    assert sign_in(client, email, PASSWORD).status_code == 200  # the old password no longer opens it
    assert sign_in(client, email, "another password 99").status_code == 302


def test_a_role_change_shows_in_the_next_session(app: Flask, make_staff: Any, cli_env: CliEnv) -> None:
    email = make_staff("dpo")
    _cli("user", "set-role", "--tenant", "acme", "--email", email, "--role", "viewer")
    client = english(app.test_client())
    sign_in(client, email)
    assert "(Viewer)" in client.get("/").get_data(as_text=True)
    assert client.get("/console/persons/new").status_code == 403


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user", "set-role", "--role", "owner"), None, "Invalid value"),
        (("user", "set-password", "--password-stdin"), "short\n", "at least 10"),
        (("user", "set-password"), None, "--password-stdin"),
        (("user", "disable", "--email", "nobody@acme.example"), None, "No staff account"),
    ],
)
def test_account_commands_refuse_bad_input_and_change_nothing(
    app: Flask, make_staff: Any, cli_env: CliEnv, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    email = make_staff("dpo")
    client, _, _, _ = _signed_in_dpo(app, make_staff, email)
    email_args = () if "--email" in args else ("--email", email)
    result = CliRunner().invoke(main, [*args, "--tenant", "acme", *email_args], input=stdin)
    assert result.exit_code != 0 and message in result.output
    assert client.get("/console/persons").status_code == 200
    assert sign_in(english(app.test_client()), email).status_code == 302


def test_a_change_made_by_another_process_ends_the_session(
    app: Flask, make_staff: Any, cli_env: CliEnv
) -> None:
    _, cookie, csrf, tenant_id = _signed_in_dpo(app, make_staff)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "user", "end-sessions", "--tenant", "acme", "--email", "dpo@acme.example"],
        cwd=ROOT, env={**os.environ, **cli_env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    _assert_signed_out(app, cookie, csrf, tenant_id)
