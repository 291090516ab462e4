"""Test fixtures. Every test that takes ``app`` runs on SQLite and on PostgreSQL.

The schema comes from the Alembic migrations (never ``create_all``). Between
tests every table is emptied. Under ``CI=true`` a missing PostgreSQL is a
failure, not a skip.

Under pytest-xdist every worker has its own databases (SQLite in the worker's
temporary folder, PostgreSQL named after the worker's process), its own share of
the test ports (``worker_ports``) and Redis keys of its own, so workers never meet.

Staff passwords are hashed with argon2's cheapest parameters (tests/cheap_hashing.py):
the suite tests sign-in behaviour thousands of times, not hash strength.

Background work (``app.jobs``) runs eagerly in this suite (``JOBS_EAGER``): every task
queued by a commit runs in the test's process right after that commit, through the real
task code, so a record is sealed and a webhook sent as soon as the request has answered.
A test that needs the moment in between takes ``held_jobs`` and runs the held tasks when
it chooses. Real workers, brokers and beats are exercised in ``tests/jobs/test_jobs_workers.py``.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app, limiter
from app.db import transaction
from migrations.runner import upgrade
from tests.cheap_hashing import use_cheapest_argon2

use_cheapest_argon2()  # see tests/cheap_hashing.py

PG_ADMIN_URL = os.environ.get("SAMTYCKE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = [b for b in os.environ.get("SAMTYCKE_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def worker_ports() -> range:
    """This xdist worker's share of ``SAMTYCKE_TEST_PORTS`` (default 5100-5199), for servers a test
    starts on a fixed port; everything else listens on a port the system picks."""
    low, high = (int(part) for part in os.environ.get("SAMTYCKE_TEST_PORTS", "5100-5199").split("-"))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    share = (high - low + 1) // workers
    if share < 3:
        raise RuntimeError(f"SAMTYCKE_TEST_PORTS={low}-{high} is too narrow for {workers} workers")
    return range(low + index * share, low + (index + 1) * share)


def _pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


class Database:
    """One migrated database per backend per test session."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self._admin: sa.Engine | None = None
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp / 'test.db'}"
        else:
            problem = _pg_available()
            if problem:
                if IN_CI:
                    pytest.fail(f"PostgreSQL is required under CI=true and is not available: {problem}")
                pytest.skip(f"PostgreSQL not available: {problem}")
            name = f"samtycke_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self._admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            for attempt in range(5):
                try:
                    with self._admin.connect() as conn:
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                    break
                except sa.exc.OperationalError:
                    # Two CREATE DATABASE at once collide on template1; try again shortly.
                    if attempt == 4:
                        raise
                    time.sleep(0.5 + attempt)
            self.name = name
            self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        upgrade(self.url)
        self.engine = sa.create_engine(self.url)
        self.tables = [t for t in sa.MetaData().tables]  # filled by reflect below
        meta = sa.MetaData()
        meta.reflect(self.engine)
        self.tables = [t.name for t in reversed(meta.sorted_tables) if t.name != "alembic_version"]

    def clean(self) -> None:
        # DELETE, children first, on both backends: a test leaves a few rows, and PostgreSQL's
        # TRUNCATE of every table costs ~0.17 s each time (new files per table), DELETE ~3 ms.
        with self.engine.begin() as conn:
            for table in self.tables:
                conn.execute(sa.text(f'DELETE FROM "{table}"'))

    def drop(self) -> None:
        self.engine.dispose()
        if self._admin is not None:
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self._admin.dispose()


@pytest.fixture(scope="session")
def _databases() -> Iterator[dict[str, Database]]:
    """Each backend's database, made once per session (per xdist worker) and dropped at its end.

    ``database`` is parametrized, and pytest tears a parametrized session fixture down whenever
    the next test wants the other value (a module's own ``indirect`` parameters make that happen
    often); migrating a new database each time cost seconds, so the databases outlive the switches.
    """
    made: dict[str, Database] = {}
    yield made
    for db in made.values():
        db.drop()


@pytest.fixture(scope="session", params=BACKENDS)
def database(
    request: pytest.FixtureRequest, _databases: dict[str, Database], tmp_path_factory: pytest.TempPathFactory
) -> Database:
    backend: str = request.param
    if backend not in _databases:
        _databases[backend] = Database(backend, tmp_path_factory.mktemp(backend))
    return _databases[backend]


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


def app_config(database: Database, instance_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ENV": "development",
        "TESTING": True,
        "DATABASE_URL": database.url,
        "INSTANCE_PATH": str(instance_path),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATA_KEY": "test-data-key-not-for-production",
        "BASE_URL": "http://localhost",
        "BANKID": "simulator",
        # Background work runs eagerly: each task in this process right after the commit that
        # queued it, through the real task code (claims, leases, back-off), so a test sees the
        # sealed record as soon as its request or transaction has committed. Tests that need the
        # moment in between hold the messages (`held_jobs`) and run them when they choose.
        "JOBS_EAGER": True,
    }
    config.update(overrides)
    return config


def production_settings(folder: Path, database_url: str = PG_ADMIN_URL) -> dict[str, Any]:
    """A complete production configuration that starts: PostgreSQL, an https base URL, a real-looking
    BankID RP API and records' seal, with placeholder certificate files (nothing here signs or calls out)."""
    from reports.pki import throwaway_seal_pkcs12

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, name in (("BANKID_CERT", "rp.crt"), ("BANKID_KEY", "rp.key"), ("BANKID_CA", "bankid-root.pem")):
        path = folder / name
        path.write_text("placeholder\n")
        files[key] = str(path)
    seal = folder / "seal.p12"
    seal.write_bytes(throwaway_seal_pkcs12("seal-password"))
    return {
        "ENV": "production",
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(folder / "instance"),
        "SECRET_KEY": "production-test-secret-key-of-forty-characters",
        "DATA_KEY": "production-test-data-key-of-forty-characters-",
        "BASE_URL": "https://samtycke.kommun.example",
        "BANKID": "https://appapi2.bankid.com/rp/v6.0/",
        "TSA_URL": "https://tsa.example/rfc3161",
        "SEAL_PKCS12": str(seal),
        "SEAL_PKCS12_PASSWORD": "seal-password",
        "PROXY_FIX": 1,
        "BROKER_URL": "redis://127.0.0.1:6379/4",
        **files,
    }


