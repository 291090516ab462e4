"""Production fails closed: settings that would quietly weaken it stop the service at start-up.

A production app here points at the test PostgreSQL database; none of these tests
needs it to answer, since the engine connects lazily.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.config import ConfigError
from tests.conftest import production_settings

PG_URL = os.environ.get("SAMTYCKE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REAL_BANKID = "https://appapi2.bankid.com/rp/v6.0/"


@pytest.fixture
def production(tmp_path: Path) -> dict[str, Any]:
    return production_settings(tmp_path, PG_URL)


def in_environment(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]) -> None:
    """Put ``config`` into the environment as an operator would (and nothing else of ours)."""
    for name in list(os.environ):
        if name.startswith("SAMTYCKE_") and not name.startswith("SAMTYCKE_TEST"):
            monkeypatch.delenv(name)
    for key, value in config.items():
        monkeypatch.setenv(f"SAMTYCKE_{key}", str(value))


def refusal(config: dict[str, Any] | None) -> str:
    with pytest.raises(ConfigError) as caught:
        create_app(config)
    return str(caught.value)


def test_a_complete_production_configuration_starts(production: dict[str, Any], monkeypatch: Any) -> None:
    assert create_app(production).config["ENV"] == "production"
    in_environment(monkeypatch, production)
    assert create_app().config["BANKID"] == REAL_BANKID


# --- item 8: the BankID simulator never runs in production -----------------------------------


@pytest.mark.parametrize("bankid", [None, "simulator"])
def test_production_refuses_the_bankid_simulator(
    production: dict[str, Any], monkeypatch: pytest.MonkeyPatch, bankid: str | None
) -> None:
    config = {k: v for k, v in production.items() if k != "BANKID"}
    if bankid is not None:
        config["BANKID"] = bankid
    messages = [refusal(config)]
    in_environment(monkeypatch, config)
    messages.append(refusal(None))
    for message in messages:
        assert "SAMTYCKE_BANKID must be the https:// base URL of the real BankID RP API" in message
        # Nothing else is wrong with this configuration.
        assert message.count("SAMTYCKE_") == 1, message


def test_production_names_each_missing_or_unreadable_bankid_file(
    production: dict[str, Any], tmp_path: Path
) -> None:
    bare = {k: v for k, v in production.items() if k not in ("BANKID_CERT", "BANKID_KEY", "BANKID_CA")}
    message = refusal(bare)
    for name in ("SAMTYCKE_BANKID_CERT", "SAMTYCKE_BANKID_KEY", "SAMTYCKE_BANKID_CA"):
        assert f"{name} is not set" in message

    missing = str(tmp_path / "nowhere.pem")
    message = refusal({**production, "BANKID_KEY": missing})
    assert f"SAMTYCKE_BANKID_KEY ({missing}) is not a readable file" in message
    assert "SAMTYCKE_BANKID_CERT" not in message and "SAMTYCKE_BANKID_CA" not in message

    assert "SAMTYCKE_BANKID must be an https:// URL" in refusal({**production, "BANKID": "http://bankid.example/"})


def test_a_production_app_has_no_bankid_simulator(production: dict[str, Any], tmp_path: Path) -> None:
    # A development app with the simulator in the same process (as in a test run) changes nothing.
    development = {**production, "ENV": "development", "BANKID": "simulator",
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"}
    assert "bankid_sim.rp.sign" in create_app(development).view_functions
    app = create_app(production)
    assert not [rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/bankid-sim")]
    client = app.test_client()
    signed = client.post("/bankid-sim/rp/v6.0/sign", json={"endUserIp": "192.0.2.1", "userVisibleData": "SGVq"})
    phone = client.post("/bankid-sim/app/confirm", json={"order_ref": "x", "approve": True})
    for resp in (signed, phone):
        # The service's own 404, not the simulator's BankID-shaped answer.
        assert resp.status_code == 404
        assert resp.mimetype == "application/problem+json" and "errorCode" not in resp.get_json()


def test_development_still_defaults_to_the_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_environment(monkeypatch, {"INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"})
    app = create_app()
    assert app.config["ENV"] == "development" and app.config["BANKID"] == "simulator"
    assert any(rule.rule.startswith("/bankid-sim/rp/v6.0/") for rule in app.url_map.iter_rules())


def test_production_needs_the_records_seal_and_a_timestamp_authority(
    production: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Without them records would be sealed by the locally generated CA, which nobody trusts.
    bare = {k: v for k, v in production.items() if k not in ("SEAL_PKCS12", "TSA_URL")}
    message = refusal(bare)
    assert "SAMTYCKE_SEAL_PKCS12 (the records' seal certificate and key) is not set" in message
    assert "SAMTYCKE_TSA_URL (the RFC 3161 timestamp authority) must be an http(s) URL" in message
    assert message.count("SAMTYCKE_") == 2, message
    missing = str(tmp_path / "no-seal.p12")
    assert f"SAMTYCKE_SEAL_PKCS12 ({missing}) is not a readable file" in refusal({**production, "SEAL_PKCS12": missing})
    in_environment(monkeypatch, bare)
    assert "SAMTYCKE_SEAL_PKCS12" in refusal(None)


@pytest.mark.parametrize(
    ("secret", "data", "named"),
    [
        ("a", "b", ["SAMTYCKE_SECRET_KEY must be at least 32", "SAMTYCKE_DATA_KEY must be at least 32"]),
        ("s" * 40, "s" * 40, ["SAMTYCKE_SECRET_KEY and SAMTYCKE_DATA_KEY must be two different keys"]),
    ],
)
def test_production_refuses_guessable_keys(
    production: dict[str, Any], monkeypatch: pytest.MonkeyPatch, secret: str, data: str, named: list[str]
) -> None:
    # A key of one character let an attacker recompute any signing link's token.
    config = {**production, "SECRET_KEY": secret, "DATA_KEY": data}
    message = refusal(config)
    for text in named:
        assert text in message
    assert message.count("SAMTYCKE_") == len(named) + (1 if len(named) == 1 else 0), message
    in_environment(monkeypatch, config)
    assert named[0] in refusal(None)


def test_production_trusts_the_proxy_it_is_behind(production: dict[str, Any]) -> None:
    # Without it every client shares the proxy's address: one rate-limit bucket for the whole site.
    message = refusal({**production, "PROXY_FIX": 0})
    assert "SAMTYCKE_PROXY_FIX must count the reverse proxies in front of the service" in message


def test_production_fetches_identity_providers_over_https_only(production: dict[str, Any]) -> None:
    provider = {"name": "idp", "label": "IdP", "client_id": "c", "client_secret": "s",
                "discovery_url": "http://idp.example/.well-known/openid-configuration"}
    staff = {**provider, "tenant": "kommun"}
    message = refusal({**production, "OIDC_PROVIDERS": [provider], "STAFF_OIDC": staff})
    assert "SAMTYCKE_OIDC_PROVIDERS[0] (idp): discovery_url must be an https:// URL" in message
    assert "SAMTYCKE_STAFF_OIDC: discovery_url must be an https:// URL" in message
    https = {**provider, "discovery_url": "https://idp.example/.well-known/openid-configuration"}
    staff_https = {**https, "tenant": "kommun"}
    started = create_app({**production, "OIDC_PROVIDERS": [https], "STAFF_OIDC": staff_https})
    assert started.config["ENV"] == "production"


def test_production_opens_the_seal_at_start_up(production: dict[str, Any], tmp_path: Path) -> None:
    # A seal that cannot be opened would fail every record, and answer 500 on /pki and /verify.
    message = refusal({**production, "SEAL_PKCS12_PASSWORD": "wrong"})
    assert "does not open with SAMTYCKE_SEAL_PKCS12_PASSWORD into a key and certificate" in message
    garbage = tmp_path / "garbage.p12"
    garbage.write_text("not a PKCS#12 file\n")
    assert "does not open" in refusal({**production, "SEAL_PKCS12": str(garbage)})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("STAFF_OIDC", "{bad", "SAMTYCKE_STAFF_OIDC is not valid JSON"),
        ("STAFF_OIDC", "[]", "SAMTYCKE_STAFF_OIDC must be a JSON object"),
        ("OIDC_PROVIDERS", "{}", "SAMTYCKE_OIDC_PROVIDERS must be a JSON list"),
        ("PROXY_FIX", "abc", "SAMTYCKE_PROXY_FIX must be a whole number, not 'abc'"),
        ("WORKERS", "1.5", "SAMTYCKE_WORKERS must be a whole number, not '1.5'"),
        ("AUDIT_CHECKPOINT_SECONDS", "soon", "SAMTYCKE_AUDIT_CHECKPOINT_SECONDS must be a whole number"),
        ("STAFF_OIDC", '{"discovery_url": "https://idp.example/.well-known/openid-configuration"}',
         "SAMTYCKE_STAFF_OIDC lacks 'client_id', 'client_secret', 'tenant' (each a non-empty string)"),
        ("STAFF_OIDC", '{"client_id": "c", "client_secret": "s", "tenant": "kommun"}',
         "SAMTYCKE_STAFF_OIDC lacks 'discovery_url'"),
        ("STAFF_OIDC", '{"discovery_url": "https://idp.example/", "client_id": "c", "client_secret": "", '
         '"tenant": 7}', "SAMTYCKE_STAFF_OIDC lacks 'client_secret', 'tenant'"),
        ("OIDC_PROVIDERS", '[{"name": "idp", "discovery_url": "https://idp.example/"}]',
         "SAMTYCKE_OIDC_PROVIDERS[0] lacks 'client_id', 'client_secret'"),
        ("OIDC_PROVIDERS", '["idp"]', "SAMTYCKE_OIDC_PROVIDERS[0] must be a JSON object"),
        ("VERIFY_RATE_LIMIT", "lots", "SAMTYCKE_VERIFY_RATE_LIMIT must be a rate limit such as '20 per minute'"),
    ],
)
def test_a_malformed_setting_is_named_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    in_environment(monkeypatch, {"INSTANCE_PATH": tmp_path, name: value})
    assert expected in refusal(None)


def test_an_incomplete_staff_sign_on_given_as_a_dict_is_named_too(production: dict[str, Any]) -> None:
    # Tools and tests pass a dict to create_app: the same rule, before anything is wired.
    staff = {"discovery_url": "https://idp.example/.well-known/openid-configuration", "client_id": "c"}
    message = refusal({**production, "STAFF_OIDC": staff})
    assert "SAMTYCKE_STAFF_OIDC lacks 'client_secret', 'tenant'" in message


# --- item 9: https and PostgreSQL ----------------------------------------------------------


def test_production_needs_an_https_base_url(production: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    config = {**production, "BASE_URL": "http://samtycke.kommun.example"}
    assert "SAMTYCKE_BASE_URL must be the public https:// URL" in refusal(config)
    in_environment(monkeypatch, config)
    assert "SAMTYCKE_BASE_URL must be the public https:// URL" in refusal(None)


def test_production_needs_postgresql(
    production: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = {**production, "DATABASE_URL": f"sqlite:///{tmp_path / 'samtycke.db'}"}
    assert "SAMTYCKE_DATABASE_URL must be a PostgreSQL URL" in refusal(config)
    in_environment(monkeypatch, config)
    assert "SAMTYCKE_DATABASE_URL must be a PostgreSQL URL" in refusal(None)


def test_production_with_only_secrets_names_every_problem_at_once(tmp_path: Path) -> None:
    message = refusal({
        "ENV": "production", "SECRET_KEY": "s", "DATA_KEY": "d", "INSTANCE_PATH": str(tmp_path),
    })
    for name in ("SAMTYCKE_BASE_URL", "SAMTYCKE_DATABASE_URL", "SAMTYCKE_BANKID", "SAMTYCKE_SEAL_PKCS12",
                 "SAMTYCKE_TSA_URL", "SAMTYCKE_SECRET_KEY", "SAMTYCKE_PROXY_FIX"):
        assert name in message


def test_production_sends_hsts_and_secure_cookies_behind_a_tls_proxy(production: dict[str, Any]) -> None:
    # The proxy terminates TLS and forwards plain http; no PROXY_FIX is configured.
    client = create_app(production).test_client()
    page = client.get("/console/login")
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = next(c for c in page.headers.getlist("Set-Cookie") if c.startswith("samtycke_session="))
    assert "Secure" in cookie
    assert "Strict-Transport-Security" in client.get("/no/such/page").headers


def test_development_over_plain_http_sends_no_hsts(tmp_path: Path) -> None:
    client = create_app({
        "SECRET_KEY": "s", "DATA_KEY": "d", "INSTANCE_PATH": str(tmp_path), "BASE_URL": "http://127.0.0.1:5000",
    }).test_client()
    page = client.get("/console/login")
    assert "Strict-Transport-Security" not in page.headers
    cookie = next(c for c in page.headers.getlist("Set-Cookie") if c.startswith("samtycke_session="))
    assert "Secure" not in cookie


# --- `samtycke serve`: refused before forking; rate-limit storage shared by the workers ----------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Worker counts gunicorn was started with (it is not really started)."""
    runs: list[int] = []
    monkeypatch.setattr("app.server._Gunicorn.run", lambda self: runs.append(self.options["workers"]))
    return runs


