"""Bad input never earns a 500: JSON nested too deep, instants at the ends of the calendar,
integers beyond what the database stores and forged cursors are ordinary 400/422 problems
that name the field, and change nothing."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest

from tests.consent.arrange import (
    ADULT_PN,
    add_person,
    add_purposes,
    audit_types,
    make_template,
    request_consent,
    years_ago,
)

DEEP_UNCLOSED = b"[" * 100_000
DEEP_WELL_FORMED = b'{"key": ' + b"[" * 70 + b"]" * 70 + b"}"


@pytest.fixture
def acme(app: Any, api: Any) -> Any:
    add_purposes(app, api.tenant_id, "web", "print")
    make_template(api)
    return api


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


def _json_operations(api: Any) -> list[tuple[str, str]]:
    spec = api.http.get("/openapi.json").get_json()
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            if "application/json" in content:
                found.append((method, re.sub(r"\{[^}]+\}", "x1", path)))
    return found


# --- JSON too deep or too long to parse --------------------------------------------------------------------

@pytest.mark.parametrize(
    "body",
    [DEEP_UNCLOSED, DEEP_WELL_FORMED, b'{"key": ' + b"9" * 5000 + b"}"],
    ids=["unclosed-100k", "well-formed-70-deep", "number-of-5000-digits"],
)
def test_json_no_parser_should_take_is_an_ordinary_400_at_every_json_operation(acme: Any, body: bytes) -> None:
    before = audit_types(acme.http.application, acme.tenant_id)
    operations = _json_operations(acme)
    assert len(operations) >= 10  # purposes, persons, links, templates, requests, rights, addenda, ...
    for method, path in operations:
        resp = getattr(acme, method)(path, data=body, headers={"Content-Type": "application/json"})
        problem = _problem(resp, 400)
        assert problem["type"] == "/problems/malformed-json", (method, path, problem)
    assert audit_types(acme.http.application, acme.tenant_id) == before


def test_json_just_within_the_depth_limit_is_judged_on_its_content(acme: Any) -> None:
    # 64 levels parse; the schema then refuses the wrong type, naming the field.
    body = b'{"key": "x", "label": ' + b"[" * 63 + b"]" * 63 + b"}"
    resp = acme.post("/api/v1/purposes", data=body, headers={"Content-Type": "application/json"})
    assert "label" in _problem(resp, 422)["errors"]


# --- instants ---------------------------------------------------------------------------------

OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z",
                "1899-12-31T23:59:59Z", "9999-01-01T00:00:01Z"]


@pytest.mark.parametrize("at", OUT_OF_RANGE)
def test_usage_rights_at_outside_the_calendar_is_422_naming_at(acme: Any, at: str) -> None:
    single = acme.get(f"/api/v1/assets/a1/usage-rights?purpose=web&at={quote(at)}")
    assert "at" in _problem(single, 422)["errors"]
    batch = acme.post("/api/v1/usage-rights/query", json={"asset_ids": ["a1"], "purpose": "web", "at": at})
    assert "at" in _problem(batch, 422)["errors"]


@pytest.mark.parametrize("at", ["1900-01-01T00:00:00Z", "1900-01-01T14:00:00+14:00", "9999-01-01T00:00:00Z",
                                "9998-12-31T10:00:00-14:00"])
def test_usage_rights_at_the_ends_of_the_range_are_answered(acme: Any, at: str) -> None:
    resp = acme.get(f"/api/v1/assets/a1/usage-rights?purpose=web&at={quote(at)}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert datetime.fromisoformat(resp.get_json()["at"]) == datetime.fromisoformat(at)


@pytest.mark.parametrize("valid_until", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_consent_request_valid_until_outside_the_calendar_is_422_and_creates_nothing(
    app: Any, acme: Any, valid_until: str
) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30), pn=ADULT_PN)
    before = audit_types(app, acme.tenant_id)
    resp = acme.post("/api/v1/consent-requests",
                     json={"person_id": person, "template": "photo", "valid_until": valid_until})
    assert "valid_until" in _problem(resp, 422)["errors"]
    assert audit_types(app, acme.tenant_id) == before
    assert acme.get(f"/api/v1/consents?person_id={person}").get_json()["items"] == []


def test_consent_request_valid_until_at_the_last_instant_kept_is_accepted(app: Any, acme: Any) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30), pn=ADULT_PN)
    created = request_consent(acme, person, valid_until="9999-01-01T00:00:00Z")
    consent = acme.get(f"/api/v1/consents/{created['consent_id']}")
    assert consent.status_code == 200 and consent.get_json()["status"] == "pending"


# --- integers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["12550431421019271168", "2147483648", "-2147483649", "9" * 5000])
def test_template_version_beyond_the_database_is_422_naming_version(acme: Any, version: str) -> None:
    resp = acme.get(f"/api/v1/consent-templates/photo?version={version}")
    assert "version" in _problem(resp, 422)["errors"]


def test_template_version_at_the_largest_integer_is_simply_not_found(acme: Any) -> None:
    _problem(acme.get("/api/v1/consent-templates/photo?version=2147483647"), 404)
    assert acme.get("/api/v1/consent-templates/photo?version=1").get_json()["version"] == 1


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/audit?after_seq=12550431421019271168", "after_seq"),
        ("/api/v1/audit?limit=12550431421019271168", "limit"),
        ("/api/v1/persons?limit=12550431421019271168", "limit"),
        ("/api/v1/consents?limit=-12550431421019271168", "limit"),
        ("/api/v1/webhooks/x1/deliveries?limit=12550431421019271168", "limit"),
    ],
)
def test_query_integers_beyond_the_database_are_422_naming_the_field(acme: Any, path: str, field: str) -> None:
    assert field in _problem(acme.get(path), 422)["errors"]


@pytest.mark.parametrize("days", [12550431421019271168, 2**31, -(2**63), 1e300])
def test_template_integers_beyond_the_database_are_422_naming_the_field(acme: Any, days: Any) -> None:
    resp = acme.post("/api/v1/consent-templates", json={
        "key": "other", "title": {"en": "T"}, "body": {"en": "B"}, "purposes": ["web"], "validity_days": days})
    assert "validity_days" in _problem(resp, 422)["errors"]
    assert acme.get("/api/v1/consent-templates/other").status_code == 404


# --- forged cursors ---------------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_forged_person_cursor_at_the_ends_of_the_calendar_is_422(acme: Any, created: str) -> None:
    cursor = _b64(json.dumps([created, "a"]).encode())
    assert "cursor" in _problem(acme.get(f"/api/v1/persons?cursor={cursor}"), 422)["errors"]


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00+14:00|a", "9999-12-31T23:59:59-14:00|a",
                                 "2026-01-01T00:00:00+00:00|a\x00b"])
def test_forged_consent_cursor_is_400(acme: Any, raw: str) -> None:
    cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    _problem(acme.get(f"/api/v1/consents?cursor={cursor}"), 400)


def _request_integers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every integer a client can send: query and path parameters, and request bodies (through $ref)."""
    components = spec.get("components", {}).get("schemas", {})
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(where: str, node: Any, seen: frozenset[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    walk(f"{where}>{name}", components.get(name, {}), seen | {name})
                return
            if node.get("type") == "integer":
                found.append((where, node))
            for key, child in node.items():
                walk(f"{where}.{key}", child, seen)
        elif isinstance(node, list):
            for child in node:
                walk(where, child, seen)

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                walk(f"{method.upper()} {path} ?{parameter['name']}", parameter.get("schema", {}), frozenset())
            walk(f"{method.upper()} {path} body", operation.get("requestBody", {}), frozenset())
    return found


def test_every_integer_a_client_sends_is_documented_within_the_database_range(api: Any) -> None:
    # A field declared with marshmallow's own Integer (not app.api_fields.Integer) would show no such bounds.
    integers = _request_integers(api.http.get("/openapi.json").get_json())
    assert len(integers) >= 6  # version, limits, after_seq, validity_days, minor_age, ...
    unbounded = [where for where, schema in integers
                 if not (schema.get("minimum", -(2**63)) >= -(2**31) and schema.get("maximum", 2**63) <= 2**31 - 1)]
    assert unbounded == []


def test_absurd_sizes_are_4xx_problems_not_server_errors(api: Any) -> None:
    assert "q" in _problem(api.get("/api/v1/persons?q=" + "x" * 1_000_000), 422)["errors"]
    many = "&".join(f"p{i}=1" for i in range(50_000))
    assert api.get(f"/api/v1/persons?{many}").status_code == 200  # unknown parameters are ignored
    _problem(api.post("/api/v1/purposes", data=b'"' + b"x" * 21_000_000 + b'"',
                      headers={"Content-Type": "application/json"}), 413)
    _problem(api.post("/api/v1/purposes", data={f"f{i}": "v" for i in range(2_000)},
                      headers={"Content-Type": "multipart/form-data"}), 413)