@pytest.fixture(scope="session")
def _apps() -> dict[str, Flask]:
    return {}


@pytest.fixture(scope="session")
def _session_app(database: Database, instance_path: Path, _apps: dict[str, Flask]) -> Flask:
    # One app per backend for the session, for the same reason as ``_databases``.
    if database.backend not in _apps:
        _apps[database.backend] = create_app(app_config(database, instance_path))
    return _apps[database.backend]


@pytest.fixture
def app(_session_app: Flask, database: Database) -> Iterator[Flask]:
    from app.auth import token_cache

    database.clean()
    limiter.reset()
    token_cache.clear()
    yield _session_app


@pytest.fixture
def make_app(database: Database, instance_path: Path) -> Any:
    """Build an app with extra configuration (same database) for tests that need it."""

    def factory(**overrides: Any) -> Flask:
        database.clean()
        return create_app(app_config(database, instance_path, **overrides))

    return factory


CliEnv = dict[str, str]


@pytest.fixture
def cli_env(app: Flask, database: Database, monkeypatch: pytest.MonkeyPatch) -> CliEnv:
    """The ``samtycke`` command's environment, as part of the test app's deployment: its database,
    instance folder (seal key, audit anchors, simulator keys), base URL and keys.

    Set in this process (for ``CliRunner``) and returned for a subprocess: ``env={**os.environ, **cli_env}``.
    """
    env = {
        "SAMTYCKE_ENV": "development",
        "SAMTYCKE_DATABASE_URL": database.url,
        "SAMTYCKE_INSTANCE_PATH": app.instance_path,
        "SAMTYCKE_BASE_URL": app.config["BASE_URL"],
        "SAMTYCKE_SECRET_KEY": app.config["SECRET_KEY"],
        "SAMTYCKE_DATA_KEY": app.config["DATA_KEY"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    """A session for arranging data and checking results; commits at the end of each block."""
    factory = app.extensions["samtycke.sessionmaker"]

    class _Tx:
        def __call__(self) -> Any:
            return transaction(factory)

    yield _Tx()


class Api:
    """A test client speaking as one OAuth2 client of one tenant."""

    def __init__(self, client: FlaskClient, tenant_id: str, client_id: str, secret: str, scopes: str) -> None:
        self.http = client
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.secret = secret
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        resp = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        self.token = resp.get_json()["access_token"]
        self.scopes = scopes

    def _h(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(path, headers=self._h(kw.pop("headers", None)), **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.http.post(path, headers=self._h(kw.pop("headers", None)), **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.http.put(path, headers=self._h(kw.pop("headers", None)), **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.http.patch(path, headers=self._h(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.http.delete(path, headers=self._h(kw.pop("headers", None)), **kw)


ALL_SCOPES = (
    "persons:read persons:write consents:read consents:write rights:read "
    "addenda:read addenda:write audit:read webhooks:write"
)


@pytest.fixture
def make_tenant(app: Flask) -> Any:
    from app.auth import create_tenant

    def factory(slug: str = "acme", name: str | None = None) -> str:
        with transaction(app.extensions["samtycke.sessionmaker"]) as s:
            return create_tenant(s, slug, name or slug.title()).id

    return factory


@pytest.fixture
def make_api(app: Flask, client: FlaskClient) -> Any:
    """``make_api("acme", scopes=...)`` creates the tenant when needed and a client with a token."""
    from app.auth import create_client, create_tenant
    from app.models import Tenant

    def factory(slug: str = "acme", scopes: str = ALL_SCOPES) -> Api:
        with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
            tenant = s.scalar(sa.select(Tenant).where(Tenant.slug == slug)) or create_tenant(s, slug, slug.title())
            c, secret = create_client(s, tenant, scopes.split())
            tenant_id, client_id = tenant.id, c.client_id
        return Api(client, tenant_id, client_id, secret, scopes)

    return factory


@pytest.fixture
def api(make_api: Any) -> Api:
    return make_api("acme")


@pytest.fixture
def other_api(make_api: Any) -> Api:
    return make_api("other")


class HeldJobs:
    """Messages sent after commits, held instead of run (``JOBS_EAGER`` would run them at once)."""

    def __init__(self) -> None:
        self.messages: list[tuple[Flask, str, tuple[Any, ...]]] = []

    def hold(self, app: Flask, task: str, *args: Any) -> bool:
        self.messages.append((app, task, args))
        return True

    def tasks(self) -> list[str]:
        return [task for _app, task, _args in self.messages]

    def run(self) -> None:
        """Run what was held here, in order, as a worker would (and what those runs queue in turn),
        whichever app queued it (a CLI command's app has no eager mode)."""
        from app import jobs

        while self.messages:
            app, task, args = self.messages.pop(0)
            jobs.celery_app(app).tasks[task].apply(args=args, throw=True)


@pytest.fixture
def held_jobs(monkeypatch: pytest.MonkeyPatch) -> HeldJobs:
    """Hold background work until the test runs it: to see the state between the commit and the work."""
    from app import jobs

    held = HeldJobs()
    monkeypatch.setattr(jobs, "send", held.hold)
    return held
