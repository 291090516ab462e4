"""Tenant contacts (DPO, incident, operations): GET/PUT /tenant/contacts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit import AuditEvent
from consent.models import TenantContact

CONTACTS = {
    "dpo": {"name": "Dana Dataskydd", "email": "dpo@kommun.se", "phone": "+46 8-123 456 78"},
    "incident": {"name": "Ida Incident", "email": "incident@kommun.se", "phone": "08-765 43 21"},
    "operations": {"name": "Olle Drift", "email": "drift@kommun.se", "phone": "+4670123456"},
}


def counts(app: Flask) -> tuple[int, int]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return (
            s.scalar(sa.select(sa.func.count()).select_from(TenantContact)) or 0,
            s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0,
        )


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


def strip(body: dict[str, Any]) -> dict[str, Any]:
    return {role: {k: v for k, v in c.items() if k != "updated_at"} for role, c in body.items()}


def test_get_before_put_is_all_null(api: Any) -> None:
    resp = api.get("/api/v1/tenant/contacts")
    assert resp.status_code == 200
    assert resp.get_json() == {"dpo": None, "incident": None, "operations": None}


def test_put_then_get(app: Flask, api: Any) -> None:
    resp = api.put("/api/v1/tenant/contacts", json=CONTACTS)
    assert resp.status_code == 200
    assert strip(resp.get_json()) == CONTACTS
    assert strip(api.get("/api/v1/tenant/contacts").get_json()) == CONTACTS
    with app.extensions["samtycke.sessionmaker"]() as s:
        event = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None and event.type == "contacts.updated"
        assert event.refs == {"roles": ["dpo", "incident", "operations"]}
        assert "dpo@kommun.se" not in str(event.refs)

    changed = copy.deepcopy(CONTACTS)
    changed["incident"]["phone"] = "+46 70 000 00 00"
    assert api.put("/api/v1/tenant/contacts", json=changed).status_code == 200
    with app.extensions["samtycke.sessionmaker"]() as s:
        event = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None and event.refs == {"roles": ["incident"]}
    before = counts(app)
    assert api.put("/api/v1/tenant/contacts", json=changed).status_code == 200
    assert counts(app) == before  # nothing changed, nothing audited


def _without(role: str) -> dict[str, Any]:
    body = copy.deepcopy(CONTACTS)
    del body[role]
    return body


def _with(role: str, field: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(CONTACTS)
    body[role][field] = value
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without("operations"), "operations"),
        (_with("dpo", "email", "not-an-email"), "dpo"),
        (_with("dpo", "email", None), "dpo"),
        (_with("incident", "phone", "call me"), "incident"),
        (_with("incident", "phone", "1234"), "incident"),  # too few digits
        (_with("incident", "phone", "+" + "1" * 21), "incident"),  # too many
        (_with("operations", "name", ""), "operations"),
        (_with("operations", "name", 12), "operations"),
        ({**CONTACTS, "billing": CONTACTS["dpo"]}, "billing"),
        (_with("dpo", "title", "DPO"), "dpo"),
    ],
)
def test_invalid_put_is_422_and_writes_nothing(app: Flask, api: Any, body: dict[str, Any], field: str) -> None:
    api.put("/api/v1/tenant/contacts", json=CONTACTS)
    before = counts(app)
    problem = assert_problem(api.put("/api/v1/tenant/contacts", json=body), 422)
    assert field in problem["errors"]
    assert counts(app) == before
    assert strip(api.get("/api/v1/tenant/contacts").get_json()) == CONTACTS


def test_malformed_json_is_400(app: Flask, api: Any) -> None:
    before = counts(app)
    assert_problem(api.put("/api/v1/tenant/contacts", data="nope", headers={"Content-Type": "application/json"}), 400)
    assert counts(app) == before


def test_tenants_keep_their_own_contacts(api: Any, other_api: Any) -> None:
    api.put("/api/v1/tenant/contacts", json=CONTACTS)
    assert other_api.get("/api/v1/tenant/contacts").get_json() == {"dpo": None, "incident": None, "operations": None}


def test_scopes(make_api: Any) -> None:
    reader = make_api("acme", scopes="addenda:read")
    assert reader.get("/api/v1/tenant/contacts").status_code == 200
    assert_problem(reader.put("/api/v1/tenant/contacts", json=CONTACTS), 403)
    persons = make_api("acme", scopes="persons:read persons:write")
    assert_problem(persons.get("/api/v1/tenant/contacts"), 403)
