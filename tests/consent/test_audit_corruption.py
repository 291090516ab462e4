"""Rows changed behind the service's back: every reader reports them, none crashes.

The tampering is done with plain SQL, as someone with database access would do it,
including values the ORM itself could never write (a non-date ``at``, invalid JSON).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from app.audit import canonical, chain_hash
from app.cli import main
from app.db import transaction
from tests.conftest import CliEnv

BACKENDS = [b for b in os.environ.get("SAMTYCKE_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _sql(app: Flask, statement: str, **params: Any) -> None:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        s.execute(sa.text(statement), params)


def _json_literal(database: Any) -> str:
    # A JSON value written as text: PostgreSQL needs the cast, SQLite stores the text as it is.
    return "CAST(:v AS json)" if database.backend == "postgresql" else ":v"


def _persons(api: Any, n: int) -> list[str]:
    ids = []
    for i in range(n):
        resp = api.post("/api/v1/persons", json={"name": f"P{i}"})
        assert resp.status_code == 201
        ids.append(resp.get_json()["id"])
    return ids


Tamper = Callable[[Flask, Any, str], None]


def _at_text(value: str) -> Tamper:
    def tamper(app: Flask, database: Any, tenant_id: str) -> None:
        _sql(app, "UPDATE audit_events SET at = :v WHERE tenant_id = :t AND seq = 3", v=value, t=tenant_id)

    return tamper


def _refs_text(value: str) -> Tamper:
    def tamper(app: Flask, database: Any, tenant_id: str) -> None:
        _sql(app, f"UPDATE audit_events SET refs = {_json_literal(database)} WHERE tenant_id = :t AND seq = 3",
             v=value, t=tenant_id)

    return tamper


def _delete_middle(app: Flask, database: Any, tenant_id: str) -> None:
    _sql(app, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 3", t=tenant_id)


# SQLite keeps whatever text it is given in a DATETIME or JSON column.
SQLITE_CASES: list[tuple[str, Tamper]] = [
    ("at-not-a-date", _at_text("not a date")),
    ("at-empty", _at_text("")),
    ("at-number", _at_text("2460432.5")),
    ("refs-invalid-json", _refs_text("{not json")),
    ("refs-truncated", _refs_text('{"person_id": "abc')),
]
# PostgreSQL accepts these timestamps, which Python cannot represent.
POSTGRESQL_CASES: list[tuple[str, Tamper]] = [
    ("at-infinity", _at_text("infinity")),
    ("at-minus-infinity", _at_text("-infinity")),
    ("at-bc", _at_text("0044-03-15 12:00:00+00 BC")),
]
# Both: valid JSON of the wrong shape, a changed value type, another valid date, a gap.
COMMON_CASES: list[tuple[str, Tamper]] = [
    ("refs-list", _refs_text('["person_id", "x"]')),
    ("refs-string", _refs_text('"person_id"')),
    ("refs-null", _refs_text("null")),
    ("refs-value-type", _refs_text('{"person_id": 17}')),
    ("at-other-date", _at_text("2001-02-03 04:05:06.000007+00:00")),
    ("delete-middle", _delete_middle),
]


def _cases() -> list[Any]:
    """(backend, case) pairs: a value is only tried where the backend can store it."""
    per_backend = {
        "sqlite": SQLITE_CASES + COMMON_CASES,
        "postgresql": POSTGRESQL_CASES + COMMON_CASES,
    }
    return [
        pytest.param(backend, name, tamper, id=f"{backend}-{name}")
        for backend in BACKENDS
        for name, tamper in per_backend[backend]
    ]


@pytest.mark.parametrize(("database", "name", "tamper"), _cases(), indirect=["database"])
def test_every_corruption_is_reported_at_its_seq_and_nothing_crashes(
    app: Flask, api: Any, database: Any, cli_env: CliEnv, name: str, tamper: Tamper
) -> None:
    persons = _persons(api, 4)  # seq 1 tenant, 2 client, 3..6 persons
    tamper(app, database, api.tenant_id)

    body = api.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is False and body["first_bad_seq"] == 3, body

    result = CliRunner().invoke(main, ["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 1, result.output
    assert "sequence number 3" in result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output  # a verdict, not a crash

    listing = api.get("/api/v1/audit")
    assert listing.status_code == 200, listing.get_data(as_text=True)
    items = listing.get_json()["items"]
    expected = [1, 2, 4, 5, 6] if name == "delete-middle" else [1, 2, 3, 4, 5, 6]
    assert [e["seq"] for e in items] == expected
    for item in items:
        assert {"seq", "at", "type", "actor", "refs", "prev_hash", "hash"} <= set(item)

    # The person's export reads the log with JSON operators: it must still answer.
    export = api.get(f"/api/v1/persons/{persons[1]}/export")
    assert export.status_code == 200, export.get_data(as_text=True)
    assert [e["type"] for e in export.get_json()["audit_events"]][:1] == ["person.created"]


@pytest.mark.parametrize(
    ("database", "column", "value"),
    [
        pytest.param(backend, column, value, id=f"{backend}-{column}-{value}")
        for backend, column, value in [
            ("sqlite", "at", "not a date"),
            ("sqlite", "refs", "{not json"),
            ("postgresql", "at", "infinity"),
            ("sqlite", "refs", '["person_id", "x"]'),
            ("postgresql", "refs", '["person_id", "x"]'),
        ]
        if backend in BACKENDS
    ],
    indirect=["database"],
)
def test_listing_marks_a_corrupt_row_and_shows_what_is_stored(
    app: Flask, api: Any, database: Any, column: str, value: str
) -> None:
    _persons(api, 2)
    if column == "at":
        _at_text(value)(app, database, api.tenant_id)
    else:
        _refs_text(value)(app, database, api.tenant_id)
    items = api.get("/api/v1/audit").get_json()["items"]
    bad = items[2]
    assert bad["seq"] == 3 and bad["corrupt"] is True
    assert bad[column] is None
    assert bad["stored"] == {column: value}  # exactly what the database holds, nothing else flagged
    assert bad["type"] == "person.created" and len(bad["hash"]) == 64
    # Intact rows keep exactly the contract's fields.
    assert set(items[1]) == {"seq", "at", "type", "actor", "refs", "prev_hash", "hash"}


def test_a_long_untampered_chain_verifies_on_both_backends(app: Flask, api: Any) -> None:
    """verify() reads the stored text; it must rebuild the very bytes append() hashed."""
    from app import audit

    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        for i in range(300):
            # Odd refs on purpose: non-ASCII, nesting, numbers, and whole-second times come up too.
            audit.append(s, api.tenant_id, "test.event", "test", {"i": i, "name_hash": "å" * (i % 3),
                                                                  "nested": {"a": [i, 1.5, None, True]}})
    body = api.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is True and body["events"] == 302, body
    items = api.get("/api/v1/audit?after_seq=2&limit=1000").get_json()["items"]
    assert len(items) == 300
    prev = items[0]["prev_hash"]
    from datetime import datetime

    for item in items:
        at = datetime.fromisoformat(item["at"])
        assert chain_hash(prev, canonical(api.tenant_id, item["seq"], at, item["type"], item["actor"],
                                          item["refs"])) == item["hash"]
        prev = item["hash"]


def test_whole_second_timestamps_verify(app: Flask, api: Any) -> None:
    """PostgreSQL prints ``10:00:00+00`` for a time without a fraction; the hash used ``.000000``."""
    from datetime import UTC, datetime

    from app import audit
    from app.models import Tenant

    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        tenant = s.get(Tenant, api.tenant_id)
        assert tenant is not None
        at = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
        refs = {"x": "y"}
        seq = tenant.audit_seq + 1
        digest = chain_hash(tenant.audit_head, canonical(api.tenant_id, seq, at, "test.event", "test", refs))
        s.add(audit.AuditEvent(tenant_id=api.tenant_id, seq=seq, at=at, type="test.event", actor="test",
                               refs=refs, prev_hash=tenant.audit_head, hash=digest))
        tenant.audit_seq, tenant.audit_head = seq, digest
    body = api.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is True and body["events"] == 3, body