def serve(*args: str) -> Any:
    return CliRunner().invoke(main, ["serve", "--port", "5139", *args])


def test_serve_refuses_a_weak_production_configuration_before_starting(
    production: dict[str, Any], monkeypatch: pytest.MonkeyPatch, started: list[int]
) -> None:
    in_environment(monkeypatch, {**production, "BASE_URL": "http://samtycke.kommun.example", "BANKID": "simulator"})
    result = serve("--workers", "1")
    assert result.exit_code == 1
    assert "SAMTYCKE_BASE_URL" in result.output and "SAMTYCKE_BANKID" in result.output
    assert started == []


def test_serve_in_production_needs_shared_rate_limit_storage_for_several_workers(
    production: dict[str, Any], monkeypatch: pytest.MonkeyPatch, started: list[int]
) -> None:
    in_environment(monkeypatch, production)
    result = serve("--workers", "2")
    assert result.exit_code == 1
    assert "SAMTYCKE_RATELIMIT_STORAGE" in result.output and "redis://" in result.output
    assert started == []

    assert serve("--workers", "1").exit_code == 0
    in_environment(monkeypatch, {**production, "RATELIMIT_STORAGE": "redis://127.0.0.1:6379/13"})
    assert serve("--workers", "3").exit_code == 0
    assert started == [1, 3]


def test_serve_in_development_warns_about_per_worker_rate_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    dev = {"INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"}
    in_environment(monkeypatch, dev)
    with caplog.at_level(logging.WARNING, logger="app.server"):
        assert serve("--workers", "2").exit_code == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "SAMTYCKE_RATELIMIT_STORAGE=memory://" in warnings[0]

    caplog.clear()
    in_environment(monkeypatch, {**dev, "RATELIMIT_STORAGE": "redis://127.0.0.1:6379/13"})
    with caplog.at_level(logging.WARNING, logger="app.server"):
        assert serve("--workers", "2").exit_code == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert started == [2, 2]
