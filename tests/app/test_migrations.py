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
from alembic.script import ScriptDirectory

from migrations.metadata import load_metadata
from migrations.runner import alembic_config, upgrade

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
    # The newest revision, whatever it is called: each revision is applied, not only the first.
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


def test_signed_locale_is_taken_from_each_existing_signed_text(empty_database: str) -> None:
    """0004: each existing signature and attempt gets the language its own text is in (the
    fixed labels say it), else the language its request (or addendum) was made in."""
    from datetime import UTC, datetime

    upgrade(empty_database, "0003_audit_anchors")
    engine = sa.create_engine(empty_database)
    now = datetime.now(UTC)
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables

    def visible(lang: str) -> str:
        heading = {"sv": "Ändamål", "nb": "Formål", "en": "Purposes"}[lang]
        return f"# Title\n\nBody text\n\n### {heading}\n\n• A purpose\n\nValid."

    ids = {name: str(uuid.uuid4()) for name in ("tenant", "person", "template", "consent", "addendum")}
    signers = {name: str(uuid.uuid4()) for name in ("marked", "plain", "rep", "rep_plain")}
    try:
        with engine.begin() as conn:
            conn.execute(t["tenants"].insert().values(
                id=ids["tenant"], slug="t", name="T", created_at=now, audit_seq=0, audit_head="0" * 64))
            conn.execute(t["persons"].insert().values(
                id=ids["person"], tenant_id=ids["tenant"], created_at=now, updated_at=now))
            conn.execute(t["consent_templates"].insert().values(
                id=ids["template"], tenant_id=ids["tenant"], key="k", version=1, title={"nb": "T"}, body={"nb": "B"},
                text_sha256={"nb": "0" * 64}, purposes=["web"], validity_days=1, minor_age=18,
                guardians_required="all", created_at=now))
            conn.execute(t["consents"].insert().values(
                id=ids["consent"], tenant_id=ids["tenant"], person_id=ids["person"], template_id=ids["template"],
                template_key="k", template_version=1, locale="nb", text_sha256="0" * 64, requested_purposes=["web"],
                purposes=["web"], validity_days=1, status="given", created_at=now))
            conn.execute(t["addenda"].insert().values(
                id=ids["addendum"], tenant_id=ids["tenant"], kind="k", version=1, locale="en", text_sha256="0" * 64,
                status="signed", created_by="x", created_at=now))
            parents = {"marked": "consent_id", "plain": "consent_id", "rep": "addendum_id", "rep_plain": "addendum_id"}
            for n, (name, parent) in enumerate(parents.items()):
                conn.execute(t["signers"].insert().values(
                    id=signers[name], tenant_id=ids["tenant"], role="subject", position=0, token_hash=f"{n}" * 64,
                    expires_at=now, status="signed", created_at=now,
                    **{parent: ids["consent" if parent == "consent_id" else "addendum"]}))
            texts = {
                "marked": visible("sv"),  # signed in Swedish on a Norwegian request
                "plain": "# Title\n\nno labels here",  # nothing to tell: the request's language
                "rep": "# Tillegg\n\nTekst\n\nSigneres på vegne av Acme.",  # a Norwegian addendum text
                "rep_plain": "# Addendum",
            }
            for name, text in texts.items():
                row = {"id": str(uuid.uuid4()), "tenant_id": ids["tenant"], "signer_id": signers[name],
                       "purposes": [], "visible_text": text, "visible_sha256": "0" * 64, "created_at": now}
                conn.execute(t["signatures"].insert().values(
                    **row, method="bankid", role="subject", evidence="{}", signed_at=now))
                conn.execute(t["signature_orders"].insert().values(
                    **{**row, "id": str(uuid.uuid4())}, method="bankid", provider="bankid", mobile=False,
                    status="complete", collect_errors=0, started_at=now))

        upgrade(empty_database)
        with engine.connect() as conn:
            for table in ("signatures", "signature_orders"):
                found = dict(conn.execute(sa.text(f"SELECT signer_id, locale FROM {table}")).all())
                assert found == {signers["marked"]: "sv", signers["plain"]: "nb",
                                 signers["rep"]: "nb", signers["rep_plain"]: "en"}, table
            assert all(not c["nullable"] for c in sa.inspect(conn).get_columns("signatures") if c["name"] == "locale")
            # The language an existing request was made in counts as the one it named.
            assert conn.execute(sa.text("SELECT requested_locale FROM consents")).scalar_one() == "nb"
    finally:
        engine.dispose()
