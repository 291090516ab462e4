"""The only place that reads the environment (``SAMTYCKE_`` prefix).

Tests and tools pass a dict to ``create_app`` instead. Production fails closed:
a missing secret, a plain-http public URL, SQLite, or BankID left on the simulator
is a start-up error, whichever path the settings came from. In the embedded
default (development) the secrets are generated once and kept under the instance
folder.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(RuntimeError):
    """The configuration cannot run the service."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"SAMTYCKE_{name}")
    return value if value not in (None, "") else default


def _instance_secrets(instance: Path) -> dict[str, str]:
    """Secrets for the embedded default, created once and reused by every worker."""
    path = instance / "secrets.json"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fresh = {"secret_key": secrets.token_urlsafe(48), "data_key": secrets.token_urlsafe(48)}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(fresh))
        tmp.chmod(0o600)
        try:
            # A concurrent worker may have won the race; keep whichever landed first.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    data: dict[str, str] = json.loads(path.read_text())
    return data


def _json(name: str, default: str) -> Any:
    raw = _env(name, default) or default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"SAMTYCKE_{name} is not valid JSON: {exc}") from exc


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default)) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"SAMTYCKE_{name} must be a whole number, not {raw!r}") from None


def _rate_limit(name: str) -> str:
    raw = _env(name) or str(DEFAULTS[name])
    check_rate_limit(name, raw)
    return raw


