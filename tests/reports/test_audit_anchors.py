"""Anchors: what someone with database access alone does to the audit chain is still found.

The chain by itself cannot tell a cut tail with a rewound head, or a chain whose hashes
were all recomputed, from an honest one. Signed checkpoints (in the database and in a
file outside it) and the event hashes sealed into record PDFs can.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask

from app.audit import AuditEvent, canonical, chain_hash
from app.cli import main
from app.db import transaction, utcnow
from app.models import Tenant
from reports import anchors
from reports.models import AuditCheckpoint, Record
from reports.pki import LocalPki
from reports.seal import Sealer
from tests.conftest import CliEnv
from tests.reports.test_records_service import _arrange, _sign


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def persons(api: Any, n: int) -> None:
    for i in range(n):
        assert api.post("/api/v1/persons", json={"name": f"P{i}"}).status_code == 201


def verify(api: Any) -> dict[str, Any]:
    resp = api.get("/api/v1/audit/verify")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body: dict[str, Any] = resp.get_json()
    return body


def checkpoint(app: Flask, tenant_id: str) -> anchors.CheckpointResult:
    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
        return anchors.create_checkpoint(s, tenant_id, anchors.anchoring(app))


def anchor_path(app: Flask, tenant_id: str) -> Path:
    return anchors.anchor_file(anchors.anchoring(app).directory, tenant_id)


def hash_at(app: Flask, tenant_id: str, seq: int) -> str:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return str(s.scalar(sa.select(AuditEvent.hash).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq == seq)))


# What someone with write access to the database (and nothing else) can do.


def cut_tail(app: Flask, tenant_id: str, keep: int) -> None:
    """Delete every event after ``keep`` and rewind the head on the tenant row to match."""
    head = hash_at(app, tenant_id, keep)
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        s.execute(sa.delete(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq > keep))
        s.execute(sa.update(Tenant).where(Tenant.id == tenant_id).values(audit_seq=keep, audit_head=head))


def rewrite_from(app: Flask, tenant_id: str, seq: int) -> None:
    """Change event ``seq`` and recompute every later hash and the head: the chain stays consistent."""
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        events = list(s.scalars(
            sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq >= seq)
            .order_by(AuditEvent.seq)
        ))
        prev = events[0].prev_hash
        for event in events:
            if event.seq == seq:
                event.refs = {**event.refs, "rewritten": True}
            event.prev_hash = prev
            event.hash = chain_hash(prev, canonical(tenant_id, event.seq, event.at, event.type, event.actor,
                                                    event.refs))
            prev = event.hash
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.audit_head = prev


def delete_checkpoint_rows(app: Flask, tenant_id: str) -> None:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        s.execute(sa.delete(AuditCheckpoint).where(AuditCheckpoint.tenant_id == tenant_id))


def checkpoint_rows(app: Flask, tenant_id: str) -> list[int]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return list(s.scalars(sa.select(AuditCheckpoint.seq).where(AuditCheckpoint.tenant_id == tenant_id)
                              .order_by(AuditCheckpoint.seq)))


# --- checkpoints ------------------------------------------------------------------------


def test_verify_says_how_far_the_chain_is_anchored_and_cli_verify_checkpoints(
    app: Flask, api: Any, cli_env: CliEnv
) -> None:
    persons(api, 4)  # seq 1..6
    body = verify(api)
    assert body["ok"] is True and body["events"] == 6
    assert body["anchored_through"] == 0 and body["anchor"] is None and body["anchor_problems"] == []

    result = cli("audit", "verify", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 6 events" in result.output
    assert "anchored through seq 6 (checkpoint at " in result.output

    body = verify(api)
    assert body["anchored_through"] == 6 and body["anchor"]["kind"] == "checkpoint"
    assert body["anchor"]["at"] is not None
    assert checkpoint_rows(app, api.tenant_id) == [6]
    # The same signed checkpoint is in the file outside the database.
    [line] = anchor_path(app, api.tenant_id).read_text().splitlines()
    payload = json.loads(json.loads(line)["payload"])
    assert payload == {"type": "samtycke.audit-checkpoint", "tenant_id": api.tenant_id, "seq": 6,
                       "head": body["head"], "at": payload["at"]}

    persons(api, 1)
    assert verify(api)["anchored_through"] == 6  # the new event is not anchored yet
    result = cli("audit", "verify", "--tenant", "acme", "--no-checkpoint")
    assert "anchored through seq 6" in result.output and "1 later events not anchored yet" in result.output
    assert checkpoint_rows(app, api.tenant_id) == [6]
    result = cli("audit", "checkpoint", "--tenant", "acme")
    assert result.exit_code == 0 and "acme: checkpoint signed at seq 7" in result.output
    assert cli("audit", "checkpoint").output.count("nothing new since the checkpoint at seq 7") == 1
    assert checkpoint_rows(app, api.tenant_id) == [6, 7]


@pytest.mark.parametrize("rows", ["rows kept", "rows deleted"])
def test_a_cut_tail_with_a_rewound_head_is_found(app: Flask, api: Any, cli_env: CliEnv, rows: str) -> None:
    persons(api, 4)  # seq 1..6
    assert checkpoint(app, api.tenant_id).seq == 6
    persons(api, 2)  # seq 7, 8
    assert checkpoint(app, api.tenant_id).seq == 8

    cut_tail(app, api.tenant_id, keep=6)
    if rows == "rows deleted":
        delete_checkpoint_rows(app, api.tenant_id)  # the file outside the database still has them

    body = verify(api)
    assert body["ok"] is False and body["first_bad_seq"] == 7, body
    assert body["anchored_through"] == 6 and body["anchor"]["kind"] == "checkpoint"
    result = cli("audit", "verify", "--tenant", "acme")
    assert result.exit_code == 1
    assert "audit chain broken at sequence number 7" in result.output
    assert "anchored through seq 6 (checkpoint at " in result.output


def test_a_chain_rewritten_with_recomputed_hashes_is_found(app: Flask, api: Any) -> None:
    persons(api, 2)  # seq 1..4
    checkpoint(app, api.tenant_id)
    persons(api, 4)  # seq 5..8
    checkpoint(app, api.tenant_id)

    rewrite_from(app, api.tenant_id, 6)
    with app.extensions["samtycke.sessionmaker"]() as s:
        from app import audit_verify

        assert audit_verify.verify(s, api.tenant_id).ok  # the chain alone cannot tell
    body = verify(api)
    # Trusted only up to the last anchor the chain still holds.
    assert body["ok"] is False and body["first_bad_seq"] == 5 and body["anchored_through"] == 4, body


def test_a_checkpoint_is_never_signed_for_a_rewound_head(app: Flask, api: Any, cli_env: CliEnv) -> None:
    persons(api, 2)  # seq 1..4
    checkpoint(app, api.tenant_id)
    persons(api, 2)  # seq 5, 6
    checkpoint(app, api.tenant_id)
    cut_tail(app, api.tenant_id, keep=4)
    persons(api, 3)  # the service appends 5', 6', 7' on the rewound head: seq 6 no longer has its hash
    result = cli("audit", "checkpoint", "--tenant", "acme")
    assert result.exit_code == 1
    assert "acme: chain broken at sequence number 5; no checkpoint signed" in result.output
    assert checkpoint_rows(app, api.tenant_id) == [4, 6]
    body = verify(api)
    assert body["ok"] is False and body["first_bad_seq"] == 5 and body["anchored_through"] == 4, body
    assert cli("audit", "verify", "--tenant", "acme").exit_code == 1
    assert checkpoint_rows(app, api.tenant_id) == [4, 6]


def test_without_an_earlier_anchor_a_changed_chain_is_trusted_from_nowhere(app: Flask, api: Any) -> None:
    persons(api, 4)  # seq 1..6
    checkpoint(app, api.tenant_id)
    cut_tail(app, api.tenant_id, keep=4)
    persons(api, 3)
    # Some event up to 6 changed, and nothing proves any earlier one: the chain is trusted from nowhere.
    body = verify(api)
    assert body["ok"] is False and body["first_bad_seq"] == 1 and body["anchored_through"] == 0, body


def test_forged_checkpoints_count_for_nothing_and_are_reported(
    app: Flask, api: Any, other_pki: LocalPki
) -> None:
    persons(api, 2)  # seq 1..4
    real = checkpoint(app, api.tenant_id)
    assert real.status == "signed"
    head = hash_at(app, api.tenant_id, 4)
    payload = anchors.checkpoint_payload(api.tenant_id, 9, "f" * 64, utcnow())
    other_key = Sealer.from_local_pki(other_pki).sign_detached(payload.encode())
    ours = anchors.checkpoint_payload(api.tenant_id, 4, head, utcnow())
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        # Claims past the end: signed by another CA's seal, or not signed at all.
        s.add(AuditCheckpoint(tenant_id=api.tenant_id, seq=9, payload=payload, signature=other_key))
        s.add(AuditCheckpoint(tenant_id=api.tenant_id, seq=9, payload=payload, signature=b"\x30\x03\x02\x01\x01"))
        # Garbage in the table, and another tenant's payload.
        s.add(AuditCheckpoint(tenant_id=api.tenant_id, seq=5, payload="{not json", signature=b""))
        s.add(AuditCheckpoint(tenant_id=api.tenant_id, seq=4, payload=ours.replace(api.tenant_id, "x" * 36),
                              signature=other_key))
    body = verify(api)
    assert body["ok"] is True and body["events"] == 4 and body["anchored_through"] == 4, body
    problems = sorted((p["source"], p["seq"] or 0) for p in body["anchor_problems"])
    assert problems == [("database", 0), ("database", 0), ("database", 9), ("database", 9)]


def test_a_torn_line_in_the_anchor_file_does_not_hide_the_next(app: Flask, api: Any) -> None:
    persons(api, 2)
    path = anchor_path(app, api.tenant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"payload": "{\\"type\\": \\"samt')  # a crash mid-write
    assert checkpoint(app, api.tenant_id).status == "signed"
    delete_checkpoint_rows(app, api.tenant_id)
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 3 and lines[-1] == b""
    entry = json.loads(lines[1])
    assert base64.b64decode(entry["signature"])
    body = verify(api)
    assert body["anchored_through"] == 4
    assert [p["source"] for p in body["anchor_problems"]] == ["file"]  # the torn line


# --- sealed records -------------------------------------------------------------------------


@pytest.fixture
def sealed(app: Flask, api: Any) -> Iterator[dict[str, Any]]:
    world = _arrange(api)
    _sign(app, world["request"]["signers"][0]["id"])
    with app.extensions["samtycke.sessionmaker"]() as s:
        record = s.scalars(sa.select(Record).where(Record.consent_id == world["consent_id"])).one()
        assert record.status == "sealed"
        world["event_seq"] = s.scalar(sa.select(AuditEvent.seq).where(AuditEvent.hash == record.audit_event_hash))
        world["record_id"] = record.id
    yield world


def test_sealing_a_record_checkpoints_the_head(app: Flask, api: Any, sealed: dict[str, Any]) -> None:
    [seq] = checkpoint_rows(app, api.tenant_id)
    assert seq >= sealed["event_seq"]
    assert len(anchor_path(app, api.tenant_id).read_text().splitlines()) == 1
    body = verify(api)
    assert body["ok"] is True and body["anchored_through"] == seq and body["anchor"]["kind"] == "checkpoint"


def _records_only(app: Flask, tenant_id: str) -> None:
    # Leave only the sealed records as anchors, to show what they prove by themselves.
    delete_checkpoint_rows(app, tenant_id)
    anchor_path(app, tenant_id).unlink()


def test_a_sealed_record_anchors_its_event(app: Flask, api: Any, sealed: dict[str, Any]) -> None:
    _records_only(app, api.tenant_id)
    seq = sealed["event_seq"]
    body = verify(api)
    assert body["ok"] is True and body["anchored_through"] == seq and body["anchor"]["kind"] == "record"

    cut_tail(app, api.tenant_id, keep=seq - 1)
    body = verify(api)
    assert body["ok"] is False and body["first_bad_seq"] == seq, body


def test_a_record_row_changed_to_fit_a_rewritten_chain_is_caught_by_its_pdf(
    app: Flask, api: Any, sealed: dict[str, Any]
) -> None:
    _records_only(app, api.tenant_id)
    seq = sealed["event_seq"]
    rewrite_from(app, api.tenant_id, seq)
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        record = s.get(Record, sealed["record_id"])
        assert record is not None
        record.audit_event_hash = hash_at(app, api.tenant_id, seq)  # the row now agrees with the new chain
    body = verify(api)
    assert body["ok"] is False and body["first_bad_seq"] == 1, body  # nothing earlier is anchored
    assert {"kind": "record", "source": sealed["record_id"], "seq": seq} in body["anchor_problems"]


def test_erasure_deletes_records_but_not_the_anchoring(
    app: Flask, api: Any, cli_env: CliEnv, sealed: dict[str, Any]
) -> None:
    [seq] = checkpoint_rows(app, api.tenant_id)
    assert api.delete(f"/api/v1/persons/{sealed['person']['id']}").status_code == 204
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Record).where(Record.tenant_id == api.tenant_id)) == 0
    body = verify(api)
    assert body["ok"] is True and body["anchored_through"] == seq and body["anchor_problems"] == []
    result = cli("audit", "verify", "--tenant", "acme")
    assert result.exit_code == 0 and f"anchored through seq {body['events']} (checkpoint at " in result.output
