"""The audit API and tamper detection, through the API and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from app.audit import AuditEvent
from app.cli import main
from app.db import transaction
from tests.conftest import CliEnv


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    return body


def seed_events(api: Any, persons: int = 4) -> None:
    for i in range(persons):
        assert api.post("/api/v1/persons", json={"name": f"P{i}"}).status_code == 201


def test_list_events_in_order_with_after_seq_and_limit(api: Any) -> None:
    seed_events(api, 3)  # seq 1 tenant, 2 client, 3..5 persons
    resp = api.get("/api/v1/audit")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert [e["seq"] for e in items] == [1, 2, 3, 4, 5]
    assert items[2]["type"] == "person.created" and items[2]["actor"].startswith("client:")
    assert set(items[0]) == {"seq", "at", "type", "actor", "refs", "prev_hash", "hash"}
    assert items[0]["prev_hash"] == "0" * 64 and items[1]["prev_hash"] == items[0]["hash"]
    page = api.get("/api/v1/audit?after_seq=2&limit=2").get_json()["items"]
    assert [e["seq"] for e in page] == [3, 4]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "after_seq=-1", "after_seq=x", "after_seq=99999999999999999999", "limit=1.5"]
)
def test_bad_audit_arguments_are_422(api: Any, query: str) -> None:
    assert_problem(api.get(f"/api/v1/audit?{query}"), 422)


def test_verify_intact_chain(api: Any) -> None:
    seed_events(api, 2)
    body = api.get("/api/v1/audit/verify").get_json()
    last = api.get("/api/v1/audit").get_json()["items"][-1]
    assert body == {"ok": True, "events": 4, "head": last["hash"], "anchored_through": 0, "anchor": None,
                    "anchor_problems": []}


def test_audit_is_per_tenant(api: Any, other_api: Any) -> None:
    seed_events(api, 3)
    theirs = other_api.get("/api/v1/audit").get_json()["items"]
    assert [e["type"] for e in theirs] == ["tenant.created", "client.created"]
    assert other_api.get("/api/v1/audit/verify").get_json()["events"] == 2


def test_scopes(make_api: Any) -> None:
    api = make_api("acme", scopes="persons:read")
    assert_problem(api.get("/api/v1/audit"), 403)
    assert_problem(api.get("/api/v1/audit/verify"), 403)


def _edit_refs(s: Any, tenant_id: str) -> None:
    event = s.scalar(sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq == 3))
    event.refs = {**event.refs, "person_id": "someone-else"}


def _delete(seq: int) -> Callable[[Any, str], None]:
    def tamper(s: Any, tenant_id: str) -> None:
        s.execute(sa.delete(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq == seq))

    return tamper


def _swap(s: Any, tenant_id: str) -> None:
    a = s.scalar(sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq == 3))
    b = s.scalar(sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq == 4))
    a.seq = -1
    s.flush()
    b.seq = 3
    s.flush()
    a.seq = 4


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [(_edit_refs, 3), (_delete(4), 4), (_delete(6), 6), (_swap, 3)],
    ids=["edit-refs", "delete-middle", "delete-last", "swap-seq"],
)
def test_tampering_is_detected_by_api_and_cli(
    app: Flask, api: Any, cli_env: CliEnv, tamper: Callable[[Any, str], None], first_bad: int
) -> None:
    seed_events(api, 4)  # seq 1..6
    runner = CliRunner()
    intact = runner.invoke(main, ["audit", "verify", "--tenant", "acme"])
    assert intact.exit_code == 0, intact.output
    assert "6 events" in intact.output

    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        tamper(s, api.tenant_id)

    body = api.get("/api/v1/audit/verify").get_json()
    assert {k: body[k] for k in ("ok", "first_bad_seq")} == {"ok": False, "first_bad_seq": first_bad}
    assert "events" not in body and "head" not in body
    result = runner.invoke(main, ["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 1
    assert f"sequence number {first_bad}" in result.output


def test_cli_verify_unknown_tenant_fails(cli_env: CliEnv) -> None:
    result = CliRunner().invoke(main, ["audit", "verify", "--tenant", "nobody"])
    assert result.exit_code != 0
    assert "nobody" in result.output
