"""A sealed record shows the personal number masked, to every role that may download it,
yet stays bound to the raw BankID evidence that only the DPO's export carries."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import subprocess
from io import BytesIO
from typing import Any

import pikepdf
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from signing_helpers import GUARDIAN2_PN, GUARDIAN_PN, Clock, Phone, World, poll_until, start, status, token_of
from stored_text import strings

from app.cli import main as cli
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


# (browser, phone) of each guardian: the address the service saw and told BankID, and the one
# BankID saw the phone at.
GUARDIAN_ADDRESSES = [("198.51.100.23", "203.0.113.77"), ("2001:db8::a:1", "2001:db8:ffff::42")]


def test_a_guardians_record_shows_the_other_guardians_addresses_as_keyed_hashes_only(
    app: Flask, api: Any, world: World, clock: Clock, monkeypatch: Any
) -> None:
    request, tokens = world.family()
    guardians = [(GUARDIAN_PN, "Greta"), (GUARDIAN2_PN, "Gustav")]
    for token, (pn, given), (browser_ip, phone_ip) in zip(tokens, guardians, GUARDIAN_ADDRESSES, strict=True):
        browser, handset = app.test_client(), app.test_client()
        browser.environ_base["REMOTE_ADDR"], handset.environ_base["REMOTE_ADDR"] = browser_ip, phone_ip
        assert start(browser, token, "other").status_code == 200
        Phone(handset, pn, given, "Gran").sign_qr(status(browser, token)["qr_data"])
        poll_until(browser, clock, token, "complete")
    pdf = api.get(f"/api/v1/consents/{request['consent_id']}/record.pdf")
    assert pdf.status_code == 200, pdf.get_data(as_text=True)

    keyring = app.extensions["samtycke.keyring"]
    written = {form for pair in GUARDIAN_ADDRESSES for a in pair for form in _written_forms(a)}
    for text in strings(pdf.get_data(), keyring, set()):
        assert not any(form in text for form in written), f"an IP address is in the record: {text[:200]}"
    record = _evidence_json(pdf.get_data())
    entries = record["signatures"]["signatures"]
    assert len(entries) == 2
    for entry, signer, (browser_ip, phone_ip) in zip(entries, record["isIndicatedBy"], GUARDIAN_ADDRESSES, strict=True):
        sealed = entry["provider_evidence"]
        assert sealed["endUserIpHmac"] == keyring.address_hash(api.tenant_id, browser_ip)
        assert sealed["device"] == {"ipAddressHmac": keyring.address_hash(api.tenant_id, phone_ip)}
        assert signer["deviceIpHmac"] == keyring.address_hash(api.tenant_id, phone_ip)
        assert "deviceIp" not in signer
    # Bound to the tenant and to the address, whichever way it is written.
    tenant = api.tenant_id
    assert keyring.address_hash("another-tenant", "203.0.113.77") != keyring.address_hash(tenant, "203.0.113.77")
    assert keyring.address_hash(tenant, "2001:DB8:0:0::A:1") == keyring.address_hash(tenant, "2001:db8::a:1")

    # The raw addresses stay on the DPO's side: the signature evidence in the person's export.
    guardian_id = next(p for p in api.get("/api/v1/persons").get_json()["items"] if p["name"] == "Greta Gran")["id"]
    export = api.get(f"/api/v1/persons/{guardian_id}/export").get_json()
    [given] = export["signatures_given"]
    raw = given["provider_evidence"]
    assert raw["endUserIp"] == "198.51.100.23" and raw["device"]["ipAddress"] == "203.0.113.77"

    # And the DPO recomputes, from an address in the logs, what the record shows.
    for name, value in (("DATABASE_URL", app.config["DATABASE_URL"]), ("INSTANCE_PATH", app.instance_path),
                        ("SECRET_KEY", app.config["SECRET_KEY"]), ("DATA_KEY", app.config["DATA_KEY"])):
        monkeypatch.setenv(f"SAMTYCKE_{name}", value)
    result = CliRunner().invoke(cli, ["record", "ip-hash", "--tenant", "acme", "2001:DB8:FFFF::42"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == entries[1]["provider_evidence"]["device"]["ipAddressHmac"]


def _written_forms(address: str) -> set[str]:
    ip = ipaddress.ip_address(address)
    return {address, ip.compressed, ip.exploded, ip.compressed.upper()}
