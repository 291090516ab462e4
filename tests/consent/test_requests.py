"""Consent requests: who must sign, the signing links, and what is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.audit import AuditEvent
from app.crypto import sha256_hex
from app.db import utcnow
from consent.models import Consent, ConsentRequest, Signer
from tests.consent.arrange import (
    ADULT_PN,
    GUARDIAN2_PN,
    GUARDIAN_PN,
    add_person,
    audit_types,
    count,
    make_template,
    request_consent,
    sign,
    tx,
    years_ago,
)


def test_adult_request_creates_pending_consent_and_one_subject_link(app: Any, acme: Any) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30), pn=ADULT_PN)
    body = request_consent(acme, person)
    assert body["status"] == "pending" and body["person_id"] == person
    assert body["template"] == {"key": "photo", "version": 1}
    assert body["locale"] == "sv"
    [signer] = body["signers"]
    assert signer["role"] == "subject" and signer["person_id"] == person and signer["status"] == "pending"
    assert signer["signing_url"].startswith("http://localhost/s/")
    assert signer["qr_png_url"] == signer["signing_url"] + "/qr.png"
    assert signer["qr_svg_url"] == signer["signing_url"] + "/qr.svg"
    expires = body["expires_at"]
    with tx(app) as s:
        consent = s.get(Consent, body["consent_id"])
        assert consent.status == "pending" and consent.guardians_required is None
        assert consent.requested_purposes == ["web", "print"] and consent.asset_ids is None
        request = s.get(ConsentRequest, body["id"])
        assert abs(request.expires_at - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
        assert request.expires_at.isoformat() == expires
    event = audit_types(app, acme.tenant_id)[-1]
    assert event == "consent.requested"
    with tx(app) as s:
        refs = s.scalars(sa.select(AuditEvent.refs).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert refs == {
        "consent_id": body["consent_id"], "request_id": body["id"], "person_id": person,
        "template_id": refs["template_id"], "signer_ids": [signer["id"]],
    }


def test_signing_token_is_stored_only_as_its_hash_and_is_rederivable(app: Any, acme: Any) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30))
    body = request_consent(acme, person)
    signer = body["signers"][0]
    token = signer["signing_url"].rsplit("/", 1)[1]
    assert len(token) >= 22  # at least 128 bits, base64url
    assert token == app.extensions["samtycke.keyring"].link_token(signer["id"])
    with tx(app) as s:
        row = s.get(Signer, signer["id"])
        assert row.token_hash == sha256_hex(token)
        # No column of any table holds the token itself.
        for table in ("signers", "consents", "consent_requests", "audit_events"):
            dump = " ".join(str(r) for r in s.execute(sa.text(f"SELECT * FROM {table}")))
            assert token not in dump
    again = acme.get(f"/api/v1/consent-requests/{body['id']}").get_json()
    assert again["signers"][0]["signing_url"] == signer["signing_url"]


def test_minor_needs_every_guardian_and_the_template_rule_is_copied(app: Any, acme: Any) -> None:
    g1 = add_person(app, acme.tenant_id, "Greta", birth_date=years_ago(45), pn=GUARDIAN_PN)
    g2 = add_person(app, acme.tenant_id, "Gustav", birth_date=years_ago(46), pn=GUARDIAN2_PN)
    child = add_person(app, acme.tenant_id, "Kid", birth_date=years_ago(10), guardian_ids=(g1, g2))
    body = request_consent(acme, child)
    assert [(s["role"], s["person_id"]) for s in body["signers"]] == [("guardian", g1), ("guardian", g2)]
    with tx(app) as s:
        assert s.get(Consent, body["consent_id"]).guardians_required == "all"
    make_template(acme, guardians_required="one")
    body = request_consent(acme, child)
    assert body["template"]["version"] == 2
    with tx(app) as s:
        assert s.get(Consent, body["consent_id"]).guardians_required == "one"


def test_minor_age_is_the_templates_and_counted_on_today(app: Any, acme: Any) -> None:
    guardian = add_person(app, acme.tenant_id, "Greta", birth_date=years_ago(45))
    turns_15_tomorrow = add_person(
        app, acme.tenant_id, "Teen", birth_date=years_ago(15) + timedelta(days=1), guardian_ids=(guardian,)
    )
    turned_15_today = add_person(app, acme.tenant_id, "Teen2", birth_date=years_ago(15), guardian_ids=(guardian,))
    no_birth_date = add_person(app, acme.tenant_id, "Unknown", guardian_ids=(guardian,))
    make_template(acme, minor_age=15)
    assert request_consent(acme, turns_15_tomorrow)["signers"][0]["role"] == "guardian"
    assert request_consent(acme, turned_15_today)["signers"][0]["role"] == "subject"
    assert request_consent(acme, no_birth_date)["signers"][0]["role"] == "subject"


def test_minor_without_guardians_is_422_and_nothing_is_written(app: Any, acme: Any) -> None:
    child = add_person(app, acme.tenant_id, "Kid", birth_date=years_ago(10))
    before = (count(app, Consent), count(app, Signer), len(audit_types(app, acme.tenant_id)))
    resp = acme.post("/api/v1/consent-requests", json={"person_id": child, "template": "photo"})
    assert resp.status_code == 422 and "guardians required" in resp.get_json()["detail"]
    assert (count(app, Consent), count(app, Signer), len(audit_types(app, acme.tenant_id))) == before


def test_purposes_assets_validity_and_locale_are_kept(app: Any, acme: Any) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30))
    until = (utcnow() + timedelta(days=10)).replace(microsecond=0)
    body = request_consent(
        acme, person, purposes=["print"], asset_ids=["a1", "a2", "a1"], valid_until=until.isoformat(), locale="en"
    )
    assert body["locale"] == "en"
    with tx(app) as s:
        consent = s.get(Consent, body["consent_id"])
        assert consent.requested_purposes == ["print"] and consent.asset_ids == ["a1", "a2"]
        assert consent.requested_valid_until == until
        assert consent.text_sha256 == acme.get("/api/v1/consent-templates/photo").get_json()["text_sha256"]["en"]


def test_get_request_shows_current_statuses(app: Any, acme: Any) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30), pn=ADULT_PN)
    body = request_consent(acme, person)
    sign(app, body["signers"][0]["id"])
    now = acme.get(f"/api/v1/consent-requests/{body['id']}").get_json()
    assert now["status"] == "given" and now["signers"][0]["status"] == "signed"


def test_erased_or_unknown_person_is_404(app: Any, acme: Any) -> None:
    erased = add_person(app, acme.tenant_id, erased=True)
    for person_id in (erased, "no-such-person"):
        resp = acme.post("/api/v1/consent-requests", json={"person_id": person_id, "template": "photo"})
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert count(app, Consent) == 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"template": "nope"}, "template"),
        ({"purposes": []}, "purposes"),
        ({"purposes": ["social"]}, "purposes"),
        ({"purposes": ["web", "unknown"]}, "purposes"),
        ({"asset_ids": []}, "asset_ids"),
        ({"asset_ids": ["a/b"]}, "asset_ids"),
        ({"asset_ids": [1]}, "asset_ids"),
        ({"asset_ids": "a1"}, "asset_ids"),
        ({"asset_ids": [f"a{i}" for i in range(10_001)]}, "asset_ids"),
        ({"valid_until": "2000-01-01T00:00:00+00:00"}, "valid_until"),
        ({"valid_until": "2999-01-01T00:00:00"}, "valid_until"),
        ({"valid_until": "tomorrow"}, "valid_until"),
        ({"locale": "nb"}, "locale"),
        ({"locale": "de"}, "locale"),
        ({"person_id": None}, "person_id"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_request_input_is_422_and_writes_nothing(app: Any, acme: Any, extra: dict[str, Any], field: str) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30))

    def state() -> tuple[int, ...]:
        rows = (count(app, Consent), count(app, ConsentRequest), count(app, Signer))
        return (*rows, len(audit_types(app, acme.tenant_id)))

    before = state()
    resp = acme.post("/api/v1/consent-requests", json={"person_id": person, "template": "photo", **extra})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert field in (resp.get_json().get("errors") or {}), resp.get_json()
    assert state() == before


def test_scopes(app: Any, acme: Any, make_api: Any) -> None:
    person = add_person(app, acme.tenant_id, birth_date=years_ago(30))
    reader = make_api("acme", scopes="consents:read")
    assert reader.post("/api/v1/consent-requests", json={"person_id": person, "template": "photo"}).status_code == 403
    body = request_consent(acme, person)
    assert reader.get(f"/api/v1/consent-requests/{body['id']}").status_code == 200
    rights_only = make_api("acme", scopes="rights:read")
    assert rights_only.get(f"/api/v1/consent-requests/{body['id']}").status_code == 403
