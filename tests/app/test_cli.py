"""The ``samtycke`` command: tenants, clients, staff users, the demo seed."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from app.audit import AuditEvent
from app.cli import main
from app.models import ApiClient, StaffUser, Tenant
from tests.conftest import PG_ADMIN_URL, CliEnv, production_settings


@pytest.fixture(autouse=True)
def _no_demo_credentials(app: Flask) -> None:
    """The CLI shares the test app's instance folder: each test starts without the demo's credentials."""
    credentials_file(app).unlink(missing_ok=True)


def credentials_file(app: Flask) -> Path:
    return Path(app.instance_path) / "demo-credentials.json"


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


def token(client: FlaskClient, client_id: str, secret: str) -> Any:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )


def count(app: Flask, model: Any) -> int:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_tenant_create_prints_json_and_refuses_duplicates(app: Flask, cli_env: CliEnv) -> None:
    result = run("tenant", "create", "kommun", "--name", "Kommunen")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["slug"] == "kommun" and body["name"] == "Kommunen" and body["id"]
    again = run("tenant", "create", "kommun", "--name", "Other")
    assert again.exit_code != 0
    assert "already exists" in again.output
    assert count(app, Tenant) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("tenant", "create", "Bad Slug", "--name", "X"),
        ("tenant", "create", "ok", "--name", "  "),
        ("tenant", "create", "ok"),  # --name missing
        ("tenant", "nonsense"),
    ],
)
def test_tenant_create_bad_arguments(app: Flask, cli_env: CliEnv, args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code != 0
    assert count(app, Tenant) == 0


def test_client_create_json_gives_working_credentials(app: Flask, client: FlaskClient, cli_env: CliEnv) -> None:
    run("tenant", "create", "kommun", "--name", "Kommunen")
    result = run("client", "create", "--tenant", "kommun", "--scopes", "persons:read rights:read", "--json")
    assert result.exit_code == 0, result.output
    creds = json.loads(result.output)
    assert set(creds) == {"client_id", "client_secret"}
    resp = token(client, creds["client_id"], creds["client_secret"])
    assert resp.status_code == 200
    assert resp.get_json()["scope"] == "persons:read rights:read"
    bearer = {"Authorization": f"Bearer {resp.get_json()['access_token']}"}
    assert client.get("/api/v1/persons", headers=bearer).status_code == 200
    assert client.post("/api/v1/persons", json={"name": "A"}, headers=bearer).status_code == 403
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert creds["client_secret"] not in s.scalars(sa.select(ApiClient.secret_hash)).all()


@pytest.mark.parametrize(
    "args",
    [
        ("client", "create", "--tenant", "kommun", "--scopes", "persons:read everything", "--json"),
        ("client", "create", "--tenant", "nowhere", "--scopes", "persons:read", "--json"),
        ("client", "create", "--tenant", "kommun", "--scopes", "", "--json"),
        ("client", "create", "--tenant", "kommun"),  # --scopes missing
    ],
)
def test_client_create_bad_arguments(app: Flask, cli_env: CliEnv, args: tuple[str, ...]) -> None:
    run("tenant", "create", "kommun", "--name", "Kommunen")
    result = run(*args)
    assert result.exit_code != 0
    assert count(app, ApiClient) == 0


def test_user_create_reads_password_from_stdin(app: Flask, cli_env: CliEnv) -> None:
    from app.staff.accounts import authenticate

    run("tenant", "create", "kommun", "--name", "Kommunen")
    result = run(
        "user", "create", "--tenant", "kommun", "--email", "DPO@Kommun.se", "--role", "dpo", "--password-stdin",
        input="correct horse battery\n",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["email"] == "dpo@kommun.se" and body["role"] == "dpo"
    assert "correct horse" not in result.output
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert authenticate(s, "dpo@kommun.se", "correct horse battery") is not None
        assert authenticate(s, "dpo@kommun.se", "wrong password!") is None


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("--role", "dpo", "--password-stdin"), "\n"),  # empty password
        (("--role", "dpo", "--password-stdin"), "short\n"),
        (("--role", "admin", "--password-stdin"), "long enough password\n"),
        (("--password-stdin",), "long enough password\n"),  # --role missing
    ],
)
def test_user_create_bad_arguments(app: Flask, cli_env: CliEnv, args: tuple[str, ...], stdin: str) -> None:
    run("tenant", "create", "kommun", "--name", "Kommunen")
    result = run("user", "create", "--tenant", "kommun", "--email", "a@kommun.se", *args, input=stdin)
    assert result.exit_code != 0
    assert count(app, StaffUser) == 0


def test_user_create_duplicate_is_refused(app: Flask, cli_env: CliEnv) -> None:
    run("tenant", "create", "kommun", "--name", "Kommunen")
    args = ("user", "create", "--tenant", "kommun", "--email", "a@kommun.se", "--role", "viewer", "--password-stdin")
    assert run(*args, input="long enough password\n").exit_code == 0
    again = run(*args, input="long enough password\n")
    assert again.exit_code != 0 and "already exists" in again.output


def _snapshot(app: Flask) -> dict[str, Any]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        tables = ["tenants", "persons", "person_guardians", "asset_links", "purposes", "consent_templates",
                  "staff_users", "api_clients", "audit_events"]
        counts = {t: s.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
        head = s.scalar(sa.select(Tenant.audit_head).where(Tenant.slug == "demo"))
        return {"counts": counts, "head": head}


def test_demo_is_idempotent_and_its_credentials_work(app: Flask, client: FlaskClient, cli_env: CliEnv) -> None:
    from app.staff.accounts import authenticate

    first = run("demo")
    assert first.exit_code == 0, first.output
    after_first = _snapshot(app)
    second = run("demo")
    assert second.exit_code == 0, second.output
    assert second.output == first.output
    assert _snapshot(app) == after_first

    counts = after_first["counts"]
    assert counts["tenants"] == 1 and counts["persons"] == 4 and counts["person_guardians"] == 2
    assert counts["purposes"] == 3 and counts["consent_templates"] == 1
    assert counts["asset_links"] >= 5 and counts["staff_users"] == 1 and counts["api_clients"] == 1
    assert f"{cli_env['SAMTYCKE_BASE_URL']}/" in first.output and "curl" in first.output

    client_id = re.search(r"client_id:\s+(\S+)", first.output)
    secret = re.search(r"client_secret:\s+(\S+)", first.output)
    password = re.search(r"password:\s+(\S+)", first.output)
    assert client_id and secret and password
    resp = token(client, client_id.group(1), secret.group(1))
    assert resp.status_code == 200
    bearer = {"Authorization": f"Bearer {resp.get_json()['access_token']}"}
    persons = client.get("/api/v1/persons", headers=bearer).get_json()["items"]
    minors = [p for p in persons if p["is_minor"]]
    assert len(persons) == 4 and len(minors) == 1 and len(minors[0]["guardian_ids"]) == 2
    purposes = {p["key"] for p in client.get("/api/v1/purposes", headers=bearer).get_json()["items"]}
    assert {"web", "print", "social"} <= purposes
    assert client.get("/api/v1/assets/IMG_0001/persons", headers=bearer).get_json()["items"]
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert authenticate(s, "demo@samtycke.test", password.group(1)) is not None
    assert credentials_file(app).exists()
    verify = run("audit", "verify", "--tenant", "demo")
    assert verify.exit_code == 0, verify.output


def test_demo_template_text_hashes(app: Flask, cli_env: CliEnv) -> None:
    from app.crypto import sha256_hex
    from consent.models import ConsentTemplate

    assert run("demo").exit_code == 0
    with app.extensions["samtycke.sessionmaker"]() as s:
        template = s.scalars(sa.select(ConsentTemplate)).one()
    assert template.key == "photo-consent"
    for locale in ("sv", "nb", "en"):
        expected = sha256_hex(template.title[locale] + "\n\n" + template.body[locale])
        assert template.text_sha256[locale] == expected


def test_demo_is_refused_in_production(
    app: Flask, database: Any, cli_env: CliEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A production configuration that starts (PostgreSQL, https, real BankID), so the refusal is the demo's own.
    url = database.url if database.backend == "postgresql" else PG_ADMIN_URL
    for key, value in production_settings(tmp_path, url).items():
        if key not in ("INSTANCE_PATH", "SECRET_KEY", "DATA_KEY"):  # those of the CLI environment
            monkeypatch.setenv(f"SAMTYCKE_{key}", value)
    result = run("demo")
    assert result.exit_code != 0
    assert "The demo seed is for development only" in result.output
    assert count(app, Tenant) == 0
    assert not credentials_file(app).exists()
    assert count(app, AuditEvent) == 0
