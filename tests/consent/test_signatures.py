"""consent/signatures.py: the functions the signing pages call."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from app import audit_verify, create_app
from app.audit import AuditEvent
from app.db import utcnow
from app.errors import Conflict, Forbidden, Gone, NotFound, Unprocessable
from consent import signatures, signed_text
from consent.models import Addendum, Consent, Signature, Signer
from tests.consent.arrange import (
    ADULT_PN,
    GUARDIAN2_PN,
    GUARDIAN_PN,
    OTHER_PN,
    add_person,
    audit_types,
    count,
    identity,
    keyring,
    make_template,
    request_consent,
    sign,
    tx,
    years_ago,
)


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _adult(app: Any, acme: Any, **request: Any) -> dict[str, Any]:
    person = add_person(app, acme.tenant_id, "Anna Andersson", birth_date=years_ago(30), pn=ADULT_PN)
    return request_consent(acme, person, **request)


def _family(app: Any, acme: Any) -> tuple[str, str, str]:
    """A child with two guardians who have personal numbers on file."""
    g1 = add_person(app, acme.tenant_id, "Greta", birth_date=years_ago(45), pn=GUARDIAN_PN)
    g2 = add_person(app, acme.tenant_id, "Gustav", birth_date=years_ago(46), pn=GUARDIAN2_PN)
    child = add_person(app, acme.tenant_id, "Kid", birth_date=years_ago(9), guardian_ids=(g1, g2))
    return child, g1, g2


def _record(app: Any, signer_id: str, **kw: Any) -> Any:
    with tx(app) as s:
        return signatures.record_signature(
            s, keyring(app), signer_id=signer_id, identity=kw.get("identity", identity()),
            purposes=kw.get("purposes", ["web"]), visible_text=kw.get("visible_text", "text"),
            at=kw.get("at", utcnow()),
        )


# --- signer_by_token and signing_view -----------------------------------------------

def test_signer_by_token_finds_the_signer_and_refuses_unknown_and_expired(app: Any, acme: Any) -> None:
    req = _adult(app, acme)
    token = _token(req["signers"][0]["signing_url"])
    with tx(app) as s:
        assert signatures.signer_by_token(s, token, now=utcnow()).id == req["signers"][0]["id"]
        with pytest.raises(NotFound):
            signatures.signer_by_token(s, token[:-2] + "xx", now=utcnow())
        with pytest.raises(NotFound):
            signatures.signer_by_token(s, "x" * 5000, now=utcnow())
        with pytest.raises(Gone):
            signatures.signer_by_token(s, token, now=utcnow() + timedelta(days=31))


def test_signing_view_fills_every_field_in_the_asked_locale(app: Any, acme: Any) -> None:
    req = _adult(app, acme, asset_ids=["a1", "a2"])
    with app.app_context(), tx(app) as s:
        signer = s.get(Signer, req["signers"][0]["id"])
        view = signatures.signing_view(s, signer, locale="en", now=utcnow())
        assert view.kind == "consent" and view.role == "subject" and view.tenant_name == "Acme"
        assert view.object_id == req["consent_id"] and view.object_status == "pending"
        assert view.signer_status == "pending" and view.locale == "en"
        assert view.title == "Consent to photos" and "photos" in view.body_markdown
        template = acme.get("/api/v1/consent-templates/photo").get_json()
        assert view.text_sha256 == template["text_sha256"]["en"]
        assert view.subject_name == view.signer_name == "Anna Andersson"
        assert view.required_personal_number == ADULT_PN
        assert [(p.key, p.label) for p in view.purposes] == [("web", "web en"), ("print", "print en")]
        assert view.asset_count == 2 and view.valid_until is None and view.validity_days == 365
        assert view.signed_at is None and view.record_available is False and view.can_withdraw is False
        assert view.expires_at == signer.expires_at
        # A locale the template lacks falls back to the consent's own.
        assert signatures.signing_view(s, signer, locale="nb", now=utcnow()).locale == "sv"


def test_visible_text_is_deterministic_and_safe_for_simple_markdown(app: Any, acme: Any) -> None:
    make_template(acme, body={"sv": "## Rubrik\n\nText med *stjärna* | pipe\n\n- ett\n- två", "en": "x"})
    req = _adult(app, acme)
    with app.app_context(), tx(app) as s:
        view = signatures.signing_view(s, s.get(Signer, req["signers"][0]["id"]), locale="sv", now=utcnow())
    text = signed_text.visible_text(view, ["print", "web"])
    assert text == signed_text.visible_text(view, ["web", "print"])
    assert text.startswith("# Samtycke till bilder\n\n### Rubrik\n\nText med stjärna \\| pipe\n\n• ett\n\n• två")
    assert "### Ändamål\n\n• web sv\n• print sv" in text
    assert "Giltigt i 365 dagar" in text and "alla bilder" in text
    assert "print sv" not in signed_text.visible_text(view, ["web"])
    with pytest.raises(Unprocessable):
        signed_text.visible_text(view, ["social"])


# --- record_signature ----------------------------------------------------------------

def test_adult_signature_gives_the_consent_with_evidence_and_audit(app: Any, acme: Any) -> None:
    req = _adult(app, acme)
    at = utcnow()
    sig_id = sign(app, req["signers"][0]["id"], purposes=["print"], at=at)
    with app.app_context(), tx(app) as s:
        sig = s.get(Signature, sig_id)
        assert sig.method == "bankid" and sig.role == "subject" and sig.signer_name == "Anna Andersson"
        assert sig.pn_masked == ADULT_PN[:8] + "-****" and ADULT_PN not in sig.pn_encrypted
        assert keyring(app).decrypt(sig.pn_encrypted, context=acme.tenant_id) == ADULT_PN
        assert sig.evidence == {"signature": "PFhNTD4=", "ocspResponse": "MIIB"} and sig.purposes == ["print"]
        assert signatures.sha256_hex(sig.visible_text) == sig.visible_sha256
        consent = s.get(Consent, req["consent_id"])
        assert consent.status == "given" and consent.given_at == at == consent.valid_from
        assert consent.valid_until == at + timedelta(days=365) and consent.purposes == ["print"]
        assert s.get(Signer, req["signers"][0]["id"]).status == "signed"
        refs = s.scalars(
            sa.select(AuditEvent.refs).where(AuditEvent.type == "signature.recorded")
        ).one()
        assert refs == {"signature_id": sig_id, "signer_id": req["signers"][0]["id"],
                        "consent_id": req["consent_id"], "visible_sha256": sig.visible_sha256}
    assert audit_types(app, acme.tenant_id)[-2:] == ["signature.recorded", "consent.given"]


def test_a_second_app_with_another_data_key_does_not_take_over_the_evidence(app: Any, acme: Any) -> None:
    sig_id = sign(app, _adult(app, acme)["signers"][0]["id"])
    shared = ("ENV", "TESTING", "DATABASE_URL", "INSTANCE_PATH", "SECRET_KEY", "BASE_URL", "BANKID")
    other = create_app({key: app.config[key] for key in shared} | {"DATA_KEY": "another-installation-data-key"})
    try:
        # The first app still reads the evidence it wrote, after the second one was built.
        with tx(app) as s:
            assert s.get(Signature, sig_id).evidence == {"signature": "PFhNTD4=", "ocspResponse": "MIIB"}
        # The second one holds its own key: it cannot read that row ...
        with pytest.raises(InvalidTag), tx(other) as s:
            s.get(Signature, sig_id)
        # ... and what it writes, only it can read.
        with tx(other) as s:
            s.execute(sa.update(Signature).where(Signature.id == sig_id).values(evidence={"written_by": "other"}))
        with tx(other) as s:
            assert s.scalar(sa.select(Signature.evidence).where(Signature.id == sig_id)) == {"written_by": "other"}
        with pytest.raises(InvalidTag), tx(app) as s:
            s.scalar(sa.select(Signature.evidence).where(Signature.id == sig_id))
    finally:
        other.extensions["samtycke.engine"].dispose()


def test_requested_valid_until_wins_over_validity_days(app: Any, acme: Any) -> None:
    until = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    req = _adult(app, acme, valid_until=until.isoformat())
    sign(app, req["signers"][0]["id"])
    with tx(app) as s:
        assert s.get(Consent, req["consent_id"]).valid_until == until


def test_another_person_is_forbidden_and_nothing_is_recorded(app: Any, acme: Any) -> None:
    req = _adult(app, acme)
    events_before = audit_types(app, acme.tenant_id)
    for who in (identity(OTHER_PN), identity(None)):
        with pytest.raises(Forbidden, match="another person"):
            _record(app, req["signers"][0]["id"], identity=who)
    assert count(app, Signature) == 0
    assert audit_types(app, acme.tenant_id) == events_before
    with tx(app) as s:
        assert s.get(Signer, req["signers"][0]["id"]).status == "pending"
        assert s.get(Consent, req["consent_id"]).status == "pending"


def test_no_personal_number_on_file_lets_any_verified_identity_sign(app: Any, acme: Any) -> None:
    person = add_person(app, acme.tenant_id, "No Number", birth_date=years_ago(30))
    req = request_consent(acme, person)
    _record(app, req["signers"][0]["id"], identity=identity(OTHER_PN))
    with tx(app) as s:
        assert s.get(Consent, req["consent_id"]).status == "given"


@pytest.mark.parametrize("purposes", [[], ["social"], ["web", "nope"]])
def test_purposes_must_be_a_nonempty_subset_of_the_requested(app: Any, acme: Any, purposes: list[str]) -> None:
    req = _adult(app, acme)
    with pytest.raises(Unprocessable):
        _record(app, req["signers"][0]["id"], purposes=purposes)
    assert count(app, Signature) == 0


def test_double_recording_is_conflict_with_exactly_one_signature_and_event(app: Any, acme: Any) -> None:
    req = _adult(app, acme)
    _record(app, req["signers"][0]["id"])
    with pytest.raises(Conflict):
        _record(app, req["signers"][0]["id"])
    assert count(app, Signature) == 1
    assert audit_types(app, acme.tenant_id).count("signature.recorded") == 1


def test_unique_signer_constraint_answers_conflict_inside_a_savepoint(app: Any, acme: Any) -> None:
    """Even when the row lock is bypassed (the signer looks pending again), the unique
    signer_id refuses a second signature, and the session stays usable."""
    req = _adult(app, acme)
    signer_id = req["signers"][0]["id"]
    _record(app, signer_id)
    with app.app_context(), tx(app) as s:
        signer = s.get(Signer, signer_id)
        signer.status = "pending"
        s.get(Consent, req["consent_id"]).status = "pending"
        s.flush()
        with pytest.raises(Conflict):
            signatures.record_signature(
                s, keyring(app), signer_id=signer_id, identity=identity(), purposes=["web"],
                visible_text="again", at=utcnow(),
            )
        # The outer transaction survived the failed insert.
        assert s.scalar(sa.select(sa.func.count()).select_from(Signature)) == 1
        s.rollback()
    assert count(app, Signature) == 1
    assert audit_types(app, acme.tenant_id).count("signature.recorded") == 1


def test_expired_link_is_gone(app: Any, acme: Any) -> None:
    req = _adult(app, acme)
    with pytest.raises(Gone):
        _record(app, req["signers"][0]["id"], at=utcnow() + timedelta(days=31))
    assert count(app, Signature) == 0


def test_revoked_pending_consent_kills_its_links(app: Any, acme: Any) -> None:
    req = _adult(app, acme)
    resp = acme.post(f"/api/v1/consents/{req['consent_id']}/revoke", json={"reason": "sent by mistake"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "revoked"
    with tx(app) as s, pytest.raises(Gone):
        signatures.signer_by_token(s, _token(req["signers"][0]["signing_url"]), now=utcnow())
    with pytest.raises((Gone, Conflict)):
        _record(app, req["signers"][0]["id"])
    assert count(app, Signature) == 0


def test_all_guardians_must_sign_and_purposes_are_the_intersection(app: Any, acme: Any) -> None:
    child, _, _ = _family(app, acme)
    req = request_consent(acme, child)
    s1, s2 = (s["id"] for s in req["signers"])
    with pytest.raises(Forbidden):  # the second guardian's link is not the first guardian's
        _record(app, s2, identity=identity(GUARDIAN_PN))
    _record(app, s1, identity=identity(GUARDIAN_PN), purposes=["web", "print"])
    with tx(app) as s:
        assert s.get(Consent, req["consent_id"]).status == "pending"
    assert "consent.given" not in audit_types(app, acme.tenant_id)
    _record(app, s2, identity=identity(GUARDIAN2_PN), purposes=["print"])
    with tx(app) as s:
        consent = s.get(Consent, req["consent_id"])
        assert consent.status == "given" and consent.purposes == ["print"]
    assert audit_types(app, acme.tenant_id).count("consent.given") == 1


def test_an_erased_guardians_wiped_signature_never_completes_a_consent(app: Any, acme: Any) -> None:
    """A guardian erased before erasure revoked what they had signed (data from earlier versions):
    their wiped signature counts as missing, so the other guardian's alone gives nothing."""
    from consent.models import Person

    child, g1, _ = _family(app, acme)
    req = request_consent(acme, child)
    s1, s2 = (s["id"] for s in req["signers"])
    _record(app, s1, identity=identity(GUARDIAN_PN))
    with tx(app) as s:
        guardian = s.get(Person, g1)
        guardian.name = guardian.pn_encrypted = guardian.pn_index = guardian.pn_masked = None
        guardian.erased_at = utcnow()
        signature = s.scalars(sa.select(Signature).where(Signature.signer_id == s1)).one()
        signature.signer_name, signature.evidence, signature.visible_text = None, {"erased": True}, ""
    _record(app, s2, identity=identity(GUARDIAN2_PN))
    with tx(app) as s:
        assert s.get(Consent, req["consent_id"]).status == "pending"
    assert "consent.given" not in audit_types(app, acme.tenant_id)