def check_rate_limit(name: str, value: str) -> None:
    """A limit flask-limiter cannot parse would answer every request it guards with a 500."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"SAMTYCKE_{name} must be a rate limit such as '20 per minute', not {value!r}") from None


def from_environment() -> dict[str, Any]:
    instance = Path(_env("INSTANCE_PATH", str(Path.cwd() / "instance")) or "instance").resolve()
    mode = _env("ENV", "development")
    if mode not in ("development", "production"):
        raise ConfigError("SAMTYCKE_ENV must be 'development' or 'production'")
    secret_key = _env("SECRET_KEY")
    data_key = _env("DATA_KEY")
    base_url = _env("BASE_URL")
    if mode == "production":
        missing = [
            name
            for name, value in (("SECRET_KEY", secret_key), ("DATA_KEY", data_key), ("BASE_URL", base_url))
            if not value
        ]
        if missing:
            raise ConfigError(
                "production mode needs " + ", ".join(f"SAMTYCKE_{m}" for m in missing) + " in the environment"
            )
    else:
        generated = _instance_secrets(instance)
        secret_key = secret_key or generated["secret_key"]
        data_key = data_key or generated["data_key"]
    providers = _json("OIDC_PROVIDERS", "[]")
    if not isinstance(providers, list):
        raise ConfigError("SAMTYCKE_OIDC_PROVIDERS must be a JSON list")
    staff_oidc = _json("STAFF_OIDC", "null")
    if staff_oidc is not None and not isinstance(staff_oidc, dict):
        raise ConfigError("SAMTYCKE_STAFF_OIDC must be a JSON object")
    return {
        "ENV": mode,
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": _env("DATABASE_URL", f"sqlite:///{instance / 'samtycke.db'}"),
        "SECRET_KEY": secret_key,
        "DATA_KEY": data_key,
        "BASE_URL": (base_url or "http://127.0.0.1:5000").rstrip("/"),
        "BANKID": _env("BANKID", "simulator"),
        "BANKID_CERT": _env("BANKID_CERT"),
        "BANKID_KEY": _env("BANKID_KEY"),
        "BANKID_CA": _env("BANKID_CA"),
        "OIDC_PROVIDERS": providers,
        "STAFF_OIDC": staff_oidc,
        "SEAL_PKCS12": _env("SEAL_PKCS12"),
        "SEAL_PKCS12_PASSWORD": _env("SEAL_PKCS12_PASSWORD"),
        "TSA_URL": _env("TSA_URL"),
        "AUDIT_ANCHOR_DIR": _env("AUDIT_ANCHOR_DIR"),
        "AUDIT_CHECKPOINT_SECONDS": _int("AUDIT_CHECKPOINT_SECONDS", 3600),
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE", "memory://"),
        "PROXY_FIX": _int("PROXY_FIX", 0),
        "WORKERS": _int("WORKERS", 0),
        "BROKER_URL": _env("BROKER_URL"),
        "JOBS_QUEUE": _env("JOBS_QUEUE", "samtycke"),
        "JOBS_LEASE_SECONDS": _int("JOBS_LEASE_SECONDS", 120),
        "JOBS_SWEEP_SECONDS": _int("JOBS_SWEEP_SECONDS", 60),
        "JOBS_SWEEP_GRACE_SECONDS": _int("JOBS_SWEEP_GRACE_SECONDS", 30),
        "JOBS_NOTIFY_EXPIRED_SECONDS": _int("JOBS_NOTIFY_EXPIRED_SECONDS", 60),
        "JOBS_VISIBILITY_TIMEOUT": _int("JOBS_VISIBILITY_TIMEOUT", 3600),
        "JOBS_TEST_SEAL_DELAY": float(_env("JOBS_TEST_SEAL_DELAY", "0") or 0),
        "VERIFY_RATE_LIMIT": _rate_limit("VERIFY_RATE_LIMIT"),
    }


DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "BANKID": "simulator",
    "OIDC_PROVIDERS": [],
    "STAFF_OIDC": None,
    "SEAL_PKCS12": None,
    "SEAL_PKCS12_PASSWORD": None,
    "TSA_URL": None,
    # Signed checkpoints of each audit chain are appended here as well as to the database
    # (default: {INSTANCE_PATH}/audit-anchors); production should ship it off the database host.
    "AUDIT_ANCHOR_DIR": None,
    # After a record is sealed, the head is checkpointed when the last checkpoint is older than this.
    "AUDIT_CHECKPOINT_SECONDS": 3600,
    "BANKID_CERT": None,
    "BANKID_KEY": None,
    "BANKID_CA": None,
    "RATELIMIT_STORAGE_URI": "memory://",
    "PROXY_FIX": 0,
    "WORKERS": 0,
    "BASE_URL": "http://127.0.0.1:5000",
    # Request bodies: a batch of 10,000 asset ids or a sealed PDF fits well below this.
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
    "OAUTH2_TOKEN_EXPIRES_IN": {"client_credentials": 3600},
    # Seconds a validated bearer token is trusted per process without asking the database.
    "TOKEN_CACHE_SECONDS": 10,
    "SIGNING_LINK_DAYS": 30,
    "BATCH_LIMIT": 10_000,
    "SIGNING_START_RATE_LIMIT": "10 per minute",
    # Per client address; a school hall behind one NAT address may need more.
    "SIGNING_START_ADDRESS_RATE_LIMIT": "30 per minute",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Stockholm",
    # Staff sessions end after this long without a request, and at the latest after CONSOLE_MAX_HOURS.
    "CONSOLE_IDLE_MINUTES": 30,
    "CONSOLE_MAX_HOURS": 12,
    "LOGIN_RATE_LIMIT": "20 per minute",
    # Record verification (the public /verify page and POST /api/v1/records/verify), per client
    # address: each check parses and validates a PDF, so it is the cheapest way to load a worker.
    "VERIFY_RATE_LIMIT": "20 per minute",
    "LOGIN_LOCKOUT_THRESHOLD": 5,
    "LOGIN_LOCKOUT_MINUTES": 15,
    # Background work (app.jobs). No broker: the embedded transport under the instance folder,
    # worked by the one worker `samtycke serve` starts beside gunicorn (one machine only).
    "BROKER_URL": None,
    # The queue every task goes to; several deployments (or tests) can share one broker.
    "JOBS_QUEUE": "samtycke",
    # Tests only: run each task in the committing process right after the commit (tests/conftest.py).
    "JOBS_EAGER": False,
    # A worker holds a record or a webhook delivery this long; a worker that died is replaced after it.
    "JOBS_LEASE_SECONDS": 120,
    # The sweep re-enqueues work nobody picked up, this often, leaving rows younger than the grace alone.
    "JOBS_SWEEP_SECONDS": 60,
    "JOBS_SWEEP_GRACE_SECONDS": 30,
    # consent.expired announcements (`samtycke consents notify-expired`), this often.
    "JOBS_NOTIFY_EXPIRED_SECONDS": 60,
    # Redis: an unacknowledged message goes back to the queue after this long (a worker died).
    "JOBS_VISIBILITY_TIMEOUT": 3600,
    # The web process waits at most this long to hand a message to the broker; then the sweep does.
    "JOBS_PUBLISH_TIMEOUT": 2.0,
    # Tests only: sealing a record sleeps this long first, so a test can kill the worker mid-task.
    "JOBS_TEST_SEAL_DELAY": 0,
}


def build(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then the environment (unless the caller gives a full dict), then overrides."""
    config = dict(DEFAULTS)
    if overrides is None:
        config.update(from_environment())
    else:
        config.update(overrides)
        config.setdefault("INSTANCE_PATH", str(Path.cwd() / "instance"))
        if not config.get("DATABASE_URL"):
            config["DATABASE_URL"] = f"sqlite:///{Path(config['INSTANCE_PATH']) / 'samtycke.db'}"
    for key in ("SECRET_KEY", "DATA_KEY", "DATABASE_URL"):
        if not config.get(key):
            raise ConfigError(f"{key} is not configured")
    check_rate_limit("VERIFY_RATE_LIMIT", str(config.get("VERIFY_RATE_LIMIT")))
    check_identity_providers(config)
    if config.get("ENV") == "production":
        check_production(config)
    return config


