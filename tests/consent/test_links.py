"""Asset links: single PUT/DELETE/GET and the idempotent, all-or-nothing bulk POST."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit import AuditEvent
from consent.models import AssetLink


def counts(app: Flask) -> dict[str, int]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return {
            "links": s.scalar(sa.select(sa.func.count()).select_from(AssetLink)) or 0,
            "audit": s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0,
        }


def last_event(app: Flask) -> AuditEvent:
    with app.extensions["samtycke.sessionmaker"]() as s:
        event = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        return event


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


def person(api: Any, name: str = "Anna") -> str:
    resp = api.post("/api/v1/persons", json={"name": name})
    assert resp.status_code == 201
    pid: str = resp.get_json()["id"]
    return pid


def test_put_creates_then_answers_200_and_updates_region(app: Flask, api: Any) -> None:
    pid = person(api)
    first = api.put(f"/api/v1/assets/IMG_0001/persons/{pid}")
    assert first.status_code == 201
    assert first.get_json()["asset_id"] == "IMG_0001" and first.get_json()["person_id"] == pid
    assert first.get_json()["region"] is None
    event = last_event(app)
    assert event.type == "link.added" and event.refs == {"asset_id": "IMG_0001", "person_id": pid}

    again = api.put(f"/api/v1/assets/IMG_0001/persons/{pid}", json={})
    assert again.status_code == 200
    region = {"x": 0.25, "y": 0.1, "w": 0.5, "h": 0.9}
    updated = api.put(f"/api/v1/assets/IMG_0001/persons/{pid}", json={"region": region})
    assert updated.status_code == 200 and updated.get_json()["region"] == region
    before = counts(app)
    # The same region again changes nothing.
    assert api.put(f"/api/v1/assets/IMG_0001/persons/{pid}", json={"region": region}).status_code == 200
    assert counts(app) == before

    listed = api.get("/api/v1/assets/IMG_0001/persons").get_json()["items"]
    assert len(listed) == 1
    assert listed[0]["person_id"] == pid and listed[0]["name"] == "Anna" and listed[0]["region"] == region
    assert listed[0]["erased"] is False and listed[0]["created_at"]


def test_put_with_region_on_create(api: Any) -> None:
    pid = person(api)
    region = {"x": 0, "y": 0, "w": 1, "h": 1}
    resp = api.put(f"/api/v1/assets/a.jpg/persons/{pid}", json={"region": region})
    assert resp.status_code == 201 and resp.get_json()["region"] == region


def test_get_unknown_asset_is_empty(api: Any) -> None:
    resp = api.get("/api/v1/assets/never-seen/persons")
    assert resp.status_code == 200 and resp.get_json() == {"items": []}


@pytest.mark.parametrize(
    "body",
    [
        {"region": {"x": 0.6, "y": 0, "w": 0.5, "h": 0.5}},  # x + w > 1
        {"region": {"x": 0, "y": 0.6, "w": 0.5, "h": 0.5}},  # y + h > 1
        {"region": {"x": 0, "y": 0, "w": 0, "h": 0.5}},  # zero width
        {"region": {"x": -0.1, "y": 0, "w": 0.5, "h": 0.5}},
        {"region": {"x": "0.1", "y": 0, "w": 0.5, "h": 0.5}},  # string
        {"region": {"x": True, "y": 0, "w": 0.5, "h": 0.5}},  # boolean
        {"region": {"x": 0, "y": 0, "w": 0.5}},  # missing h
        {"region": {"x": 0, "y": 0, "w": 0.5, "h": 0.5, "z": 1}},  # unknown field
        {"region": [0, 0, 1, 1]},
        {"area": {}},
    ],
)
def test_bad_region_is_422_and_writes_nothing(app: Flask, api: Any, body: dict[str, Any]) -> None:
    pid = person(api)
    before = counts(app)
    assert_problem(api.put(f"/api/v1/assets/IMG_1/persons/{pid}", json=body), 422)
    assert counts(app) == before


def test_put_malformed_json_is_400(app: Flask, api: Any) -> None:
    pid = person(api)
    before = counts(app)
    assert_problem(
        api.put(f"/api/v1/assets/IMG_1/persons/{pid}", data="{", headers={"Content-Type": "application/json"}), 400
    )
    assert counts(app) == before


def test_bad_asset_ids_are_422(app: Flask, api: Any) -> None:
    pid = person(api)
    before = counts(app)
    assert_problem(api.put(f"/api/v1/assets/{'x' * 201}/persons/{pid}"), 422)
    assert_problem(api.put(f"/api/v1/assets/tab%09here/persons/{pid}"), 422)
    assert counts(app) == before
    # 200 characters is still fine.
    assert api.put(f"/api/v1/assets/{'x' * 200}/persons/{pid}").status_code == 201


def test_put_unknown_person_is_404(app: Flask, api: Any) -> None:
    before = counts(app)
    assert_problem(api.put("/api/v1/assets/IMG_1/persons/nobody"), 404)
    assert counts(app) == before


def test_delete_link(app: Flask, api: Any) -> None:
    pid = person(api)
    api.put(f"/api/v1/assets/IMG_1/persons/{pid}")
    resp = api.delete(f"/api/v1/assets/IMG_1/persons/{pid}")
    assert resp.status_code == 204 and resp.get_data() == b""
    assert last_event(app).type == "link.removed"
    assert api.get("/api/v1/assets/IMG_1/persons").get_json()["items"] == []
    assert_problem(api.delete(f"/api/v1/assets/IMG_1/persons/{pid}"), 404)


def test_bulk_links_are_idempotent_and_count_duplicates_once(app: Flask, api: Any) -> None:
    a, b = person(api, "A"), person(api, "B")
    api.put(f"/api/v1/assets/IMG_1/persons/{a}")
    links = [
        {"asset_id": "IMG_1", "person_id": a},  # exists
        {"asset_id": "IMG_1", "person_id": b},
        {"asset_id": "IMG_2", "person_id": a},
        {"asset_id": "IMG_2", "person_id": a},  # duplicate in the request
    ]
    resp = api.post("/api/v1/asset-links", json={"links": links})
    assert resp.status_code == 200
    assert resp.get_json() == {"created": 2, "existing": 1}
    event = last_event(app)
    assert event.type == "links.added"
    pairs = sorted([("IMG_1", b), ("IMG_2", a)])
    expected = hashlib.sha256("\n".join(f"{x}\t{y}" for x, y in pairs).encode()).hexdigest()
    assert event.refs == {"count": 2, "sha256": expected}
    assert {p["person_id"] for p in api.get("/api/v1/assets/IMG_1/persons").get_json()["items"]} == {a, b}

    before = counts(app)
    again = api.post("/api/v1/asset-links", json={"links": links})
    assert again.get_json() == {"created": 0, "existing": 3}
    assert counts(app) == before  # no links, no audit event


def test_bulk_with_unknown_person_writes_nothing(app: Flask, api: Any) -> None:
    a = person(api)
    before = counts(app)
    links = [{"asset_id": "IMG_1", "person_id": a}] + [
        {"asset_id": f"IMG_{i}", "person_id": f"ghost-{i}"} for i in range(20)
    ]
    body = assert_problem(api.post("/api/v1/asset-links", json={"links": links}), 422)
    assert "ghost-0" in body["detail"]
    assert body["unknown_person_ids"][:2] == ["ghost-0", "ghost-1"]
    assert len(body["unknown_person_ids"]) <= 10
    assert counts(app) == before


@pytest.mark.parametrize(
    "body",
    [
        {"links": []},
        {},
        {"links": "IMG_1"},
        {"links": [{"asset_id": "IMG_1"}]},
        {"links": [{"asset_id": "a/b", "person_id": "x"}]},
        {"links": [{"asset_id": "", "person_id": "x"}]},
        {"links": [{"asset_id": 5, "person_id": "x"}]},
        {"links": [{"asset_id": "IMG", "person_id": "x", "region": {}}]},
        {"links": [], "extra": 1},
    ],
)
def test_bulk_bad_input_is_422(app: Flask, api: Any, body: dict[str, Any]) -> None:
    before = counts(app)
    assert_problem(api.post("/api/v1/asset-links", json=body), 422)
    assert counts(app) == before


def test_bulk_over_limit_is_413(app: Flask, api: Any) -> None:
    a = person(api)
    before = counts(app)
    links = [{"asset_id": f"IMG_{i}", "person_id": a} for i in range(10_001)]
    body = assert_problem(api.post("/api/v1/asset-links", json={"links": links}), 413)
    assert "10000" in body["detail"]
    assert counts(app) == before


def test_bulk_malformed_json_is_400(api: Any) -> None:
    assert_problem(api.post("/api/v1/asset-links", data="[{", headers={"Content-Type": "application/json"}), 400)


def test_bulk_ten_thousand_links_is_fast(app: Flask, api: Any) -> None:
    people = [person(api, f"P{i}") for i in range(50)]
    links = [{"asset_id": f"IMG_{i:05d}", "person_id": people[i % 50]} for i in range(10_000)]
    started = time.perf_counter()
    resp = api.post("/api/v1/asset-links", json={"links": links})
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200
    assert resp.get_json() == {"created": 10_000, "existing": 0}
    assert counts(app)["links"] == 10_000
    started = time.perf_counter()
    again = api.post("/api/v1/asset-links", json={"links": links})
    elapsed_again = time.perf_counter() - started
    assert again.get_json() == {"created": 0, "existing": 10_000}
    # Generous bounds: one bulk select and one bulk insert, not ten thousand round trips.
    assert elapsed < 10, elapsed
    assert elapsed_again < 10, elapsed_again


def test_scopes(make_api: Any) -> None:
    writer = make_api("acme", scopes="persons:write")
    pid = person(writer)
    reader = make_api("acme", scopes="persons:read")
    assert_problem(reader.put(f"/api/v1/assets/IMG_1/persons/{pid}"), 403)
    assert_problem(reader.post("/api/v1/asset-links", json={"links": [{"asset_id": "a", "person_id": pid}]}), 403)
    assert_problem(writer.get("/api/v1/assets/IMG_1/persons"), 403)


def test_hostile_ids_are_refused_not_500(app: Flask, api: Any) -> None:
    pid = person(api)
    before = counts(app)
    for resp, status in [
        (api.put("/api/v1/assets/x/persons/a%00b"), 404),
        (api.delete("/api/v1/assets/x/persons/a%00b"), 404),
        # An id holding NUL cannot exist: the edge guard answers 404 before any view runs.
        (api.put("/api/v1/assets/a%00b/persons/" + pid), 404),
        (api.get("/api/v1/assets/a%00b/persons"), 404),
        (api.post("/api/v1/asset-links", json={"links": [{"asset_id": "x", "person_id": "a\u0000"}]}), 422),
        (api.post("/api/v1/asset-links", json={"links": [{"asset_id": "x\ud800", "person_id": pid}]}), 422),
        (api.put(f"/api/v1/assets/x/persons/{pid}", json={"region": {"x": 1e400, "y": 0, "w": 1, "h": 1}}), 422),
    ]:
        assert resp.status_code == status, resp.get_data(as_text=True)
        assert resp.mimetype == "application/problem+json"
    assert counts(app) == before
