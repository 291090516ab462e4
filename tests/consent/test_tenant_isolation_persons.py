"""Tenant isolation for persons, links, purposes, contacts and audit: another tenant's id is 404,
never 403, never data, and can never be linked."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from consent.models import AssetLink, Person, PersonGuardian

PN = "198507099805"


def assert_404(resp: Any) -> None:
    assert resp.status_code == 404, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert "Anna" not in resp.get_data(as_text=True)


def anna(api: Any) -> str:
    resp = api.post("/api/v1/persons", json={"name": "Anna", "personal_number": PN, "external_ref": "ext-1"})
    assert resp.status_code == 201
    pid: str = resp.get_json()["id"]
    assert api.put(f"/api/v1/assets/IMG_1/persons/{pid}").status_code == 201
    return pid


def test_person_endpoints_answer_404_to_another_tenant(app: Flask, api: Any, other_api: Any) -> None:
    pid = anna(api)
    assert_404(other_api.get(f"/api/v1/persons/{pid}"))
    assert_404(other_api.patch(f"/api/v1/persons/{pid}", json={"name": "Stolen"}))
    assert_404(other_api.delete(f"/api/v1/persons/{pid}"))
    assert_404(other_api.get(f"/api/v1/persons/{pid}/export"))
    mine = api.get(f"/api/v1/persons/{pid}").get_json()
    assert mine["name"] == "Anna"


def test_search_never_crosses_tenants(api: Any, other_api: Any) -> None:
    anna(api)
    for query in ({}, {"q": "anna"}, {"personal_number": PN}, {"external_ref": "ext-1"}):
        assert other_api.get("/api/v1/persons", query_string=query).get_json()["items"] == []


def test_cursor_from_one_tenant_shows_nothing_of_another(api: Any, other_api: Any) -> None:
    for i in range(3):
        api.post("/api/v1/persons", json={"name": f"A{i}"})
    cursor = api.get("/api/v1/persons?limit=1").get_json()["next_cursor"]
    assert cursor
    assert other_api.get("/api/v1/persons", query_string={"cursor": cursor}).get_json()["items"] == []


def test_cannot_link_or_unlink_across_tenants(app: Flask, api: Any, other_api: Any) -> None:
    pid = anna(api)
    assert_404(other_api.put(f"/api/v1/assets/IMG_2/persons/{pid}"))
    assert_404(other_api.delete(f"/api/v1/assets/IMG_1/persons/{pid}"))
    bulk = other_api.post("/api/v1/asset-links", json={"links": [{"asset_id": "IMG_3", "person_id": pid}]})
    assert bulk.status_code == 422 and pid in bulk.get_json()["detail"]
    assert other_api.get("/api/v1/assets/IMG_1/persons").get_json() == {"items": []}
    with app.extensions["samtycke.sessionmaker"]() as s:
        links = s.execute(sa.select(AssetLink.tenant_id, AssetLink.asset_id)).all()
    assert [tuple(link) for link in links] == [(api.tenant_id, "IMG_1")]
    assert len(api.get("/api/v1/assets/IMG_1/persons").get_json()["items"]) == 1


def test_cannot_use_another_tenants_person_as_guardian(app: Flask, api: Any, other_api: Any) -> None:
    pid = anna(api)
    resp = other_api.post("/api/v1/persons", json={"name": "Child", "guardian_ids": [pid]})
    assert resp.status_code == 422 and "guardian_ids" in resp.get_json()["errors"]
    own = other_api.post("/api/v1/persons", json={"name": "Child"}).get_json()["id"]
    patched = other_api.patch(f"/api/v1/persons/{own}", json={"guardian_ids": [pid]})
    assert patched.status_code == 422
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PersonGuardian)) == 0
        theirs = sa.select(sa.func.count()).select_from(Person).where(Person.tenant_id == other_api.tenant_id)
        assert s.scalar(theirs) == 1


def test_purposes_contacts_and_audit_are_per_tenant(api: Any, other_api: Any) -> None:
    label = {"sv": "Webb", "nb": "Nett", "en": "Web"}
    api.post("/api/v1/purposes", json={"key": "web", "label": label})
    assert other_api.get("/api/v1/purposes").get_json()["items"] == []
    contact = {"name": "D", "email": "d@example.se", "phone": "+46 70 123 45"}
    api.put("/api/v1/tenant/contacts", json={"dpo": contact, "incident": contact, "operations": contact})
    assert other_api.get("/api/v1/tenant/contacts").get_json()["dpo"] is None
    anna(api)
    theirs = other_api.get("/api/v1/audit?limit=1000").get_json()["items"]
    assert all(e["type"] in ("tenant.created", "client.created") for e in theirs)