def test_one_guardian_is_enough_when_the_template_says_so(app: Any, acme: Any) -> None:
    make_template(acme, guardians_required="one")
    child, _, _ = _family(app, acme)
    req = request_consent(acme, child)
    _record(app, req["signers"][1]["id"], identity=identity(GUARDIAN2_PN))
    with tx(app) as s:
        assert s.get(Consent, req["consent_id"]).status == "given"
    with pytest.raises(Conflict):  # the other guardian's link can no longer sign
        _record(app, req["signers"][0]["id"], identity=identity(GUARDIAN_PN))


# --- decline and withdraw ---------------------------------------------------------------

def test_one_guardian_declining_refuses_the_consent(app: Any, acme: Any) -> None:
    child, _, _ = _family(app, acme)
    req = request_consent(acme, child)
    _record(app, req["signers"][0]["id"], identity=identity(GUARDIAN_PN))
    with tx(app) as s:
        signatures.decline(s, signer_id=req["signers"][1]["id"], at=utcnow())
    with tx(app) as s:
        consent = s.get(Consent, req["consent_id"])
        assert consent.status == "refused" and consent.refused_at is not None
        assert s.get(Signer, req["signers"][1]["id"]).status == "declined"
    assert audit_types(app, acme.tenant_id)[-1] == "consent.refused"
    with tx(app) as s, pytest.raises(Conflict):
        signatures.decline(s, signer_id=req["signers"][1]["id"], at=utcnow())


