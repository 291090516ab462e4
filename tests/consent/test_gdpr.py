"""GDPR rights: the access export (Art. 15/20) and erasure (Art. 17)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app import audit
from app.audit import AuditEvent
from app.crypto import sha256_hex
from app.db import transaction, utcnow
from consent.models import AssetLink, Consent, ConsentTemplate, Person, PersonGuardian, Signature, Signer

MOTHER_PN = "198507099805"
CHILD_PN = "201503129981"


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    return body


def family(api: Any) -> tuple[str, str]:
    mother = api.post(
        "/api/v1/persons",
        json={"name": "Maria Mor", "personal_number": MOTHER_PN, "email": "maria@example.se", "phone": "+46701112233"},
    ).get_json()["id"]
    child = api.post(
        "/api/v1/persons",
        json={"name": "Kalle Barn", "personal_number": CHILD_PN, "external_ref": "elev-7", "guardian_ids": [mother]},
    ).get_json()["id"]
    for asset in ("IMG_1", "IMG_2"):
        assert api.put(f"/api/v1/assets/{asset}/persons/{child}").status_code == 201
    return mother, child


def given_consent(app: Flask, tenant_id: str, child: str, mother: str) -> dict[str, str]:
    """A given consent for the child, signed by the mother, arranged directly in the database
    (the consent flow itself is tested with the consent API)."""
    keyring = app.extensions["samtycke.keyring"]
    now = utcnow()
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        template = ConsentTemplate(
            tenant_id=tenant_id, key="photo", version=1, title={"sv": "Foto"}, body={"sv": "Text"},
            text_sha256={"sv": sha256_hex("Foto\n\nText")}, purposes=["web"], validity_days=365,
        )
        s.add(template)
        s.flush()
        consent = Consent(
            tenant_id=tenant_id, person_id=child, template_id=template.id, template_key="photo",
            template_version=1, locale="sv", text_sha256=sha256_hex("Foto\n\nText"), requested_purposes=["web"],
            purposes=["web"], validity_days=365, status="given", valid_from=now, valid_until=now + timedelta(days=365),
            given_at=now, guardians_required="all",
        )
        s.add(consent)
        s.flush()
        signer = Signer(
            tenant_id=tenant_id, consent_id=consent.id, role="guardian", person_id=mother,
            token_hash=sha256_hex("t1"), expires_at=now + timedelta(days=30), status="signed", signed_at=now,
        )
        pending = Signer(
            tenant_id=tenant_id, consent_id=consent.id, role="guardian", person_id=None, position=1,
            token_hash=sha256_hex("t2"), expires_at=now + timedelta(days=30),
        )
        s.add_all([signer, pending])
        s.flush()
        s.add(
            Signature(
                tenant_id=tenant_id, signer_id=signer.id, consent_id=consent.id, method="bankid", role="guardian",
                signer_name="Maria Mor", pn_encrypted=keyring.encrypt(MOTHER_PN, context=tenant_id),
                pn_masked="19850709-****", purposes=["web"], locale="sv", visible_text="Jag samtycker för Kalle Barn",
                visible_sha256=sha256_hex("Jag samtycker för Kalle Barn"),
                evidence={"signature": "PHNpZz4=", "ocspResponse": "MII=", "user": {"name": "Maria Mor"}},
                signed_at=now,
            )
        )
        audit.append(s, tenant_id, "consent.given", "test", {"consent_id": consent.id, "signer_id": signer.id})
        return {"consent_id": consent.id, "signer_id": signer.id, "pending_id": pending.id}


def test_export_holds_everything_on_the_person(app: Flask, api: Any) -> None:
    mother, child = family(api)
    ids = given_consent(app, api.tenant_id, child, mother)
    resp = api.get(f"/api/v1/persons/{child}/export")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["person"]["personal_number"] == CHILD_PN
    assert body["person"]["name"] == "Kalle Barn" and body["person"]["external_ref"] == "elev-7"
    assert body["person"]["is_minor"] is True
    assert body["guardians"] == [{"id": mother, "name": "Maria Mor"}]
    assert sorted(link["asset_id"] for link in body["asset_links"]) == ["IMG_1", "IMG_2"]
    [consent] = body["consents"]
    assert consent["id"] == ids["consent_id"] and consent["status"] == "given" and consent["purposes"] == ["web"]
    assert consent["template"] == {"key": "photo", "version": 1, "text_sha256": sha256_hex("Foto\n\nText")}
    assert consent["signatures"][0]["signer_name"] == "Maria Mor"
    assert consent["signatures"][0]["method"] == "bankid" and consent["signatures"][0]["role"] == "guardian"
    types = [e["type"] for e in body["audit_events"]]
    assert types.count("link.added") == 2 and "person.created" in types and "consent.given" in types

    guardian_export = api.get(f"/api/v1/persons/{mother}/export").get_json()
    assert guardian_export["person"]["personal_number"] == MOTHER_PN
    assert guardian_export["person"]["email"] == "maria@example.se"
    assert guardian_export["person"]["phone"] == "+46701112233"
    assert guardian_export["wards"] == [{"id": child, "name": "Kalle Barn"}]
    assert [s["consent_id"] for s in guardian_export["signatures_given"]] == [ids["consent_id"]]
    assert "consent.given" in [e["type"] for e in guardian_export["audit_events"]]


def test_erasure_removes_personal_data_and_keeps_links_and_chain(app: Flask, api: Any) -> None:
    mother, child = family(api)
    ids = given_consent(app, api.tenant_id, child, mother)
    resp = api.delete(f"/api/v1/persons/{child}")
    assert resp.status_code == 204

    assert_problem(api.get(f"/api/v1/persons/{child}"), 404)
    assert_problem(api.get(f"/api/v1/persons/{child}/export"), 404)
    assert_problem(api.patch(f"/api/v1/persons/{child}", json={"name": "Back"}), 404)
    assert_problem(api.delete(f"/api/v1/persons/{child}"), 404)
    assert api.get("/api/v1/persons", query_string={"personal_number": CHILD_PN}).get_json()["items"] == []
    assert child not in [p["id"] for p in api.get("/api/v1/persons?limit=500").get_json()["items"]]
    assert api.get("/api/v1/persons?q=kalle").get_json()["items"] == []
    assert api.get(f"/api/v1/persons/{mother}").get_json()["name"] == "Maria Mor"

    with app.extensions["samtycke.sessionmaker"]() as s:
        row = s.execute(sa.select(Person.__table__).where(Person.id == child)).mappings().one()
        for column in ("name", "name_folded", "pn_encrypted", "pn_index", "pn_masked", "email", "phone",
                       "external_ref", "birth_date"):
            assert row[column] is None, column
        assert row["erased_at"] is not None
        assert s.scalar(sa.select(sa.func.count()).select_from(AssetLink).where(AssetLink.person_id == child)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(PersonGuardian)) == 0
        assert s.get(Consent, ids["consent_id"]) is not None
        signature = s.scalars(sa.select(Signature)).one()
        assert signature.signer_name is None and signature.pn_encrypted is None and signature.pn_masked is None
        assert signature.evidence == {"erased": True}
        assert "Kalle" not in signature.visible_text
        pending = s.get(Signer, ids["pending_id"])
        assert pending is not None and pending.expires_at <= utcnow()
        erased_event = s.scalars(sa.select(AuditEvent).where(AuditEvent.type == "person.erased")).one()
        assert erased_event.refs == {"person_id": child}
        everything = " ".join(str(tuple(r)) for r in s.execute(sa.select(AuditEvent.__table__)).all())
        assert "Kalle" not in everything and CHILD_PN not in everything

    linked = api.get("/api/v1/assets/IMG_1/persons").get_json()["items"]
    assert linked == [
        {"person_id": child, "name": None, "erased": True, "region": None, "created_at": linked[0]["created_at"]}
    ]
    verify = api.get("/api/v1/audit/verify").get_json()
    assert verify["ok"] is True
    # The erased person cannot be linked again, alone or in bulk.
    assert_problem(api.put(f"/api/v1/assets/IMG_9/persons/{child}"), 404)
    assert_problem(api.post("/api/v1/asset-links", json={"links": [{"asset_id": "IMG_9", "person_id": child}]}), 422)


def test_erasing_a_guardian_clears_their_signatures_and_relations(app: Flask, api: Any) -> None:
    mother, child = family(api)
    given_consent(app, api.tenant_id, child, mother)
    assert api.delete(f"/api/v1/persons/{mother}").status_code == 204
    assert api.get(f"/api/v1/persons/{child}").get_json()["guardian_ids"] == []
    with app.extensions["samtycke.sessionmaker"]() as s:
        signature = s.scalars(sa.select(Signature)).one()
        assert signature.signer_name is None and signature.evidence == {"erased": True}
    export = api.get(f"/api/v1/persons/{child}/export").get_json()
    assert export["guardians"] == []
    assert export["consents"][0]["signatures"][0]["signer_name"] is None


def test_export_and_erase_are_tenant_scoped(app: Flask, api: Any, other_api: Any) -> None:
    _, child = family(api)
    assert_problem(other_api.get(f"/api/v1/persons/{child}/export"), 404)
    assert_problem(other_api.delete(f"/api/v1/persons/{child}"), 404)
    assert api.get(f"/api/v1/persons/{child}").get_json()["name"] == "Kalle Barn"


def test_erase_needs_write_scope(make_api: Any) -> None:
    writer = make_api("acme", scopes="persons:write")
    pid = writer.post("/api/v1/persons", json={"name": "A"}).get_json()["id"]
    reader = make_api("acme", scopes="persons:read")
    assert_problem(reader.delete(f"/api/v1/persons/{pid}"), 403)
    assert reader.get(f"/api/v1/persons/{pid}").status_code == 200


def test_export_with_full_numbers_needs_read_and_write_scope(make_api: Any) -> None:
    """A reader sees personal numbers masked; the export's full number and raw evidence need more."""
    writer = make_api("acme", scopes="persons:write")
    pid = writer.post("/api/v1/persons", json={"name": "A", "personal_number": MOTHER_PN}).get_json()["id"]
    reader = make_api("acme", scopes="persons:read")
    assert reader.get(f"/api/v1/persons/{pid}").get_json()["personal_number_masked"].endswith("****")
    refused = reader.get(f"/api/v1/persons/{pid}/export")
    assert_problem(refused, 403)
    assert MOTHER_PN not in refused.get_data(as_text=True)
    both = make_api("acme", scopes="persons:read persons:write")
    assert both.get(f"/api/v1/persons/{pid}/export").get_json()["person"]["personal_number"] == MOTHER_PN


def test_an_erased_persons_link_stays_so_the_asset_never_turns_to_yes(app: Flask, api: Any) -> None:
    web = {"key": "web", "label": {"sv": "Webb", "nb": "Nett", "en": "Web"}}
    assert api.post("/api/v1/purposes", json=web).status_code == 201
    _, child = family(api)
    assert api.delete(f"/api/v1/persons/{child}").status_code == 204

    # The link is the tombstone that keeps the asset at "no": removing it is refused and changes nothing.
    body = assert_problem(api.delete(f"/api/v1/assets/IMG_1/persons/{child}"), 409)
    assert body["type"] == "/problems/erased-person-link" and body["person_id"] == child
    assert [p["person_id"] for p in api.get("/api/v1/assets/IMG_1/persons").get_json()["items"]] == [child]
    rights = api.get("/api/v1/assets/IMG_1/usage-rights?purpose=web").get_json()
    assert rights["allowed"] is False and rights["reason"] == "erased"
    with app.extensions["samtycke.sessionmaker"]() as s:
        types = list(s.scalars(sa.select(AuditEvent.type)))
    assert "link.removed" not in types
    # A link that never existed is still a plain 404.
    assert_problem(api.delete(f"/api/v1/assets/IMG_9/persons/{child}"), 404)
