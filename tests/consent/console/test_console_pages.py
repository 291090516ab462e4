"""What the DPO and editors see and do on each console page, checked against the services' data."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from consent.models import AssetLink, Consent, Person, Signature, TenantContact
from tests.console_world import ANNA_PN, BO_PN, Seed, audit_seq, csrf_of, token_for


def _html(client: Any, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return str(response.get_data(as_text=True))


# --- caching ------------------------------------------------------------------

def test_pages_with_personal_data_are_never_cached_but_static_files_may_be(seed: Seed, as_role: Any) -> None:
    viewer = as_role("viewer")
    for path in ("/", f"/console/persons/{seed.anna}", "/console/consents"):
        response = viewer.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
    script = viewer.get("/console/static/console.js")
    assert script.status_code == 200 and "no-store" not in script.headers.get("Cache-Control", "")


# --- dashboard ----------------------------------------------------------------

def test_dashboard_counts_and_lists(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    viewer = as_role("viewer")
    html = _html(viewer, "/")
    counts = dict(re.findall(r'<span class="stat-value">(\d+)</span> <span class="stat-label">(\w+)</span>', html))
    assert counts == {"1": "Given", "0": "Expired"} or (
        re.search(r'>1</span> <span class="stat-label">Given<', html)
        and re.search(r'>1</span> <span class="stat-label">Pending<', html)
        and re.search(r'>0</span> <span class="stat-label">Withdrawn<', html)
    )
    # Bo's request waits for his two guardians.
    assert f'/console/requests/{seed.pending_request}' in html and "0 of 2" in html
    assert "No consents expire within 30 days." in html
    # A revocation shows under "withdrawn and revoked".
    assert api.post(f"/api/v1/consents/{seed.given_consent}/revoke", json={"reason": "test"}).status_code == 200
    html = _html(viewer, "/")
    assert re.search(r'>1</span> <span class="stat-label">Revoked<', html)
    ended = html.split("Withdrawn and revoked in the last 30 days")[1].split("<h2")[0]
    assert f"/console/consents/{seed.given_consent}" in ended and "Anna Andersson" in ended


def test_dashboard_lists_consents_expiring_soon(app: Flask, seed: Seed, as_role: Any) -> None:
    from datetime import timedelta

    from app.db import utcnow

    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        consent = session.get(Consent, seed.given_consent)
        assert consent is not None
        consent.valid_until = utcnow() + timedelta(days=10)
    html = _html(as_role("viewer"), "/")
    expiring = html.split("Expiring within 30 days")[1].split("<h2")[0]
    assert "Anna Andersson" in expiring and f"/console/consents/{seed.given_consent}" in expiring


def test_dashboard_shows_failed_records(app: Flask, seed: Seed, as_role: Any) -> None:
    from reports.models import Record

    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        record = session.scalars(sa.select(Record).where(Record.consent_id == seed.given_consent)).one()
        record.status, record.failure_reason, record.attempts = "failed", "seal certificate missing", 3
    html = _html(as_role("viewer"), "/")
    failed = html.split("Records that failed")[1]
    assert "seal certificate missing" in failed and f"/console/consents/{seed.given_consent}" in failed


# --- persons ------------------------------------------------------------------

def test_person_search_by_name_reference_and_personal_number(seed: Seed, as_role: Any) -> None:
    viewer = as_role("viewer")
    for query in ("anna", "emp-17"):
        html = _html(viewer, f"/console/persons?q={query}")
        assert f"/console/persons/{seed.anna}" in html, query
        assert f"/console/persons/{seed.bo}\"" not in html, query
    for query in (ANNA_PN, "19800101-1231"):
        found = viewer.post("/console/persons", data={"q": query, "csrf_token": token_for(viewer, "/console/persons")})
        html = found.get_data(as_text=True)
        assert found.status_code == 200, query
        assert f"/console/persons/{seed.anna}" in html and f"/console/persons/{seed.bo}\"" not in html, query
    html = _html(viewer, "/console/persons?q=Berg")
    assert all(f"/console/persons/{pid}" in html for pid in (seed.bo, seed.carl, seed.dana))
    assert "Nobody matches" in _html(viewer, "/console/persons?q=Zelda")
    # Personal numbers are shown masked only.
    assert ANNA_PN not in _html(viewer, "/console/persons") and "19800101-****" in _html(viewer, "/console/persons")


def test_person_page_minor_guardians_consents_assets_trail(seed: Seed, as_role: Any) -> None:
    html = _html(as_role("viewer"), f"/console/persons/{seed.bo}")
    assert "Bo Berg" in html and BO_PN not in html
    guardians = html.split("<h2>Guardians</h2>")[1].split("<h2")[0]
    assert "Carl Berg" in guardians and "Dana Berg" in guardians
    assert re.search(r"<dt>Minor</dt><dd>Yes</dd>", html)
    assert f"/console/consents/{seed.pending_consent}" in html
    assert "img-bo" in html and "img-both" in html
    trail = html.split("<h2>Audit trail</h2>")[1]
    assert "person.created" in trail and "consent.requested" in trail
    carl = _html(as_role("viewer"), f"/console/persons/{seed.carl}")
    assert "Guardian of" in carl and "Bo Berg" in carl


def test_editor_registers_a_person_and_links_an_asset(app: Flask, seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    page = _html(editor, "/console/persons/new")
    response = editor.post("/console/persons/new", data={
        "name": "Eva Ek", "birth_date": "2012-04-01", "guardians": "emp-17\n", "csrf_token": csrf_of(page)})
    assert response.status_code == 302
    eva = response.headers["Location"].rsplit("/", 1)[1]
    with app.extensions["samtycke.sessionmaker"]() as session:
        person = session.get(Person, eva)
        assert person is not None and person.name == "Eva Ek"
        assert [g.id for g in person.guardians] == [seed.anna]
    html = _html(editor, f"/console/persons/{eva}")
    response = editor.post(f"/console/persons/{eva}/assets", data={"asset_id": "img-eva", "csrf_token": csrf_of(html)})
    assert response.status_code == 302
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(AssetLink, (seed.tenant_id, "img-eva", eva)) is not None
    response = editor.post(f"/console/persons/{eva}/assets/unlink",
                           data={"asset_id": "img-eva", "csrf_token": token_for(editor)})
    assert response.status_code == 302
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(AssetLink, (seed.tenant_id, "img-eva", eva)) is None


def test_person_form_errors_are_tied_to_fields(app: Flask, seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    token = token_for(editor, "/console/persons/new")
    response = editor.post("/console/persons/new", data={
        "name": "", "personal_number": "19800101-1232", "guardians": "nobody-here", "csrf_token": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "data-error-summary" in html
    assert re.search(r'<input aria-describedby="name-error" aria-invalid="true" [^>]*id="name"', html)
    response = editor.post("/console/persons/new", data={
        "name": "Dup", "personal_number": ANNA_PN, "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Another person already has this personal number." in html
    assert 'aria-describedby="personal_number-hint personal_number-error"' in html
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.scalar(sa.select(Person.id).where(Person.name == "Dup")) is None


# --- consents -----------------------------------------------------------------

def test_consents_filter_by_state_purpose_template_and_expiry(seed: Seed, as_role: Any, api: Any) -> None:
    viewer = as_role("viewer")
    given = _html(viewer, "/console/consents?status=given")
    assert seed.given_consent in given and seed.pending_consent not in given
    pending = _html(viewer, "/console/consents?status=pending")
    assert seed.pending_consent in pending and seed.given_consent not in pending
    # Bo's request asks for "web" only.
    printing = _html(viewer, "/console/consents?purpose=print")
    assert seed.given_consent in printing and seed.pending_consent not in printing
    assert seed.pending_consent in _html(viewer, "/console/consents?purpose=web")
    assert "No consents match" in _html(viewer, "/console/consents?template=none-such")
    assert seed.given_consent not in _html(viewer, "/console/consents?expires=30")
    assert seed.given_consent in _html(viewer, "/console/consents?expires=365")
    assert seed.given_consent in _html(viewer, f"/console/consents?person={seed.anna}")
    # Another tenant's consents never show.
    assert "Otto" not in _html(viewer, "/console/consents")


def test_consent_detail_shows_signature_evidence_and_trail(seed: Seed, as_role: Any) -> None:
    html = _html(as_role("viewer"), f"/console/consents/{seed.given_consent}")
    assert "Anna Andersson" in html and "19800101-****" in html and ANNA_PN not in html
    assert "BankID" in html and "131daac9-16c6-4618-beb0-365768f37288" in html
    assert "BankID signature (XML)" in html and "kept," in html
    assert "consent.given" in html.split("<h2>Audit trail</h2>")[1]
    # A viewer sees neither revoke nor withdraw.
    assert "/revoke" not in html and "/withdraw" not in html


def test_a_signers_ip_address_is_shown_to_the_dpo_only(app: Flask, seed: Seed, as_role: Any) -> None:
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        signature = session.scalars(sa.select(Signature).where(Signature.consent_id == seed.given_consent)).one()
        signature.evidence = {**signature.evidence, "endUserIp": "203.0.113.77"}
    for role in ("viewer", "editor"):
        html = _html(as_role(role), f"/console/consents/{seed.given_consent}")
        assert "Signer&#39;s IP address" in html and "kept; shown to the data protection officer" in html
        assert "203.0.113.77" not in html
    html = _html(as_role("dpo"), f"/console/consents/{seed.given_consent}")
    assert "203.0.113.77" in html and "kept; shown to the data protection officer" not in html


def test_dpo_revokes_a_consent_and_the_dam_sees_it(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    before = api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json()
    assert before["allowed"] is True
    dpo = as_role("dpo")
    page = _html(dpo, f"/console/consents/{seed.given_consent}/revoke")  # the confirmation page
    empty = dpo.post(f"/console/consents/{seed.given_consent}/revoke",
                     data={"reason": "", "confirm": "y", "csrf_token": csrf_of(page)})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.get_data(as_text=True)
    response = dpo.post(f"/console/consents/{seed.given_consent}/revoke",
                        data={"reason": "The campaign was cancelled.", "confirm": "y", "csrf_token": csrf_of(page)})
    assert response.status_code == 302
    after = api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json()
    assert after["allowed"] is False and after["reason"] == "revoked"
    html = _html(dpo, f"/console/consents/{seed.given_consent}")
    assert "The campaign was cancelled." in html and "consent.revoked" in html
    again = dpo.post(f"/console/consents/{seed.given_consent}/revoke",
                     data={"reason": "twice", "confirm": "y", "csrf_token": csrf_of(html)})
    assert again.status_code == 404 or again.status_code == 409


def test_editor_records_a_withdrawal(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    editor = as_role("editor")
    page = _html(editor, f"/console/consents/{seed.given_consent}")
    assert "/revoke" not in page  # revoking is the DPO's
    confirm = _html(editor, f"/console/consents/{seed.given_consent}/withdraw")
    response = editor.post(f"/console/consents/{seed.given_consent}/withdraw",
                           data={"reason": "Phoned in", "confirm": "y", "csrf_token": csrf_of(confirm)})
    assert response.status_code == 302
    assert api.get(f"/api/v1/consents/{seed.given_consent}").get_json()["status"] == "withdrawn"


def test_record_download(app: Flask, seed: Seed, as_role: Any) -> None:
    from app.db import utcnow
    from reports.models import Record

    viewer = as_role("viewer")
    assert viewer.get(f"/console/consents/{seed.given_consent}/record.pdf").status_code == 404
    html = _html(viewer, f"/console/consents/{seed.given_consent}")
    assert "record.pdf" not in html
    # The records domain seals asynchronously; here its result is put in place as it would store it.
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        record = session.scalars(sa.select(Record).where(Record.consent_id == seed.given_consent)).one()
        record.status, record.pdf, record.sha256, record.size = "sealed", b"%PDF-1.7 sealed", "ab" * 32, 15
        record.sealed_at = utcnow()
    html = _html(viewer, f"/console/consents/{seed.given_consent}")
    assert f"/console/consents/{seed.given_consent}/record.pdf" in html
    response = viewer.get(f"/console/consents/{seed.given_consent}/record.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == b"%PDF-1.7 sealed"
    assert "attachment" in response.headers["Content-Disposition"]


# --- requests -----------------------------------------------------------------

def test_send_a_request_shows_links_and_qr(app: Flask, seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    search = _html(editor, "/console/requests/new?q=Anna")
    assert f"/console/requests/new?person_id={seed.anna}" in search
    form = _html(editor, f"/console/requests/new?person_id={seed.anna}")
    assert 'value="web" checked' in form.replace('checked id', 'checked id') or "checked" in form
    response = editor.post("/console/requests/new", data={
        "person_id": seed.anna, "template": "photo", "purposes": ["print"], "assets": ["img-anna"],
        "other_assets": "img-x\nimg-y", "locale": "nb", "valid_until": "2099-12-31", "csrf_token": csrf_of(form)})
    assert response.status_code == 302
    html = _html(editor, response.headers["Location"])
    links = re.findall(r'<a class="link" href="(http://localhost/s/[^"]+)"', html)
    assert len(links) == 1
    qr = re.findall(r'<img src="(/s/[^"]+/qr\.svg)"', html)
    assert len(qr) == 1 and links[0].endswith(qr[0][: -len("/qr.svg")])
    assert editor.get(qr[0]).mimetype == "image/svg+xml"
    assert editor.get(links[0].replace("http://localhost", "")).status_code == 200
    with app.extensions["samtycke.sessionmaker"]() as session:
        consent = session.scalars(sa.select(Consent).where(
            Consent.person_id == seed.anna, Consent.status == "pending")).one()
        assert consent.requested_purposes == ["print"] and consent.locale == "nb"
        assert consent.asset_ids == ["img-anna", "img-x", "img-y"]
        assert consent.requested_valid_until is not None and consent.requested_valid_until.year == 2100
    # A viewer opening the request sees no link.
    viewer_html = _html(as_role("viewer"), response.headers["Location"])
    assert "/s/" not in viewer_html and "Only editors and the DPO see signing links." in viewer_html


def test_request_for_a_minor_goes_to_the_guardians(seed: Seed, as_role: Any) -> None:
    html = _html(as_role("dpo"), f"/console/requests/{seed.pending_request}")
    assert html.count('class="signer-card"') == 2
    assert "Carl Berg" in html and "Dana Berg" in html and html.count('<a class="link"') == 2


def test_request_form_errors(app: Flask, seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    form = _html(editor, f"/console/requests/new?person_id={seed.anna}")
    response = editor.post("/console/requests/new", data={
        "person_id": seed.anna, "template": "photo", "locale": "sv", "valid_until": "2001-01-01",
        "csrf_token": csrf_of(form)})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose at least one purpose." in html and 'href="#purposes-0"' in html
    response = editor.post("/console/requests/new", data={
        "person_id": seed.anna, "template": "photo", "purposes": ["web"], "locale": "sv",
        "valid_until": "2001-01-01", "csrf_token": csrf_of(form)})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "The end date must be in the future." in html
    assert 'aria-describedby="valid_until-hint valid_until-error"' in html
    with app.extensions["samtycke.sessionmaker"]() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(Consent).where(Consent.person_id == seed.anna))
    assert count == 1


# --- assets, GDPR -------------------------------------------------------------

def test_asset_lookup_per_purpose_with_persons(seed: Seed, as_role: Any) -> None:
    viewer = as_role("viewer")
    html = _html(viewer, "/console/assets?asset_id=img-both")
    rights = html.split('id="rights-caption"')[1].split("</table>")[0]
    assert rights.count('<span class="denied">No</span>') == 2  # web and print: Bo has not signed
    people = html.split('id="rights-persons-caption"')[1].split("</table>")[0]
    assert "Anna Andersson" in people and "Bo Berg" in people and "A signature is missing" in people
    assert '<span class="allowed">Yes</span>' in people  # Anna's own answer is yes
    anna_only = _html(viewer, "/console/assets?asset_id=img-anna")
    own = anna_only.split('id="rights-caption"')[1].split("</table>")[0]
    assert own.count('<span class="allowed">Yes</span>') == 2 and "Consent given" in own
    unknown = _html(viewer, "/console/assets?asset_id=img-nobody")
    assert "This asset is unknown." in unknown and 'class="allowed"' not in unknown
    bad = viewer.get("/console/assets?asset_id=")
    assert bad.status_code == 422 and "Enter the asset id." in bad.get_data(as_text=True)


def test_export_is_a_json_download(seed: Seed, as_role: Any) -> None:
    response = as_role("dpo").get(f"/console/persons/{seed.anna}/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["person"]["personal_number"] == ANNA_PN
    assert [c["id"] for c in data["consents"]] == [seed.given_consent]


def test_erase_confirms_what_goes_and_stays_then_erases(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    dpo = as_role("dpo")
    page = _html(dpo, f"/console/persons/{seed.anna}/erase")
    goes = page.split("What is erased")[1].split("What stays")[0]
    stays = page.split("What stays")[1]
    assert "1 signature." in goes and "personal number" in goes
    assert "2 asset links" in stays and "1 consent," in stays and "audit log" in stays
    unconfirmed = dpo.post(f"/console/persons/{seed.anna}/erase", data={"csrf_token": csrf_of(page)})
    assert unconfirmed.status_code == 422 and 'aria-invalid="true"' in unconfirmed.get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(Person, seed.anna).erased_at is None  # type: ignore[union-attr]
    done = dpo.post(f"/console/persons/{seed.anna}/erase", data={"confirm": "y", "csrf_token": csrf_of(page)})
    assert done.status_code == 302
    with app.extensions["samtycke.sessionmaker"]() as session:
        person = session.get(Person, seed.anna)
        assert person is not None and person.erased_at is not None and person.name is None
    assert api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json()["reason"] == "erased"
    assert dpo.get(f"/console/persons/{seed.anna}").status_code == 404
    lookup = _html(dpo, "/console/assets?asset_id=img-anna")
    assert "The person has been erased" in lookup and "Erased person" in lookup
    verification = _html(dpo, "/console/audit")
    assert "Intact" in verification and "person.erased" in verification


# --- addenda, contacts, audit -------------------------------------------------

def test_addenda_send_link_and_revoke(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    editor = as_role("editor")
    page = _html(editor, "/console/addenda")
    response = editor.post("/console/addenda", data={
        "kind": "transcription-transfer", "locale": "en", "signer_name": "Rita Rep",
        "signer_email": "rita@example.se", "csrf_token": csrf_of(page)})
    assert response.status_code == 302
    detail = _html(editor, response.headers["Location"])
    assert "Rita Rep" in detail and re.search(r'<a class="link" href="http://localhost/s/', detail)
    assert "/revoke" not in detail  # the editor may not revoke
    addendum_id = response.headers["Location"].rsplit("/", 1)[1]
    assert api.get("/api/v1/addenda/active?kind=transcription-transfer").get_json()["active"] is False
    dpo = as_role("dpo")
    response = dpo.post(f"/console/addenda/{addendum_id}/revoke", data={"confirm": "y", "csrf_token": token_for(dpo)})
    assert response.status_code == 302
    assert "Revoked" in _html(dpo, f"/console/addenda/{addendum_id}")
    again = dpo.post(f"/console/addenda/{addendum_id}/revoke", data={"confirm": "y", "csrf_token": token_for(dpo)})
    assert again.status_code == 409
    bad = editor.post("/console/addenda", data={
        "kind": "transcription-transfer", "locale": "en", "signer_name": "", "signer_personal_number": "123",
        "csrf_token": csrf_of(page)})
    assert bad.status_code == 422 and 'aria-describedby="signer_name-error"' in bad.get_data(as_text=True)


def test_dpo_edits_contacts(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    dpo = as_role("dpo")
    page = _html(dpo, "/console/contacts")
    data = {"csrf_token": csrf_of(page)}
    for role in ("dpo", "incident", "operations"):
        data.update({f"{role}_name": f"{role.title()} Person", f"{role}_email": f"{role}@acme.se",
                     f"{role}_phone": "+46 8 123 456"})
    missing = dict(data, incident_phone="")
    response = dpo.post("/console/contacts", data=missing)
    assert response.status_code == 422 and 'aria-describedby="incident_phone-error"' in response.get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(TenantContact)) == 0
    assert dpo.post("/console/contacts", data=data).status_code == 302
    contacts = api.get("/api/v1/tenant/contacts").get_json()
    assert contacts["incident"]["email"] == "incident@acme.se"
    assert "Operations Person" in _html(as_role("viewer"), "/console/contacts")


def test_audit_log_shows_events_and_verification(app: Flask, seed: Seed, as_role: Any) -> None:
    html = _html(as_role("dpo"), "/console/audit")
    assert "Intact: all" in html and "consent.given" in html
    from app.audit import AuditEvent

    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.tenant_id == seed.tenant_id).order_by(AuditEvent.seq).limit(1)
        ).one()
        event.type = "tampered"
        broken_seq = event.seq
    html = _html(as_role("dpo"), "/console/audit")
    assert f"Broken at event number {broken_seq}" in html


def test_audit_pages_show_rows_changed_outside_the_service(
    app: Flask, seed: Seed, as_role: Any, database: Any
) -> None:
    """Values the ORM could not read (per backend, what each accepts) break neither the log nor a trail."""
    bad_at = "not a date" if database.backend == "sqlite" else "infinity"
    bad_refs = "{not json" if database.backend == "sqlite" else '["person_id"]'
    refs_value = "CAST(:v AS json)" if database.backend == "postgresql" else ":v"
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        seqs = session.execute(sa.text(
            "SELECT seq FROM audit_events WHERE tenant_id = :t AND type = 'person.created' ORDER BY seq"
        ), {"t": seed.tenant_id}).scalars().all()
        anna_seq, carl_seq = seqs[0], seqs[1]
        session.execute(sa.text("UPDATE audit_events SET at = :v WHERE tenant_id = :t AND seq = :s"),
                        {"v": bad_at, "t": seed.tenant_id, "s": anna_seq})
        session.execute(sa.text(f"UPDATE audit_events SET refs = {refs_value} WHERE tenant_id = :t AND seq = :s"),
                        {"v": bad_refs, "t": seed.tenant_id, "s": carl_seq})
    dpo = as_role("dpo")
    html = _html(dpo, "/console/audit")
    assert f"Broken at event number {anna_seq}" in html
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"<tr[^>]*>\s*<td>(\d+).*?</tr>", html, re.S)}
    assert "Unreadable" in rows[anna_seq] and f"<code class=\"stored\">{bad_at}</code>" in rows[anna_seq]
    assert "Unreadable" in rows[carl_seq] and "Unreadable" not in rows[anna_seq + 2]
    person = _html(dpo, f"/console/persons/{seed.anna}")
    assert "Unreadable" in person and "person.created" in person
    assert _html(dpo, f"/console/persons/{seed.carl}")  # its event no longer names Carl; the page still answers


def test_audit_log_shows_how_far_the_chain_is_anchored(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    from app.audit import AuditEvent
    from app.models import Tenant
    from reports.models import AuditCheckpoint

    def head() -> int:
        with app.extensions["samtycke.sessionmaker"]() as session:
            return int(session.scalar(sa.select(Tenant.audit_seq).where(Tenant.id == seed.tenant_id)) or 0)

    dpo = as_role("dpo")
    events = head()
    # The first look at a verified chain signs a checkpoint of its head.
    html = _html(dpo, "/console/audit")
    assert re.search(rf"Anchored through event number {events} by a signed checkpoint, timestamped <time ", html)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.scalars(sa.select(AuditCheckpoint.seq).where(AuditCheckpoint.tenant_id == seed.tenant_id)
                               ).all() == [events]
    # Another right away does not sign again (AUDIT_CHECKPOINT_SECONDS): the new event waits.
    assert api.post("/api/v1/persons", json={"name": "Eva"}).status_code == 201
    html = _html(dpo, "/console/audit")
    assert f"Anchored through event number {events} by" in html and "1 later event is not anchored yet." in html

    # Cut the tail back to before the checkpoint and rewind the head with it.
    keep = events - 1
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        digest = session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.tenant_id == seed.tenant_id,
                                                                 AuditEvent.seq == keep))
        session.execute(sa.delete(AuditEvent).where(AuditEvent.tenant_id == seed.tenant_id, AuditEvent.seq > keep))
        session.execute(sa.update(Tenant).where(Tenant.id == seed.tenant_id).values(audit_seq=keep,
                                                                                     audit_head=digest))
    html = _html(dpo, "/console/audit")
    assert f"Broken at event number {events}" in html and "Intact" not in html


# --- language -----------------------------------------------------------------

def test_language_switch_and_local_formats(seed: Seed, as_role: Any) -> None:
    client = as_role("viewer")
    english = _html(client, f"/console/consents/{seed.given_consent}?lang=en")
    assert '<html lang="en">' in english
    assert re.search(r'<a href="[^"]*lang=sv"[^>]*lang="sv"[^>]*>Svenska</a>', english)
    assert re.search(r'hreflang="en" aria-current="true">English</a>', english)
    swedish = _html(client, f"/console/consents/{seed.given_consent}?lang=sv")
    assert '<html lang="sv">' in swedish
    when_en = re.search(r"<dt>[^<]*</dt><dd><time datetime=\"([^\"]+)\">([^<]+)</time>", english)
    when_sv = re.search(r"<dt>[^<]*</dt><dd><time datetime=\"([^\"]+)\">([^<]+)</time>", swedish)
    assert when_en and when_sv and when_en.group(1) == when_sv.group(1)
    assert when_en.group(2) != when_sv.group(2)  # e.g. "Jan 5, 2025, …" vs "5 jan. 2025 …"
    # The choice sticks (cookie) for the next page.
    assert '<html lang="sv">' in _html(client, "/console/persons")
    norwegian = _html(client, "/console/persons?lang=nb")
    assert '<html lang="nb">' in norwegian


PERSON_SEARCHES = ["/console/persons", "/console/gdpr", "/console/requests/new"]


@pytest.mark.parametrize("page", PERSON_SEARCHES)
def test_a_personal_number_is_searched_by_post_and_never_put_in_an_address(
    seed: Seed, as_role: Any, page: str
) -> None:
    dpo = as_role("dpo")
    token = token_for(dpo, page)
    assert f'<form method="post" action="{page}" role="search"' in _html(dpo, page)
    found = dpo.post(page, data={"q": "19800101-1231", "csrf_token": token})
    assert found.status_code == 200 and found.headers.get("Location") is None  # answered in place
    assert seed.anna in found.get_data(as_text=True)  # a link to her page, or to choosing her
    # A name is redirected to the address, where it can be bookmarked.
    by_name = dpo.post(page, data={"q": "Anna", "csrf_token": token})
    assert by_name.status_code == 303 and by_name.headers["Location"].endswith(f"{page}?q=Anna")
    # A number that arrives in an address anyway is not searched, and leaves the address at once.
    refused = dpo.get(f"{page}?q={ANNA_PN}")
    assert refused.status_code == 303 and refused.headers["Location"].endswith(page)
    html = _html(dpo, page)
    assert "the number is never put in the page" in html and ANNA_PN not in html
    # The search changes nothing, but a post still needs the CSRF token.
    assert dpo.post(page, data={"q": "19800101-1231"}).status_code == 400


# --- robustness -----------------------------------------------------------------

def test_odd_input_never_breaks_a_page(app: Flask, seed: Seed, as_role: Any) -> None:
    dpo = as_role("dpo")
    token = token_for(dpo)
    for path in (
        "/console/persons?q=%00%01", "/console/persons?q=%01", "/console/gdpr?q=%01", "/console/requests/new?q=%7f",
        "/console/consents?purpose=%01&template=%00", "/console/persons?cursor=not-a-cursor",
        "/console/persons?q=" + "x" * 500,
        "/console/consents?status=nonsense&expires=abc&offset=-5", "/console/consents?offset=abc",
        "/console/consents?purpose=%25&template=_", "/console/assets?asset_id=%00", "/console/assets?asset_id="
        + "a" * 300, "/console/audit?before=abc", "/console/audit?before=-1", "/console/requests/new?person_id=x",
        f"/console/requests/new?person_id={seed.anna}&template=none", "/console/persons/%00", "/console/consents/x",
        "/console/requests/x", "/console/addenda/x", "/console/persons/x/export.json",
    ):
        response = dpo.get(path)
        assert response.status_code < 500, path
        if "%00" in path or "%01" in path or "%7f" in path:
            assert response.status_code in (400, 404, 422), path
    # Each odd post is refused with the reason shown on the form (or the page), and nothing changes.
    control = "Remove the control characters from this field."
    before = audit_seq(app, seed.tenant_id)
    for path, data, status, shown in (
        ("/console/requests/new", {"person_id": seed.anna, "template": "photo", "purposes": ["nope"],
                                   "locale": "xx", "valid_until": "9999-12-31"}, 422, "is not a valid choice"),
        ("/console/requests/new", {"person_id": seed.anna, "template": "photo", "purposes": ["web"],
                                   "locale": "sv", "valid_until": "9999-12-31"}, 422, "before the year 9999"),
        ("/console/requests/new", {"person_id": seed.anna, "template": "photo", "purposes": ["web"],
                                   "locale": "sv", "other_assets": "\x01bad"}, 422, control),
        ("/console/persons/new", {"name": "X", "birth_date": "3000-01-01", "guardians": "a\nb\nc\nd\ne"}, 422,
         "No registered person has this personal number or external reference: a, b, c, d, e"),
        ("/console/persons/new", {"name": "X", "personal_number": "not a number", "email": "x"}, 422,
         "Enter an e-mail address"),
        (f"/console/persons/{seed.anna}/assets", {"asset_id": "\x01"}, 422, control),
        (f"/console/persons/{seed.anna}/assets/unlink", {"asset_id": "never-linked"}, 404, "<title>404"),
        ("/console/addenda", {"kind": "unknown", "locale": "xx", "signer_name": "A", "signer_personal_number": "1"},
         422, "Not a valid choice."),
        ("/console/addenda", {"kind": "transcription-transfer", "locale": "sv", "signer_name": "A",
                              "signer_personal_number": "19800101-1232"}, 422, "Enter a valid Swedish personal number"),
        ("/console/persons/new", {"name": "Nul\x00Byte"}, 422, "<title>422"),
        ("/console/persons/new", {"name": "Bell\x07"}, 422, control),
        ("/console/contacts", {"dpo_name": "\x01"}, 422, control),
        ("/console/addenda", {"kind": "transcription-transfer", "locale": "sv", "signer_name": "Tab\tbed"}, 422,
         control),
    ):
        response = dpo.post(path, data={**data, "csrf_token": token})
        assert response.status_code == status, (path, data, response.status_code)
        assert shown in response.get_data(as_text=True), (path, data)
    # Choosing an organisation the account has no place in keeps the current one.
    response = dpo.post("/console/login/organisation", data={"tenant": "x", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Anna Andersson" in _html(dpo, "/console/persons")
    assert audit_seq(app, seed.tenant_id) == before


def test_numbers_and_cursors_beyond_what_a_database_stores_show_the_first_page(seed: Seed, as_role: Any) -> None:
    import base64

    dpo = as_role("dpo")
    huge = "99999999999999999999999"
    forged = base64.urlsafe_b64encode(json.dumps(["0001-01-01T00:00:00+14:00", "a"]).encode()).decode()
    for first, odd in (
        ("/console/consents", f"/console/consents?offset={huge}"),
        ("/console/audit", f"/console/audit?before={huge}"),
        ("/console/persons", f"/console/persons?cursor={forged}"),
    ):
        assert _main(_html(dpo, odd)) == _main(_html(dpo, first)), odd
    assert "Anna Andersson" in _main(_html(dpo, f"/console/persons?cursor={forged}"))


def _main(html: str) -> str:
    found = re.search(r"<main\b.*?</main>", html, re.S)
    assert found, "the page has no <main>"
    return found.group(0)