def test_withdraw_by_subject_ends_a_given_consent_once(app: Any, acme: Any) -> None:
    req = _adult(app, acme)
    signer_id = req["signers"][0]["id"]
    with tx(app) as s, pytest.raises(Conflict):
        signatures.withdraw_by_subject(s, signer_id=signer_id, at=utcnow())
    sign(app, signer_id)
    with tx(app) as s:
        view = signatures.signing_view(s, s.get(Signer, signer_id), locale="sv", now=utcnow(), keyring=keyring(app))
        assert view.can_withdraw and view.object_status == "given" and view.signed_at is not None
        consent = signatures.withdraw_by_subject(s, signer_id=signer_id, at=utcnow())
        assert consent.status == "withdrawn"
    with tx(app) as s:
        actor = s.scalars(sa.select(AuditEvent.actor).where(AuditEvent.type == "consent.withdrawn")).one()
        assert actor == f"subject:{signer_id}"
    with tx(app) as s, pytest.raises(Conflict):
        signatures.withdraw_by_subject(s, signer_id=signer_id, at=utcnow())


# --- addendum signers -------------------------------------------------------------------

def test_addendum_signature_checks_the_named_person_and_signs_it(app: Any, acme: Any) -> None:
    resp = acme.post(
        "/api/v1/addenda",
        json={"kind": "transcription-transfer", "signer": {"name": "Rita Rep", "personal_number": GUARDIAN_PN}},
    )
    addendum = resp.get_json()
    with app.app_context(), tx(app) as s:
        signer = signatures.signer_by_token(s, _token(addendum["signing_url"]), now=utcnow())
        view = signatures.signing_view(s, signer, locale="en", now=utcnow())
        assert view.kind == "addendum" and view.role == "representative" and view.purposes == []
        assert view.required_personal_number == GUARDIAN_PN and view.signer_name == "Rita Rep"
        assert "europe-north1" in view.body_markdown and view.locale == "en"
        text = signed_text.visible_text(view, [])
        signer_id = signer.id
    with pytest.raises(Forbidden):
        _record(app, signer_id, identity=identity(ADULT_PN), purposes=[], visible_text=text)
    _record(app, signer_id, identity=identity(GUARDIAN_PN), purposes=[], visible_text=text)
    with tx(app) as s:
        row = s.get(Addendum, addendum["id"])
        assert row.status == "signed" and row.signed_at is not None
    assert audit_types(app, acme.tenant_id)[-2:] == ["signature.recorded", "addendum.signed"]
    active = acme.get("/api/v1/addenda/active?kind=transcription-transfer").get_json()
    assert active["active"] is True and active["addendum_id"] == addendum["id"]


