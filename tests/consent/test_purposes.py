"""Purposes: create, list, duplicates, validation, scopes."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit import AuditEvent
from consent.models import Purpose

LABEL = {"sv": "Webbplats", "nb": "Nettsted", "en": "Website"}


def counts(app: Flask) -> tuple[int, int]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return (
            s.scalar(sa.select(sa.func.count()).select_from(Purpose)) or 0,
            s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0,
        )


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


def test_create_and_list(app: Flask, api: Any) -> None:
    resp = api.post("/api/v1/purposes", json={"key": "web", "label": LABEL})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["key"] == "web" and body["label"] == LABEL
    assert body["id"] and body["created_at"].endswith("+00:00")
    api.post("/api/v1/purposes", json={"key": "print", "label": {"sv": " Tryck ", "nb": "Trykk", "en": "Print"}})
    listed = api.get("/api/v1/purposes")
    assert listed.status_code == 200
    items = listed.get_json()["items"]
    assert [p["key"] for p in items] == ["print", "web"]
    assert items[0]["label"]["sv"] == "Tryck"  # trimmed
    with app.extensions["samtycke.sessionmaker"]() as s:
        # The first purpose's event: in chain order (a table's physical order is no order at all).
        event = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.type == "purpose.created").order_by(AuditEvent.seq)
        ).first()
        assert event is not None and event.refs["key"] == "web"


def test_duplicate_key_is_409_and_writes_nothing(app: Flask, api: Any) -> None:
    api.post("/api/v1/purposes", json={"key": "web", "label": LABEL})
    before = counts(app)
    body = assert_problem(api.post("/api/v1/purposes", json={"key": "web", "label": LABEL}), 409)
    assert "web" in body["detail"]
    assert counts(app) == before


def test_same_key_in_another_tenant_is_fine(api: Any, other_api: Any) -> None:
    assert api.post("/api/v1/purposes", json={"key": "web", "label": LABEL}).status_code == 201
    assert other_api.post("/api/v1/purposes", json={"key": "web", "label": LABEL}).status_code == 201
    assert len(other_api.get("/api/v1/purposes").get_json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Web", "label": LABEL}, "key"),
        ({"key": "web site", "label": LABEL}, "key"),
        ({"key": "-web", "label": LABEL}, "key"),
        ({"key": "", "label": LABEL}, "key"),
        ({"key": "x" * 65, "label": LABEL}, "key"),
        ({"key": 7, "label": LABEL}, "key"),
        ({"label": LABEL}, "key"),
        ({"key": "web"}, "label"),
        ({"key": "web", "label": {"sv": "Webb", "nb": "Nett"}}, "label"),
        ({"key": "web", "label": {**LABEL, "en": " "}}, "label"),
        ({"key": "web", "label": {**LABEL, "de": "Netz"}}, "label"),
        ({"key": "web", "label": "Web"}, "label"),
        ({"key": "web", "label": LABEL, "extra": True}, "extra"),
    ],
)
def test_invalid_purpose_is_422(app: Flask, api: Any, body: dict[str, Any], field: str) -> None:
    before = counts(app)
    problem = assert_problem(api.post("/api/v1/purposes", json=body), 422)
    assert field in problem["errors"]
    assert counts(app) == before


def test_malformed_json_is_400(app: Flask, api: Any) -> None:
    before = counts(app)
    assert_problem(api.post("/api/v1/purposes", data="{]", headers={"Content-Type": "application/json"}), 400)
    assert counts(app) == before


def test_scopes(make_api: Any) -> None:
    reader = make_api("acme", scopes="consents:read")
    assert_problem(reader.post("/api/v1/purposes", json={"key": "web", "label": LABEL}), 403)
    assert reader.get("/api/v1/purposes").status_code == 200
    dam = make_api("acme", scopes="rights:read")
    assert_problem(dam.get("/api/v1/purposes"), 403)
    assert dam.http.get("/api/v1/purposes").status_code == 401
