"""The asset register (PUT/GET /assets/{id}) and the reasons and statuses it brings: an asset never
seen is unknown and never allowed, too few persons linked is persons_unidentified, a legal basis
allows, and each status per purpose follows the usage-rights answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.db import utcnow
from consent.models import Asset
from tests.consent.arrange import (
    add_person,
    add_purposes,
    audit_types,
    count,
    erase,
    give,
    link,
    request_consent,
    years_ago,
)


def rights(api: Any, asset_id: str, purpose: str = "web") -> dict[str, Any]:
    resp = api.get(f"/api/v1/assets/{asset_id}/usage-rights?purpose={purpose}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def put(api: Any, asset_id: str, expect: int = 201, **body: Any) -> dict[str, Any]:
    resp = api.put(f"/api/v1/assets/{asset_id}", json=body)
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return dict(resp.get_json())


def person(app: Any, acme: Any, name: str = "Bo", *asset_ids: str) -> str:
    pid = add_person(app, acme.tenant_id, name, birth_date=years_ago(30))
    for asset_id in asset_ids:
        link(app, acme.tenant_id, asset_id, pid)
    return pid


# --- the register -------------------------------------------------------------------------------

def test_put_registers_then_updates_only_the_fields_given(app: Any, acme: Any) -> None:
    body = put(acme, "IMG_1", title="Sommarläger", thumbnail_url="https://dam.example/t/IMG_1.jpg",
               persons_expected=2, legal_bases=[{"basis": "public_task", "purposes": ["print"]}])
    assert body["asset_id"] == "IMG_1" and body["title"] == "Sommarläger"
    assert body["thumbnail_url"] == "https://dam.example/t/IMG_1.jpg" and body["no_persons"] is False
    assert body["persons_expected"] == 2 and body["persons"] == []
    assert body["legal_bases"] == [{"basis": "public_task", "purposes": ["print"]}]
    updated = put(acme, "IMG_1", 200, title="Sommarläger 2026")
    assert updated["title"] == "Sommarläger 2026" and updated["persons_expected"] == 2
    assert updated["legal_bases"] == body["legal_bases"]
    assert acme.get("/api/v1/assets/IMG_1").get_json() == updated
    assert audit_types(app, acme.tenant_id)[-2:] == ["asset.registered", "asset.updated"]
    put(acme, "IMG_1", 200, title="Sommarläger 2026")  # nothing changed: nothing audited
    assert audit_types(app, acme.tenant_id)[-1] == "asset.updated"
    assert audit_types(app, acme.tenant_id).count("asset.updated") == 1


def test_get_of_an_asset_never_seen_is_404_problem(acme: Any) -> None:
    resp = acme.get("/api/v1/assets/img_0003")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_linking_a_person_registers_the_asset(app: Any, acme: Any) -> None:
    pid = add_person(app, acme.tenant_id, "Bo", birth_date=years_ago(30))
    assert acme.put(f"/api/v1/assets/IMG_9/persons/{pid}", json={}).status_code == 201
    bulk = {"links": [{"asset_id": "IMG_8", "person_id": pid}]}
    assert acme.post("/api/v1/asset-links", json=bulk).status_code == 200
    for asset_id in ("IMG_9", "IMG_8"):
        body = acme.get(f"/api/v1/assets/{asset_id}").get_json()
        assert [p["person_id"] for p in body["persons"]] == [pid] and body["title"] is None
    # The link gone, the asset stays known: it answers "no persons", never "unknown".
    assert acme.delete(f"/api/v1/assets/IMG_9/persons/{pid}").status_code == 204
    assert rights(acme, "IMG_9")["reason"] == "no_linked_persons"
    assert count(app, Asset) == 2


@pytest.mark.parametrize("body", [
    {"thumbnail_url": "http://dam.example/t.jpg"},
    {"thumbnail_url": "not a url"},
    {"persons_expected": -1},
    {"persons_expected": "2"},
    {"persons_expected": 1.5},
    {"no_persons": "yes"},
    {"no_persons": True, "persons_expected": 3},
    {"legal_bases": [{"basis": "consent", "purposes": ["web"]}]},
    {"legal_bases": [{"basis": "public_task", "purposes": ["nope"]}]},
    {"legal_bases": [{"basis": "public_task", "purposes": []}]},
    {"legal_bases": [{"basis": "public_task", "purposes": ["web"]}, {"basis": "contract", "purposes": ["web"]}]},
    {"title": "x" * 501},
    {"title": "bad\u0000title"},
    {"colour": "red"},
])
def test_bad_input_is_422_problem_and_changes_nothing(app: Any, acme: Any, body: dict[str, Any]) -> None:
    resp = acme.put("/api/v1/assets/IMG_1", json=body)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.get_data(as_text=True)
    assert count(app, Asset) == 0


def test_bad_asset_id_is_422_and_an_oversized_one_never_500(acme: Any) -> None:
    assert acme.put("/api/v1/assets/" + "x" * 201, json={}).status_code == 422
    assert acme.get("/api/v1/assets/" + "x" * 201).status_code == 404


def test_scopes_and_tenants(app: Any, acme: Any, make_api: Any, other_api: Any) -> None:
    put(acme, "IMG_1", title="Acme's")
    reader = make_api("acme", scopes="persons:read")
    assert reader.get("/api/v1/assets/IMG_1").status_code == 200
    assert reader.put("/api/v1/assets/IMG_1", json={"title": "x"}).status_code == 403
    assert make_api("acme", scopes="rights:read").get("/api/v1/assets/IMG_1").status_code == 403
    assert acme.http.get("/api/v1/assets/IMG_1").status_code == 401
    # Another tenant never sees it, and its own asset of the same id is its own.
    assert other_api.get("/api/v1/assets/IMG_1").status_code == 404
    add_purposes(app, other_api.tenant_id, "web")
    assert rights(other_api, "IMG_1")["reason"] == "unknown_asset"
    assert put(other_api, "IMG_1", title="Other's")["title"] == "Other's"
    assert acme.get("/api/v1/assets/IMG_1").get_json()["title"] == "Acme's"


# --- the reasons the register brings ------------------------------------------------------------

def test_unknown_asset_is_not_allowed_single_and_batch(acme: Any) -> None:
    assert rights(acme, "img_0003")["allowed"] is False and rights(acme, "img_0003")["reason"] == "unknown_asset"
    put(acme, "IMG_0003")
    results = acme.post("/api/v1/usage-rights/query", json={"asset_ids": ["img_0003", "IMG_0003"], "purpose": "web"})
    assert [(r["allowed"], r["reason"]) for r in results.get_json()["results"]] == [
        (False, "unknown_asset"), (True, "no_linked_persons")
    ]


def test_fewer_persons_linked_than_expected_is_persons_unidentified(app: Any, acme: Any) -> None:
    anna = person(app, acme, "Anna", "GROUP")
    give(app, acme, anna, pn=None)
    put(acme, "GROUP", 200, persons_expected=2)
    body = rights(acme, "GROUP")
    assert (body["allowed"], body["reason"], body["valid_until"]) == (False, "persons_unidentified", None)
    assert [p["reason"] for p in body["persons"]] == ["consent_given"]  # the known person is still shown
    bo = person(app, acme, "Bo", "GROUP")
    assert rights(acme, "GROUP")["reason"] == "no_consent"
    give(app, acme, bo, pn=None)
    assert rights(acme, "GROUP")["reason"] == "consent_given"
    # Expecting persons on an asset with nobody linked is not "no_linked_persons".
    put(acme, "EMPTY", persons_expected=1)
    assert rights(acme, "EMPTY")["reason"] == "persons_unidentified"


def test_legal_basis_allows_the_covered_purpose_only(app: Any, acme: Any) -> None:
    pid = person(app, acme, "Bo", "EVENT")
    put(acme, "EVENT", 200, legal_bases=[{"basis": "public_task", "purposes": ["print", "web"]}])
    body = rights(acme, "EVENT", "print")
    assert (body["allowed"], body["reason"], body["valid_until"]) == (True, "legal_basis", None)
    assert body["persons"] == [{"person_id": pid, "allowed": True, "reason": "legal_basis", "consent_id": None,
                                "valid_until": None}]
    assert rights(acme, "EVENT", "social")["reason"] == "no_consent"  # not covered: consent decides
    put(acme, "EVENT", 200, legal_bases=[])
    assert rights(acme, "EVENT", "print")["reason"] == "no_consent"


def test_legal_basis_never_turns_an_erased_person_into_a_yes(app: Any, acme: Any) -> None:
    pid = person(app, acme, "Bo", "EVENT")
    put(acme, "EVENT", 200, legal_bases=[{"basis": "legitimate_interests", "purposes": ["web"]}])
    erase(app, pid)
    body = rights(acme, "EVENT")
    assert (body["allowed"], body["reason"]) == (False, "erased")


def test_legal_basis_still_needs_the_expected_persons(app: Any, acme: Any) -> None:
    person(app, acme, "Bo", "EVENT")
    put(acme, "EVENT", 200, persons_expected=3, legal_bases=[{"basis": "public_task", "purposes": ["web"]}])
    assert rights(acme, "EVENT")["reason"] == "persons_unidentified"


# --- status per purpose -------------------------------------------------------------------------

def status(api: Any, asset_id: str) -> dict[str, str]:
    resp = api.get(f"/api/v1/assets/{asset_id}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json()["status"])


def test_every_status(app: Any, acme: Any) -> None:
    put(acme, "EMPTY")
    assert status(acme, "EMPTY") == {"print": "no_persons", "social": "no_persons", "web": "no_persons"}

    anna = person(app, acme, "Anna", "PAIR", "SOLO", "WAIT")
    bo = person(app, acme, "Bo", "PAIR")
    assert status(acme, "SOLO")["web"] == "no_consent"
    request_consent(acme, anna)
    assert status(acme, "WAIT")["web"] == "pending"

    give(app, acme, anna, pn=None, purposes=["web"])
    assert status(acme, "SOLO") == {"print": "no_consent", "social": "no_consent", "web": "full"}
    assert status(acme, "PAIR")["web"] == "partial"
    give(app, acme, bo, pn=None, purposes=["web"])
    assert status(acme, "PAIR")["web"] == "full"

    put(acme, "PAIR", 200, persons_expected=3)
    assert status(acme, "PAIR")["web"] == "persons_unidentified"


def test_status_follows_time(app: Any, acme: Any) -> None:
    # A consent given a year ago has expired: the asset is back at no_consent, not full.
    anna = person(app, acme, "Anna", "OLD")
    give(app, acme, anna, pn=None, at=utcnow() - timedelta(days=400))
    assert status(acme, "OLD")["web"] == "no_consent"


# --- objections (Art. 21) -----------------------------------------------------------------------

def object_to(api: Any, person_id: str, purpose: str, expect: int = 201) -> dict[str, Any]:
    resp = api.post(f"/api/v1/persons/{person_id}/objections", json={"purpose": purpose})
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return dict(resp.get_json())


def batch(api: Any, asset_ids: list[str], purpose: str = "web", at: Any = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"asset_ids": asset_ids, "purpose": purpose}
    if at is not None:
        body["at"] = at.isoformat()
    resp = api.post("/api/v1/usage-rights/query", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return list(resp.get_json()["results"])


def test_an_objection_overrides_the_legal_basis_from_when_it_stands_until_withdrawn(app: Any, acme: Any) -> None:
    from consent import objections
    from tests.consent.arrange import tx

    anna = person(app, acme, "Anna", "EVENT")
    bo = person(app, acme, "Bo", "EVENT")
    put(acme, "EVENT", 200, legal_bases=[{"basis": "public_task", "purposes": ["web"]}])
    before = utcnow()
    objection = object_to(acme, anna, "web")
    assert objection["person_id"] == anna and objection["purpose"] == "web" and objection["withdrawn_at"] is None
    assert object_to(acme, anna, "web", 200)["id"] == objection["id"]  # it already stands
    assert audit_types(app, acme.tenant_id).count("objection.recorded") == 1

    body = rights(acme, "EVENT")
    assert (body["allowed"], body["reason"]) == (False, "objected")
    assert {p["person_id"]: p["reason"] for p in body["persons"]} == {anna: "objected", bo: "legal_basis"}
    assert status(acme, "EVENT")["web"] == "partial"
    [batched] = batch(acme, ["EVENT"])
    assert batched == body | {"at": batched["at"]}
    # Before the objection the basis held; another purpose is not objected to.
    assert batch(acme, ["EVENT"], at=before)[0]["reason"] == "legal_basis"
    put(acme, "EVENT", 200, legal_bases=[{"basis": "public_task", "purposes": ["web", "print"]}])
    assert rights(acme, "EVENT", "print")["reason"] == "legal_basis"

    with tx(app) as s:
        objections.withdraw(s, acme.tenant_id, objection["id"], "staff:dpo@acme.example")
    assert rights(acme, "EVENT")["reason"] == "legal_basis"
    with tx(app) as s:
        [stored] = objections.of_person(s, acme.tenant_id, anna)
        standing, withdrawn = stored.created_at, stored.withdrawn_at
    assert withdrawn is not None
    # Time travel agrees: objected while it stood, the basis again once withdrawn.
    assert batch(acme, ["EVENT"], at=standing + (withdrawn - standing) / 2)[0]["reason"] == "objected"
    assert batch(acme, ["EVENT"], at=withdrawn)[0]["reason"] == "legal_basis"
    with tx(app) as s, pytest.raises(objections.ObjectionWithdrawn):
        objections.withdraw(s, acme.tenant_id, objection["id"], "staff:dpo@acme.example")
    assert audit_types(app, acme.tenant_id)[-1] == "objection.withdrawn"
    object_to(acme, anna, "web", 201)  # withdrawn: a new objection is a new one


def test_an_objection_does_not_touch_a_purpose_consent_decides(app: Any, acme: Any) -> None:
    anna = person(app, acme, "Anna", "IMG")
    give(app, acme, anna, pn=None, purposes=["web"])
    object_to(acme, anna, "web")
    assert rights(acme, "IMG")["reason"] == "consent_given"


def test_objection_bad_input(app: Any, acme: Any, make_api: Any, other_api: Any) -> None:
    anna = person(app, acme, "Anna")
    for body in ({"purpose": "nope"}, {}, {"purpose": "web", "x": 1}, {"purpose": "WEB!"}):
        resp = acme.post(f"/api/v1/persons/{anna}/objections", json=body)
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", body
    assert acme.post("/api/v1/persons/nobody/objections", json={"purpose": "web"}).status_code == 404
    add_purposes(app, other_api.tenant_id, "web")
    assert other_api.post(f"/api/v1/persons/{anna}/objections", json={"purpose": "web"}).status_code == 404
    reader = make_api("acme", scopes="persons:read")
    assert reader.post(f"/api/v1/persons/{anna}/objections", json={"purpose": "web"}).status_code == 403
    erase(app, anna)
    assert acme.post(f"/api/v1/persons/{anna}/objections", json={"purpose": "web"}).status_code == 404


def test_objections_are_exported_and_erased_with_the_person(app: Any, acme: Any) -> None:
    from consent.models import Objection

    anna = person(app, acme, "Anna", "EVENT")
    put(acme, "EVENT", 200, legal_bases=[{"basis": "public_task", "purposes": ["web"]}])
    objection = object_to(acme, anna, "web")
    export = acme.get(f"/api/v1/persons/{anna}/export").get_json()
    assert [(o["id"], o["purpose"], o["withdrawn_at"]) for o in export["objections"]] == [
        (objection["id"], "web", None)
    ]
    assert "objection.recorded" in [e["type"] for e in export["audit_events"]]
    assert acme.delete(f"/api/v1/persons/{anna}").status_code == 204
    assert count(app, Objection) == 0
    # Erased, the person still keeps the asset at "no".
    assert rights(acme, "EVENT")["reason"] == "erased"