def test_addendum_decline_refuses_it(app: Any, acme: Any) -> None:
    addendum = acme.post(
        "/api/v1/addenda", json={"kind": "transcription-transfer", "signer": {"name": "Rita Rep"}}
    ).get_json()
    with tx(app) as s:
        signer = signatures.signer_by_token(s, _token(addendum["signing_url"]), now=utcnow())
        signatures.decline(s, signer_id=signer.id, at=utcnow())
    assert acme.get(f"/api/v1/addenda/{addendum['id']}").get_json()["status"] == "refused"
    assert audit_types(app, acme.tenant_id)[-1] == "addendum.refused"


# --- hooks after commit ---------------------------------------------------------------------

def test_side_effects_follow_the_commit_only(app: Any, acme: Any) -> None:
    """The record of a consent event is queued with the event and produced after the commit;
    a rolled-back change leaves neither."""
    import sqlalchemy as sa

    from reports.models import Record

    def records() -> list[tuple[str, str]]:
        with tx(app) as s:
            return [tuple(r) for r in s.execute(sa.select(Record.kind, Record.status).order_by(Record.created_at))]

    req = _adult(app, acme)
    with app.app_context(), tx(app) as s:
        signatures.record_signature(
            s, keyring(app), signer_id=req["signers"][0]["id"], identity=identity(), purposes=["web"],
            visible_text="t", at=utcnow(),
        )
        assert s.scalar(sa.select(Record.status)) == "pending"  # queued in the same transaction
    assert records() == [("consent_given", "sealed")]
    with app.app_context(), tx(app) as s:
        signatures.withdraw_by_subject(s, signer_id=req["signers"][0]["id"], at=utcnow())
        s.rollback()
    assert records() == [("consent_given", "sealed")]  # rolled back: nothing queued, nothing produced
    assert acme.post(f"/api/v1/consents/{req['consent_id']}/withdraw", json={}).status_code == 200
    assert records() == [("consent_given", "sealed"), ("consent_withdrawn", "sealed")]


