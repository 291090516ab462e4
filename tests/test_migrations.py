"""The schema comes from the migrations alone, and they match the models exactly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.schema import load_metadata
from migrations.runner import upgrade

PG_ADMIN_URL = os.environ.get("SAMTYCKE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("SAMTYCKE_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"samtycke_migr_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_from_empty_leaves_no_pending_diff(empty_database: str) -> None:
    upgrade(empty_database)
    metadata = load_metadata()
    engine = sa.create_engine(empty_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diff = compare_metadata(context, metadata)
            tables = set(sa.inspect(conn).get_table_names())
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert diff == [], diff
    assert set(metadata.tables) <= tables
    assert {"persons", "asset_links", "audit_events", "tenants"} <= tables
    # The newest revision (its name changes as revisions are added; there must be exactly one head).
    from alembic.script import ScriptDirectory

    from migrations.runner import alembic_config

    assert version == ScriptDirectory.from_config(alembic_config(empty_database)).get_current_head()


def test_upgrade_is_repeatable(empty_database: str) -> None:
    upgrade(empty_database)
    upgrade(empty_database)  # already at head: a no-op, not an error
    engine = sa.create_engine(empty_database)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()
