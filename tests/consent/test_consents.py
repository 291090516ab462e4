"""Consents: the read API, filters, and the withdraw/revoke state machine."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from app.db import utcnow
from consent.models import Consent
from reports.models import Record
from tests.consent.arrange import (
    ADULT_PN,
    add_person,
    audit_types,
    give,
    link,
    request_consent,
    tx,
    years_ago,
)


def _adult(app: Any, acme: Any, name: str = "Anna Andersson") -> str:
    return add_person(app, acme.tenant_id, name, birth_date=years_ago(30), pn=ADULT_PN)


def test_get_consent_shows_the_contract_fields(app: Any, acme: Any) -> None:
    person = _adult(app, acme)
    consent_id = give(app, acme, person, purposes=["web"])
    body = acme.get(f"/api/v1/consents/{consent_id}").get_json()
    assert body["id"] == consent_id and body["person_id"] == person and body["status"] == "given"
    assert body["purposes"] == ["web"] and body["asset_ids"] is None
    assert body["valid_from"] == body["given_at"] and body["valid_until"] > body["valid_from"]
    template = acme.get("/api/v1/consent-templates/photo").get_json()
    assert body["template"] == {"key": "photo", "version": 1, "text_sha256": template["text_sha256"]["sv"]}
    [sig] = body["signatures"]
    assert set(sig) == {"id", "role", "method", "signer_name", "personal_number_masked", "signed_at", "visible_sha256"}
    assert sig["role"] == "subject" and sig["method"] == "bankid"
    assert sig["personal_number_masked"] == ADULT_PN[:8] + "-****"
    assert ADULT_PN not in str(body)
    assert body["withdrawn_at"] is None and body["revoked_at"] is None and body["refused_at"] is None
    assert body["locale"] == "sv" and body["created_at"]
    # The signature was recorded outside a request, so its record is not sealed yet: no link to a PDF.
    assert body["record_url"] is None


def test_record_url_points_at_the_pdf_once_a_sealed_record_exists(app: Any, acme: Any) -> None:
    person = _adult(app, acme)
    consent_id = give(app, acme, person)
    with tx(app) as s:
        for record in s.query(Record).filter_by(consent_id=consent_id):
            s.delete(record)
    assert acme.get(f"/api/v1/consents/{consent_id}").get_json()["record_url"] is None
    with tx(app) as s:
        s.add(Record(tenant_id=acme.tenant_id, kind="consent_given", consent_id=consent_id, audit_event_id="e",
                     audit_event_hash="0" * 64, status="sealed", sealed_at=utcnow()))
    body = acme.get(f"/api/v1/consents/{consent_id}").get_json()
    assert body["record_url"] == f"http://localhost/api/v1/consents/{consent_id}/record.pdf"


def test_withdraw_only_from_given(app: Any, acme: Any) -> None:
    person = _adult(app, acme)
    pending = request_consent(acme, person)["consent_id"]
    resp = acme.post(f"/api/v1/consents/{pending}/withdraw", json={})
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    given = give(app, acme, person)
    resp = acme.post(f"/api/v1/consents/{given}/withdraw", json={"reason": "phoned the office"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "withdrawn" and body["withdrawn_at"]
    assert audit_types(app, acme.tenant_id)[-1] == "consent.withdrawn"
    for action, payload in (("withdraw", {}), ("revoke", {"reason": "x"})):
        again = acme.post(f"/api/v1/consents/{given}/{action}", json=payload)
        assert again.status_code == 409
    with tx(app) as s:
        assert s.get(Consent, given).withdraw_reason == "phoned the office"


def test_withdraw_without_body_is_accepted(app: Any, acme: Any) -> None:
    consent_id = give(app, acme, _adult(app, acme))
    resp = acme.post(f"/api/v1/consents/{consent_id}/withdraw")
    assert resp.status_code == 200 and resp.get_json()["status"] == "withdrawn"


def test_revoke_from_given_or_pending_and_never_twice(app: Any, acme: Any) -> None:
    person = _adult(app, acme)
    given = give(app, acme, person)
    pending = request_consent(acme, person)["consent_id"]
    for consent_id in (given, pending):
        resp = acme.post(f"/api/v1/consents/{consent_id}/revoke", json={"reason": "campaign ended"})
        assert resp.status_code == 200 and resp.get_json()["status"] == "revoked"
        assert resp.get_json()["revoked_at"]
        assert acme.post(f"/api/v1/consents/{consent_id}/revoke", json={"reason": "again"}).status_code == 409
        assert acme.post(f"/api/v1/consents/{consent_id}/withdraw", json={}).status_code == 409
    assert audit_types(app, acme.tenant_id).count("consent.revoked") == 2


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": "x", "more": 1}])
def test_revoke_needs_a_reason_and_changes_nothing_without_one(app: Any, acme: Any, body: dict[str, Any]) -> None:
    consent_id = give(app, acme, _adult(app, acme))
    events = audit_types(app, acme.tenant_id)
    resp = acme.post(f"/api/v1/consents/{consent_id}/revoke", json=body)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert acme.get(f"/api/v1/consents/{consent_id}").get_json()["status"] == "given"
    assert audit_types(app, acme.tenant_id) == events


def test_withdraw_bad_body_is_422(app: Any, acme: Any) -> None:
    consent_id = give(app, acme, _adult(app, acme))
    for body in ({"reason": 1}, {"why": "x"}, ["x"]):
        assert acme.post(f"/api/v1/consents/{consent_id}/withdraw", json=body).status_code == 422
    assert acme.get(f"/api/v1/consents/{consent_id}").get_json()["status"] == "given"


def test_expired_is_computed_and_cannot_be_withdrawn_or_revoked(app: Any, acme: Any) -> None:
    person = _adult(app, acme)
    consent_id = give(app, acme, person, at=utcnow() - timedelta(days=400))
    body = acme.get(f"/api/v1/consents/{consent_id}").get_json()
    assert body["status"] == "expired"
    assert acme.post(f"/api/v1/consents/{consent_id}/withdraw", json={}).status_code == 409
    assert acme.post(f"/api/v1/consents/{consent_id}/revoke", json={"reason": "x"}).status_code == 409
    expired = acme.get("/api/v1/consents?status=expired").get_json()["items"]
    assert [c["id"] for c in expired] == [consent_id]
    assert acme.get("/api/v1/consents?status=given").get_json()["items"] == []


def test_list_filters_by_person_status_purpose_and_asset(app: Any, acme: Any) -> None:
    anna = _adult(app, acme)
    bo = add_person(app, acme.tenant_id, "Bo", birth_date=years_ago(40))
    web_all = give(app, acme, anna, purposes=["web"])
    print_a1 = give(app, acme, anna, purposes=["print"], asset_ids=["a1"])
    pending_bo = request_consent(acme, bo)["consent_id"]
    link(app, acme.tenant_id, "a2", anna)
    link(app, acme.tenant_id, "a1", anna, bo)

    def ids(query: str) -> set[str]:
        resp = acme.get(f"/api/v1/consents{query}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return {c["id"] for c in resp.get_json()["items"]}

    assert ids("") == {web_all, print_a1, pending_bo}
    assert ids(f"?person_id={anna}") == {web_all, print_a1}
    assert ids("?status=pending") == {pending_bo}
    assert ids("?status=given") == {web_all, print_a1}
    assert ids("?purpose=print") == {print_a1, pending_bo}
    assert ids("?asset_id=a2") == {web_all}
    assert ids("?asset_id=a1") == {web_all, print_a1, pending_bo}
    assert ids("?asset_id=a1&status=given&purpose=print") == {print_a1}
    assert ids("?asset_id=unlinked") == set()


def test_list_pages_with_a_cursor(app: Any, acme: Any) -> None:
    person = _adult(app, acme)
    made = [request_consent(acme, person)["consent_id"] for _ in range(5)]
    first = acme.get("/api/v1/consents?limit=2").get_json()
    second = acme.get(f"/api/v1/consents?limit=2&cursor={first['next_cursor']}").get_json()
    third = acme.get(f"/api/v1/consents?limit=2&cursor={second['next_cursor']}").get_json()
    seen = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert sorted(seen) == sorted(made) and len(set(seen)) == 5
    assert third["next_cursor"] is None


NAIVE_CURSOR = base64.urlsafe_b64encode(b"2025-01-01T00:00:00|x").decode()


@pytest.mark.parametrize(
    "query", ["?status=lost", "?limit=0", "?limit=5000", "?cursor=%%%", "?limit=x", f"?cursor={NAIVE_CURSOR}"]
)
def test_list_bad_query_is_problem(acme: Any, query: str) -> None:
    resp = acme.get(f"/api/v1/consents{query}")
    assert resp.status_code in (400, 422) and resp.mimetype == "application/problem+json"


def test_unknown_consent_is_404(acme: Any) -> None:
    for method, path in (("get", ""), ("post", "/withdraw"), ("post", "/revoke")):
        resp = getattr(acme, method)(f"/api/v1/consents/nope{path}", json={"reason": "x"})
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_scopes(app: Any, acme: Any, make_api: Any) -> None:
    consent_id = give(app, acme, _adult(app, acme))
    reader = make_api("acme", scopes="consents:read")
    assert reader.get(f"/api/v1/consents/{consent_id}").status_code == 200
    assert reader.post(f"/api/v1/consents/{consent_id}/withdraw", json={}).status_code == 403
    assert reader.post(f"/api/v1/consents/{consent_id}/revoke", json={"reason": "x"}).status_code == 403
    assert acme.get(f"/api/v1/consents/{consent_id}").get_json()["status"] == "given"



def test_a_withdrawal_decided_on_a_stale_read_answers_409_and_changes_nothing(
    app: Any, acme: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a path that skipped the lock cannot move a consent on from a state it no longer has:
    its UPDATE is conditional on the status it read, and matching no row it answers 409."""
    from consent import consents

    consent_id = give(app, acme, _adult(app, acme))

    def read_without_lock(session: Any, tenant_id: str, wanted: str) -> Consent:
        consent = session.get(Consent, wanted)
        with tx(app) as other:  # the controller revokes it meanwhile
            found = other.get(Consent, wanted)
            found.status, found.revoked_at, found.revoke_reason = "revoked", utcnow(), "ended"
        return consent

    monkeypatch.setattr(consents, "_lock", read_without_lock)
    resp = acme.post(f"/api/v1/consents/{consent_id}/withdraw", json={})
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json", resp.get_data(as_text=True)
    body = acme.get(f"/api/v1/consents/{consent_id}").get_json()
    assert body["status"] == "revoked" and body["withdrawn_at"] is None
    assert "consent.withdrawn" not in audit_types(app, acme.tenant_id)