# --- concurrency (PostgreSQL: real row locks) ---------------------------------------------------

def test_two_concurrent_recordings_make_exactly_one_signature(app: Any, acme: Any, database: Any) -> None:
    if database.backend != "postgresql":
        pytest.skip("row locks and concurrent writers need PostgreSQL")
    req = _adult(app, acme)
    signer_id = req["signers"][0]["id"]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        factory = app.extensions["samtycke.sessionmaker"]
        session = factory()
        try:
            barrier.wait()
            signatures.record_signature(
                session, keyring(app), signer_id=signer_id, identity=identity(), purposes=["web"],
                visible_text="race", at=utcnow(),
            )
            session.commit()
            outcomes.append("signed")
        except Conflict:
            session.rollback()
            outcomes.append("conflict")
        except Exception as exc:
            session.rollback()
            outcomes.append(f"error: {exc!r}")
        finally:
            session.close()

    for _ in range(3):  # several rounds: a lucky interleaving must not hide a race
        outcomes.clear()
        barrier.reset()
        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        if count(app, Signature) == 1 and sorted(outcomes) == ["conflict", "signed"]:
            break
    assert sorted(outcomes) == ["conflict", "signed"], outcomes
    assert count(app, Signature) == 1
    assert audit_types(app, acme.tenant_id).count("signature.recorded") == 1
    assert audit_types(app, acme.tenant_id).count("consent.given") == 1
    with tx(app) as s:
        assert audit_verify.verify(s, acme.tenant_id).ok