# What each identity provider setting must name; the rest (label, scope, ...) has defaults.
STAFF_OIDC_KEYS = ("discovery_url", "client_id", "client_secret", "tenant")
OIDC_PROVIDER_KEYS = ("name", "discovery_url", "client_id", "client_secret")


# The countries whose national identity numbers the service knows (consent.personal_numbers.COUNTRIES;
# named here too because the foundation imports no domain).
IDENTITY_COUNTRIES = ("SE", "NO", "DK", "FI")


def check_identity_providers(config: Mapping[str, Any]) -> None:
    """A provider missing a key would fail at start-up with a bare KeyError, or at the first
    sign-in with a 500; name the setting and the keys instead."""
    problems: list[str] = []
    staff = config.get("STAFF_OIDC")
    if staff is not None:
        if not isinstance(staff, Mapping):
            problems.append("SAMTYCKE_STAFF_OIDC must be a JSON object")
        else:
            problems += _lacking("SAMTYCKE_STAFF_OIDC", staff, STAFF_OIDC_KEYS)
    providers = config.get("OIDC_PROVIDERS") or []
    if not isinstance(providers, list):
        problems.append("SAMTYCKE_OIDC_PROVIDERS must be a JSON list")
        providers = []
    for i, provider in enumerate(providers):
        where = f"SAMTYCKE_OIDC_PROVIDERS[{i}]"
        if not isinstance(provider, Mapping):
            problems.append(f"{where} must be a JSON object")
        else:
            problems += _lacking(where, provider, OIDC_PROVIDER_KEYS)
            if provider.get("country") is not None and provider.get("country") not in IDENTITY_COUNTRIES:
                # The country says whose national number the provider's claim holds.
                problems.append(f"{where}: country must be one of {', '.join(IDENTITY_COUNTRIES)}")
    if problems:
        raise ConfigError("; ".join(problems))


def _lacking(where: str, settings: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    missing = [key for key in keys if not isinstance(settings.get(key), str) or not settings[key].strip()]
    if not missing:
        return []
    return [f"{where} lacks {', '.join(repr(k) for k in missing)} (each a non-empty string)"]


def _is_https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname)


