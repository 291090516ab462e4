"""Revoking an API client ends its tokens: at once in the database, within TOKEN_CACHE_SECONDS in a process."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from app.audit import AuditEvent
from app.cli import main
from app.db import transaction, utcnow
from app.models import ApiClient, ApiToken
from tests.conftest import CliEnv


@pytest.fixture
def cache_seconds(app: Flask) -> Any:
    """Set TOKEN_CACHE_SECONDS for one test, restoring it afterwards."""
    before = app.config["TOKEN_CACHE_SECONDS"]

    def set_to(seconds: float) -> None:
        app.config["TOKEN_CACHE_SECONDS"] = seconds

    yield set_to
    app.config["TOKEN_CACHE_SECONDS"] = before


def _new_token(app: Flask, client_id: str, secret: str) -> Any:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})


def _refused(response: Any) -> bool:
    return bool(response.status_code == 401 and response.mimetype == "application/problem+json"
                and response.get_json()["error"] == "invalid_token")


def test_a_revoked_clients_tokens_are_refused(app: Flask, make_api: Any, cache_seconds: Any) -> None:
    cache_seconds(0)
    api = make_api("acme")
    assert api.get("/api/v1/purposes").status_code == 200
    # Only the client is marked revoked (as an older release or a hand-made fix would leave it):
    # its token row is untouched, and still the token no longer opens anything.
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        s.execute(sa.update(ApiClient).where(ApiClient.client_id == api.client_id).values(revoked_at=utcnow()))
    assert _refused(api.get("/api/v1/purposes"))
    assert _refused(api.post("/api/v1/persons", json={"name": "Eve"}))


def test_client_revoke_ends_its_tokens_and_its_logins(
    app: Flask, make_api: Any, cli_env: CliEnv, cache_seconds: Any
) -> None:
    cache_seconds(0)
    api, bystander = make_api("acme"), make_api("acme")
    assert api.get("/api/v1/purposes").status_code == 200

    result = CliRunner().invoke(main, ["client", "revoke", api.client_id])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["client_id"] == api.client_id and body["revoked_at"] and body["tokens_revoked"] == 1

    assert _refused(api.get("/api/v1/purposes"))
    again = _new_token(app, api.client_id, api.secret)
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_client"
    assert bystander.get("/api/v1/purposes").status_code == 200  # another client of the tenant is untouched
    with app.extensions["samtycke.sessionmaker"]() as s:
        token = s.scalar(sa.select(ApiToken).join(ApiClient).where(ApiClient.client_id == api.client_id))
        events = list(s.scalars(sa.select(AuditEvent).where(AuditEvent.type == "client.revoked")))
    assert token is not None and token.revoked_at is not None
    assert len(events) == 1 and events[0].tenant_id == api.tenant_id and events[0].refs["tokens_revoked"] == 1

    listed = CliRunner().invoke(main, ["client", "list", "--tenant", "acme", "--json"])
    assert listed.exit_code == 0, listed.output
    states = {c["client_id"]: c["revoked_at"] is not None for c in json.loads(listed.output)}
    assert states == {api.client_id: True, bystander.client_id: False}
    assert "secret" not in listed.output


def test_revoking_an_unknown_client_fails(app: Flask, make_api: Any, cli_env: CliEnv) -> None:
    api = make_api("acme")
    result = CliRunner().invoke(main, ["client", "revoke", "smt_nonexistent"])
    assert result.exit_code != 0 and "No API client" in result.output
    assert api.get("/api/v1/purposes").status_code == 200


def test_a_cached_token_dies_within_the_cache_time(app: Flask, make_api: Any, cache_seconds: Any) -> None:
    from app.auth import revoke_client

    ttl = 1.5
    cache_seconds(ttl)
    api = make_api("acme")
    assert api.get("/api/v1/purposes").status_code == 200  # validated, and now trusted by this process
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        revoke_client(s, api.client_id)
    revoked_at = time.monotonic()
    # The process may trust what it validated a moment ago, but no longer than the cache time.
    deadline = revoked_at + ttl + 0.2
    while not _refused(api.get("/api/v1/purposes")):
        assert time.monotonic() < deadline, "the revoked token outlived TOKEN_CACHE_SECONDS"
        time.sleep(0.1)
