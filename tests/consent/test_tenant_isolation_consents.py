"""Tenant isolation for templates, requests, consents, usage rights and addenda:
another tenant's id answers 404 (never 403), shows no data and changes nothing."""

from __future__ import annotations

from typing import Any

from tests.consent.arrange import (
    ADULT_PN,
    add_person,
    add_purposes,
    give,
    link,
    make_template,
    request_consent,
    years_ago,
)

KIND = "transcription-transfer"


def test_another_tenants_ids_are_404_and_nothing_changes(app: Any, api: Any, other_api: Any) -> None:
    add_purposes(app, api.tenant_id, "web", "print")
    add_purposes(app, other_api.tenant_id, "web", "print")
    make_template(api)
    person = add_person(app, api.tenant_id, "Anna", birth_date=years_ago(30), pn=ADULT_PN)
    link(app, api.tenant_id, "shared-asset-id", person)
    given = give(app, api, person)
    pending = request_consent(api, person)
    addendum = api.post("/api/v1/addenda", json={"kind": KIND, "signer": {"name": "Rita"}}).get_json()

    not_found = [
        other_api.get("/api/v1/consent-templates/photo"),
        other_api.get("/api/v1/consent-templates/photo?version=1"),
        other_api.post("/api/v1/consent-requests", json={"person_id": person, "template": "photo"}),
        other_api.get(f"/api/v1/consent-requests/{pending['id']}"),
        other_api.get(f"/api/v1/consents/{given}"),
        other_api.post(f"/api/v1/consents/{given}/withdraw", json={}),
        other_api.post(f"/api/v1/consents/{given}/revoke", json={"reason": "mine now"}),
        other_api.post(f"/api/v1/consents/{pending['consent_id']}/revoke", json={"reason": "mine now"}),
        other_api.get(f"/api/v1/addenda/{addendum['id']}"),
        other_api.post(f"/api/v1/addenda/{addendum['id']}/revoke"),
    ]
    for resp in not_found:
        assert resp.status_code == 404, (resp.request.path, resp.status_code)
        assert resp.mimetype == "application/problem+json"
        body = resp.get_data(as_text=True)
        assert "Anna" not in body and ADULT_PN not in body

    # Even a template of the same key in the other tenant does not reach the person.
    make_template(other_api)
    resp = other_api.post("/api/v1/consent-requests", json={"person_id": person, "template": "photo"})
    assert resp.status_code == 404

    # Lists and searches show nothing of the first tenant.
    assert other_api.get("/api/v1/consent-templates").get_json()["items"][0]["version"] == 1
    assert other_api.get("/api/v1/consents").get_json()["items"] == []
    assert other_api.get(f"/api/v1/consents?person_id={person}").get_json()["items"] == []
    assert other_api.get("/api/v1/consents?asset_id=shared-asset-id").get_json()["items"] == []
    assert other_api.get("/api/v1/addenda").get_json()["items"] == []
    assert other_api.get(f"/api/v1/addenda/active?kind={KIND}").get_json()["active"] is False

    # The other tenant's usage-rights answers know nothing of these links.
    single = other_api.get("/api/v1/assets/shared-asset-id/usage-rights?purpose=web").get_json()
    assert single["reason"] == "unknown_asset" and single["allowed"] is False and single["persons"] == []
    batch = other_api.post(
        "/api/v1/usage-rights/query", json={"asset_ids": ["shared-asset-id"], "purpose": "web"}
    ).get_json()
    assert batch["results"][0]["persons"] == [] and batch["results"][0]["reason"] == "unknown_asset"

    # And the first tenant's data is untouched.
    assert api.get(f"/api/v1/consents/{given}").get_json()["status"] == "given"
    assert api.get(f"/api/v1/consents/{pending['consent_id']}").get_json()["status"] == "pending"
    assert api.get(f"/api/v1/addenda/{addendum['id']}").get_json()["status"] == "pending"
    mine = api.get("/api/v1/assets/shared-asset-id/usage-rights?purpose=web").get_json()
    assert mine["allowed"] is True and mine["persons"][0]["person_id"] == person


def test_a_purpose_of_another_tenant_is_unknown_to_usage_rights(app: Any, api: Any, other_api: Any) -> None:
    add_purposes(app, api.tenant_id, "only-acme")
    assert api.get("/api/v1/assets/x/usage-rights?purpose=only-acme").status_code == 200
    resp = other_api.get("/api/v1/assets/x/usage-rights?purpose=only-acme")
    assert resp.status_code == 400
    batch = other_api.post("/api/v1/usage-rights/query", json={"asset_ids": ["x"], "purpose": "only-acme"})
    assert batch.status_code == 400