def test_numbers_allowed(config: Mapping[str, Any]) -> bool:
    """Whether identity numbers that exist only in test environments (Norwegian synthetic, Finnish
    temporary) are accepted: everywhere but production."""
    return config.get("ENV") != "production"


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to start production with a setting that would quietly weaken it; name every one."""
    problems: list[str] = []
    problems += _key_problems(config)
    if int(config.get("PROXY_FIX") or 0) < 1:
        # `samtycke serve` speaks plain http, so an https site has a proxy in front: without
        # trusting it, every client shares the proxy's address (one rate-limit bucket for the
        # whole site; signatures recording the proxy as the signer's address).
        problems.append("SAMTYCKE_PROXY_FIX must count the reverse proxies in front of the service (at least 1)")
    for where, provider in _oidc_providers(config):
        if not _is_https_url(str(provider.get("discovery_url") or "")):
            # Discovery and the signing keys fetched in clear: whoever intercepts decides who signed.
            problems.append(f"{where}: discovery_url must be an https:// URL")
    if not _is_https_url(str(config.get("BASE_URL") or "")):
        # Without it the session cookie is not Secure and no HSTS is sent.
        problems.append("SAMTYCKE_BASE_URL must be the public https:// URL")
    try:
        driver = make_url(str(config.get("DATABASE_URL") or "")).drivername
    except ArgumentError:
        driver = ""
    if driver != "postgresql+psycopg":
        problems.append("SAMTYCKE_DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg://…), not SQLite")
    bankid = str(config.get("BANKID") or "simulator")
    if bankid == "simulator":
        # The simulator lets anyone sign any link as anyone.
        problems.append("SAMTYCKE_BANKID must be the https:// base URL of the real BankID RP API, not the simulator")
    else:
        if not _is_https_url(bankid):
            problems.append("SAMTYCKE_BANKID must be an https:// URL")
        for key in ("BANKID_CERT", "BANKID_KEY", "BANKID_CA"):
            path = config.get(key)
            if not path:
                problems.append(f"SAMTYCKE_{key} is not set")
            elif not (os.path.isfile(path) and os.access(path, os.R_OK)):
                problems.append(f"SAMTYCKE_{key} ({path}) is not a readable file")
    # Records: a production seal comes from the organisation's certificate and a real TSA,
    # never the locally generated CA (which no PDF reader or authority trusts).
    seal = config.get("SEAL_PKCS12")
    if not seal:
        problems.append("SAMTYCKE_SEAL_PKCS12 (the records' seal certificate and key) is not set")
    elif not (os.path.isfile(seal) and os.access(seal, os.R_OK)):
        problems.append(f"SAMTYCKE_SEAL_PKCS12 ({seal}) is not a readable file")
    elif not _opens(seal, config.get("SEAL_PKCS12_PASSWORD")):
        problems.append(
            f"SAMTYCKE_SEAL_PKCS12 ({seal}) does not open with SAMTYCKE_SEAL_PKCS12_PASSWORD into a key and certificate"
        )
    broker = str(config.get("BROKER_URL") or "")
    if not broker.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        # The embedded transport lives in one machine's instance folder: a second machine's
        # web processes would queue work that no worker sees.
        problems.append("SAMTYCKE_BROKER_URL must name the Celery broker (redis://… or amqp://…)")
    if config.get("JOBS_EAGER") or config.get("JOBS_TEST_SEAL_DELAY"):
        problems.append("JOBS_EAGER and SAMTYCKE_JOBS_TEST_SEAL_DELAY are for tests only")
    if not str(config.get("TSA_URL") or "").startswith(("https://", "http://")):
        problems.append("SAMTYCKE_TSA_URL (the RFC 3161 timestamp authority) must be an http(s) URL")
    if problems:
        raise ConfigError("production mode cannot start: " + "; ".join(problems))


# Keys in production: at least this many characters (`secrets.token_urlsafe(48)` gives 64).
MIN_KEY_LENGTH = 32


def _key_problems(config: Mapping[str, Any]) -> list[str]:
    """A guessable key forges signing links and staff sessions and opens every personal number."""
    problems = [
        f"SAMTYCKE_{name} must be at least {MIN_KEY_LENGTH} random characters "
        "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        for name in ("SECRET_KEY", "DATA_KEY")
        if len(str(config.get(name) or "")) < MIN_KEY_LENGTH
    ]
    if config.get("SECRET_KEY") and config.get("SECRET_KEY") == config.get("DATA_KEY"):
        problems.append("SAMTYCKE_SECRET_KEY and SAMTYCKE_DATA_KEY must be two different keys")
    return problems


def _oidc_providers(config: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    found = [
        (f"SAMTYCKE_OIDC_PROVIDERS[{i}] ({p.get('name', '?')})", p)
        for i, p in enumerate(config.get("OIDC_PROVIDERS") or [])
        if isinstance(p, Mapping)
    ]
    staff = config.get("STAFF_OIDC")
    if isinstance(staff, Mapping):
        found.append(("SAMTYCKE_STAFF_OIDC", staff))
    return found


def _opens(path: str, password: str | None) -> bool:
    """Does the PKCS#12 file open with this password into a private key and a certificate?"""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, _chain = pkcs12.load_key_and_certificates(
            Path(path).read_bytes(), password.encode() if password else None
        )
    except (ValueError, TypeError):
        return False
    return key is not None and cert is not None


def check_workers(config: Mapping[str, Any], workers: int) -> str | None:
    """Several worker processes must share rate-limit counters, or each one allows the full limit.

    An error in production; in development the warning to log, or None when all is well.
    """
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if workers <= 1 or not storage.startswith("memory://"):
        return None
    message = (
        f"{workers} workers with SAMTYCKE_RATELIMIT_STORAGE={storage} count rate limits per worker, "
        f"so the login limit allows {workers} times its figure; "
        "set SAMTYCKE_RATELIMIT_STORAGE=redis://HOST:6379/N to share them, or run one worker"
    )
    if config.get("ENV") == "production":
        raise ConfigError(message)
    return message
