"""A sealed record shows the personal number masked, to every role that may download it,
yet stays bound to the raw BankID evidence that only the DPO's export carries."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from io import BytesIO
from typing import Any

import pikepdf
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from signing_helpers import Clock, Phone, World, poll_until, start, status, token_of
from stored_text import strings

from app.db import transaction
from consent import evidence
from consent.personal_numbers import written_forms
from signing.bankid.personnummer import with_check_digit

PN = with_check_digit("19811123123")
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def _signed(app: Flask, api: Any, world: World, clock: Clock) -> tuple[str, str]:
    """An adult who signed with BankID through the pages; their id and the consent's."""
    person = api.post("/api/v1/persons", json={"name": "Vendela Quisling", "personal_number": PN}).get_json()["id"]
    request = world.ask(person)
    token = token_of(request["signers"][0]["signing_url"])
    client = app.test_client()
    assert start(client, token, "other").status_code == 200
    Phone(client, PN, "Vendela", "Quisling").sign_qr(status(client, token)["qr_data"])
    poll_until(client, clock, token, "complete")
    return str(person), str(request["consent_id"])


def _evidence_json(pdf: bytes) -> dict[str, Any]:
    with pikepdf.open(BytesIO(pdf)) as doc:
        found: dict[str, Any] = json.loads(doc.attachments["evidence.json"].get_file().read_bytes())
    return found


def _assert_masked_only(app: Flask, pdf: bytes) -> dict[str, Any]:
    """No written form of the number anywhere in the record (base64 and JSON opened), the masked one visible."""
    keyring = app.extensions["samtycke.keyring"]
    forms = written_forms(PN)
    for text in strings(pdf, keyring, set()):
        assert not any(form in text for form in forms), f"the full number is in the record: {text[:200]}"
    visible = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    assert "19811123-****" in visible and "Vendela Quisling" in visible
    return _evidence_json(pdf)


def _viewer(app: Flask, api: Any) -> FlaskClient:
    from app.models import Tenant
    from app.staff.accounts import create_user

    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        tenant = s.scalar(sa.select(Tenant).where(Tenant.id == api.tenant_id))
        assert tenant is not None
        create_user(s, tenant, "viewer@acme.example", "viewer", PASSWORD)
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    match = _CSRF.search(page)
    assert match
    signed_in = client.post("/console/login", data={
        "email": "viewer@acme.example", "password": PASSWORD, "csrf_token": match.group(1) or match.group(2)})
    assert signed_in.status_code == 302
    return client


def test_a_record_carries_the_number_masked_and_digests_of_the_raw_bankid_evidence(
    app: Flask, api: Any, make_api: Any, world: World, clock: Clock
) -> None:
    person, consent_id = _signed(app, api, world, clock)
    reader = make_api("acme", scopes="consents:read")
    pdf = reader.get(f"/api/v1/consents/{consent_id}/record.pdf")
    assert pdf.status_code == 200
    record = _assert_masked_only(app, pdf.get_data())

    [entry] = record["signatures"]["signatures"]
    sealed = entry["provider_evidence"]
    assert entry["personal_number_masked"] == "19811123-****"
    assert "signature" not in sealed and "personalNumber" not in sealed["user"] and "uhi" not in sealed["device"]
    assert sealed["user"]["name"] == "Vendela Quisling" and sealed["ocspResponse"]  # OCSP names no number
    assert record["isIndicatedBy"][0]["personalNumberMasked"] == "19811123-****"
    keyring = app.extensions["samtycke.keyring"]
    assert entry["personal_number_hmac"] == keyring.evidence_hash(api.tenant_id, PN)

    # The DPO's export holds the raw evidence, and the record proves it is the one it was sealed over.
    export = api.get(f"/api/v1/persons/{person}/export").get_json()
    [signature] = export["consents"][0]["signatures"]
    raw = signature["provider_evidence"]
    assert raw["user"]["personalNumber"] == PN and raw["signature"]
    assert signature["provider_evidence_sha256"] == evidence.digest(raw) == entry["provider_evidence_sha256"]
    assert hashlib.sha256(raw["signature"].encode()).hexdigest() == sealed["signatureSha256"]
    assert raw["ocspResponse"] == sealed["ocspResponse"]


def test_a_console_viewer_downloads_the_record_without_the_full_number(
    app: Flask, api: Any, world: World, clock: Clock
) -> None:
    person, consent_id = _signed(app, api, world, clock)
    viewer = _viewer(app, api)
    pdf = viewer.get(f"/console/consents/{consent_id}/record.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    record = _assert_masked_only(app, pdf.get_data())
    assert record["signatures"]["signatures"][0]["provider_evidence"]["signatureSha256"]
    # The raw evidence stays behind the DPO's export.
    assert viewer.get(f"/console/persons/{person}/export.json").status_code == 403
