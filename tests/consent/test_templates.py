"""Consent templates: versions, per-locale text hashes, validation, listing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from consent.models import ConsentTemplate
from tests.consent.arrange import add_purposes, audit_types, count, make_template, template_body


@pytest.fixture
def acme(app: Any, api: Any) -> Any:
    add_purposes(app, api.tenant_id, "web", "print", "social")
    return api


def test_create_template_answers_the_contract_shape_and_hashes_the_shown_text(app: Any, acme: Any) -> None:
    body = make_template(acme)
    assert body["key"] == "photo" and body["version"] == 1
    assert body["purposes"] == ["web", "print"]
    assert body["minor_age"] == 18 and body["guardians_required"] == "all" and body["validity_days"] == 365
    assert set(body) >= {"id", "title", "body", "text_sha256", "created_at"}
    expected = hashlib.sha256("Samtycke till bilder\n\nVi vill använda **bilder** på dig.".encode()).hexdigest()
    assert body["text_sha256"]["sv"] == expected
    assert set(body["text_sha256"]) == {"sv", "en"}
    assert "+00:00" in body["created_at"]
    assert audit_types(app, acme.tenant_id)[-1] == "template.version_created"


def test_posting_an_existing_key_makes_a_new_version_and_get_returns_latest_or_asked(acme: Any) -> None:
    first = make_template(acme)
    second = make_template(acme, title={"sv": "Ny titel", "en": "New title"}, minor_age=15, guardians_required="one")
    assert second["version"] == 2 and second["id"] != first["id"]
    assert second["text_sha256"]["sv"] != first["text_sha256"]["sv"]
    latest = acme.get("/api/v1/consent-templates/photo").get_json()
    assert latest["version"] == 2 and latest["title"]["sv"] == "Ny titel" and latest["minor_age"] == 15
    old = acme.get("/api/v1/consent-templates/photo?version=1").get_json()
    assert old["version"] == 1 and old["title"]["sv"] == "Samtycke till bilder"
    assert acme.get("/api/v1/consent-templates/photo?version=3").status_code == 404
    assert acme.get("/api/v1/consent-templates/nope").status_code == 404


def test_list_shows_latest_version_of_each_key(acme: Any) -> None:
    make_template(acme)
    make_template(acme)
    make_template(acme, key="video", purposes=["social"])
    items = acme.get("/api/v1/consent-templates").get_json()["items"]
    assert [(t["key"], t["version"]) for t in items] == [("photo", 2), ("video", 1)]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"purposes": ["web", "nope", "gone"]}, "purposes"),
        ({"purposes": []}, "purposes"),
        ({"validity_days": 0}, "validity_days"),
        ({"validity_days": 3651}, "validity_days"),
        ({"validity_days": "30"}, "validity_days"),
        ({"validity_days": True}, "validity_days"),
        ({"minor_age": 26}, "minor_age"),
        ({"minor_age": -1}, "minor_age"),
        ({"guardians_required": "both"}, "guardians_required"),
        ({"title": {"de": "Hallo"}, "body": {"de": "Text"}}, "title"),
        ({"title": {}, "body": {}}, "title"),
        ({"body": {"sv": "Text"}}, "body"),
        ({"title": {"sv": "  ", "en": "x"}}, "title"),
        ({"key": "Bad Key!"}, "key"),
        ({"key": None}, "key"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_template_input_is_422_problem_and_writes_nothing(
    app: Any, acme: Any, overrides: dict[str, Any], field: str
) -> None:
    before = count(app, ConsentTemplate)
    events = len(audit_types(app, acme.tenant_id))
    resp = acme.post("/api/v1/consent-templates", json=template_body(**overrides))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    problem = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert field in problem["errors"], problem
    if field == "purposes" and overrides["purposes"]:
        assert "nope" in problem["detail"] and "gone" in problem["detail"] and "web" not in problem["detail"]
    assert count(app, ConsentTemplate) == before
    assert len(audit_types(app, acme.tenant_id)) == events


def test_malformed_json_and_missing_scope(app: Any, acme: Any, make_api: Any) -> None:
    resp = acme.post("/api/v1/consent-templates", data="{", content_type="application/json")
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    reader = make_api("acme", scopes="consents:read")
    assert reader.post("/api/v1/consent-templates", json=template_body()).status_code == 403
    assert reader.get("/api/v1/consent-templates").status_code == 200
    assert count(app, ConsentTemplate) == 0


def test_purposes_of_another_tenant_do_not_count(app: Any, acme: Any, other_api: Any) -> None:
    resp = other_api.post("/api/v1/consent-templates", json=template_body())
    assert resp.status_code == 422
    assert "web" in resp.get_json()["detail"]
