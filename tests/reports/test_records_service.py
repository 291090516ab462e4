"""Records end to end: a signature commits, its sealed record follows; download only
through authorised endpoints; verification by API, page and CLI; failures are kept
and retried, never losing the signature."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main as cli
from app.db import transaction, utcnow
from consent import signatures, signed_text
from consent.models import Signer
from reports import services
from reports.errors import TimestampUnavailable
from reports.models import Record
from signing.bankid.personnummer import with_check_digit

PN = with_check_digit("19800101123")
LABELS = {"web": {"sv": "Webb", "nb": "Nett", "en": "Web"}, "print": {"sv": "Tryck", "nb": "Trykk", "en": "Print"}}


def _arrange(api: Any) -> dict[str, Any]:
    for key, label in LABELS.items():
        assert api.post("/api/v1/purposes", json={"key": key, "label": label}).status_code == 201
    tpl = {
        "key": "photo",
        "title": {"sv": "Samtycke till bilder", "en": "Consent to photos"},
        "body": {"sv": "Jag samtycker till **bilder**.", "en": "I consent to **photos**."},
        "purposes": ["web", "print"],
        "validity_days": 365,
    }
    assert api.post("/api/v1/consent-templates", json=tpl).status_code == 201
    person = api.post("/api/v1/persons", json={"name": "Anna Andersson", "personal_number": PN}).get_json()
    api.put(f"/api/v1/assets/IMG_1/persons/{person['id']}", json={})
    request = api.post(
        "/api/v1/consent-requests", json={"person_id": person["id"], "template": "photo", "locale": "sv"}
    ).get_json()
    return {"person": person, "request": request, "consent_id": request["consent_id"]}


def _sign(app: Any, signer_id: str, purposes: list[str] | None = None) -> None:
    identity = signatures.VerifiedIdentity(
        method="bankid", personal_number=PN, name="Anna Andersson", given_name="Anna", surname="Andersson",
        evidence={"orderRef": "o-1", "device": {"ipAddress": "192.0.2.5"}, "bankIdIssueDate": "2024-01-02",
                  "user": {"personalNumber": PN, "name": "Anna Andersson"}},
    )
    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
        signer = s.get(Signer, signer_id)
        view = signatures.signing_view(s, signer, locale="sv", now=utcnow())
        chosen = purposes or ["web", "print"]
        signatures.record_signature(
            s, app.extensions["samtycke.keyring"], signer_id=signer_id,
            identity=identity, purposes=chosen, visible_text=signed_text.visible_text(view, chosen), at=utcnow(),
        )


def _records(app: Any, consent_id: str) -> list[Record]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return list(s.scalars(sa.select(Record).where(Record.consent_id == consent_id).order_by(Record.created_at)))


@pytest.fixture
def signed(app: Any, api: Any) -> dict[str, Any]:
    world = _arrange(api)
    _sign(app, world["request"]["signers"][0]["id"])
    return world


def test_a_signature_produces_a_sealed_record_after_commit(app: Any, api: Any, signed: dict[str, Any]) -> None:
    records = _records(app, signed["consent_id"])
    assert [(r.kind, r.status) for r in records] == [("consent_given", "sealed")]
    consent = api.get(f"/api/v1/consents/{signed['consent_id']}").get_json()
    assert consent["record_url"].endswith(f"/api/v1/consents/{signed['consent_id']}/record.pdf")

    resp = api.get(f"/api/v1/consents/{signed['consent_id']}/record.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    pdf = resp.get_data()
    import hashlib

    assert resp.headers["X-Content-SHA256"] == hashlib.sha256(pdf).hexdigest() == records[0].sha256
    with pikepdf.open(BytesIO(pdf)) as doc:
        files = doc.attachments
        assert "evidence.json" in files
        import json

        evidence = json.loads(files["evidence.json"].get_file().read_bytes())
    text = json.dumps(evidence)
    assert signed["consent_id"] in text and api.tenant_id in text
    # The evidence names the audit event the record belongs to.
    assert records[0].audit_event_hash in text


def test_record_is_not_public_and_not_for_other_tenants(
    client: Any, api: Any, other_api: Any, signed: dict[str, Any]
) -> None:
    path = f"/api/v1/consents/{signed['consent_id']}/record.pdf"
    assert client.get(path).status_code == 401
    resp = other_api.get(path)
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert b"%PDF" not in resp.get_data()


def test_verify_api_catches_tampering_and_other_tenants(api: Any, other_api: Any, signed: dict[str, Any]) -> None:
    pdf = api.get(f"/api/v1/consents/{signed['consent_id']}/record.pdf").get_data()
    ok = api.post("/api/v1/records/verify", data=pdf, content_type="application/pdf").get_json()
    assert ok["valid"] is True and ok["intact"] is True
    assert ok["consent_id"] == signed["consent_id"]
    assert ok["timestamp"] and ok["signed_by"] and ok["signed_at"]
    assert ok["current_status"] == "given"

    # One byte inside the signed content changed after sealing.
    marker = pdf.index(b"/Producer")
    tampered = pdf[:marker] + b"/Producex" + pdf[marker + 9:]
    bad = api.post("/api/v1/records/verify", data=tampered, content_type="application/pdf").get_json()
    assert bad["valid"] is False and bad["intact"] is False

    appended = pdf + b"\n% appended after the seal\n"
    after = api.post("/api/v1/records/verify", data=appended, content_type="application/pdf").get_json()
    assert after["valid"] is False

    foreign = other_api.post("/api/v1/records/verify", data=pdf, content_type="application/pdf").get_json()
    assert foreign["valid"] is False and foreign["consent_id"] is None
    garbage = api.post("/api/v1/records/verify", data=b"not a pdf", content_type="application/pdf")
    assert garbage.status_code == 200 and garbage.get_json()["valid"] is False


def test_withdrawal_adds_a_withdrawal_record_and_status_today_follows(
    app: Any, api: Any, signed: dict[str, Any]
) -> None:
    pdf = api.get(f"/api/v1/consents/{signed['consent_id']}/record.pdf?kind=given").get_data()
    assert api.post(f"/api/v1/consents/{signed['consent_id']}/withdraw", json={}).status_code == 200
    kinds = [(r.kind, r.status) for r in _records(app, signed["consent_id"])]
    assert kinds == [("consent_given", "sealed"), ("consent_withdrawn", "sealed")]
    latest = api.get(f"/api/v1/consents/{signed['consent_id']}/record.pdf")
    assert "consent_withdrawn" in latest.headers["Content-Disposition"]
    verdict = api.post("/api/v1/records/verify", data=pdf, content_type="application/pdf").get_json()
    assert verdict["valid"] is True and verdict["current_status"] == "withdrawn"


def test_public_verify_page_answers_in_the_chosen_language(client: Any, api: Any, signed: dict[str, Any]) -> None:
    pdf = api.get(f"/api/v1/consents/{signed['consent_id']}/record.pdf").get_data()
    page = client.get("/verify?lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    resp = client.post(
        "/verify?lang=en", data={"csrf_token": token, "record": (BytesIO(pdf), "record.pdf")},
        content_type="multipart/form-data",
    )
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "The record is intact and sealed by Samtycke." in body
    assert "The consent is given and still holds." in body
    assert "Anna" not in body  # no personal data beyond what the PDF itself holds
    no_token = client.post("/verify", data={"record": (BytesIO(pdf), "r.pdf")}, content_type="multipart/form-data")
    assert no_token.status_code == 400


def test_a_failed_seal_keeps_the_consent_and_retry_seals_it(
    app: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _arrange(api)

    class BrokenTsa:
        level = "B-T"

        def seal(self, pdf: bytes, **kw: Any) -> bytes:
            raise TimestampUnavailable("timestamp authority failed: connection refused")

    real = services.sealer(app)
    monkeypatch.setitem(app.extensions, "samtycke.sealer", BrokenTsa())
    _sign(app, world["request"]["signers"][0]["id"])
    consent = api.get(f"/api/v1/consents/{world['consent_id']}").get_json()
    assert consent["status"] == "given"  # the signature is never lost
    [record] = _records(app, world["consent_id"])
    assert record.status == "failed" and "timestamp authority failed" in (record.failure_reason or "")
    assert api.get(f"/api/v1/consents/{world['consent_id']}/record.pdf").status_code == 404

    monkeypatch.setitem(app.extensions, "samtycke.sealer", real)
    results = services.retry(app)
    assert [r.status for r in results] == ["sealed"]
    [record] = _records(app, world["consent_id"])
    assert record.status == "sealed" and record.attempts == 2 and record.failure_reason is None


def test_cli_record_verify(app: Any, api: Any, signed: dict[str, Any], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMTYCKE_DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("SAMTYCKE_INSTANCE_PATH", app.instance_path)
    monkeypatch.setenv("SAMTYCKE_SECRET_KEY", app.config["SECRET_KEY"])
    monkeypatch.setenv("SAMTYCKE_DATA_KEY", app.config["DATA_KEY"])
    monkeypatch.setenv("SAMTYCKE_BASE_URL", app.config["BASE_URL"])
    pdf = api.get(f"/api/v1/consents/{signed['consent_id']}/record.pdf").get_data()
    good = tmp_path / "good.pdf"
    good.write_bytes(pdf)
    result = CliRunner().invoke(cli, ["record", "verify", str(good)])
    assert result.exit_code == 0, result.output
    assert signed["consent_id"] in result.output
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(pdf + b"%%EOF extra")
    assert CliRunner().invoke(cli, ["record", "verify", str(bad)]).exit_code == 1


def test_pdfsig_trusts_the_record_with_the_published_ca(client: Any, api: Any, signed: dict[str, Any],
                                                       tmp_path: Path, tool: Any) -> None:
    tool("pdfsig", "-v")
    tool("certutil", "-H")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(api.get(f"/api/v1/consents/{signed['consent_id']}/record.pdf").get_data())
    ca = tmp_path / "ca.pem"
    ca.write_bytes(client.get("/pki/ca.pem").get_data())
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "samtycke", "-t", "CT,C,C", "-i", str(ca)], check=True)
    out = tool("pdfsig", "-nssdir", f"sql:{nss}", str(pdf)).stdout
    assert "Signature is Valid" in out
    assert "Certificate is Trusted" in out


def test_erasure_removes_the_records(app: Any, api: Any, signed: dict[str, Any]) -> None:
    assert _records(app, signed["consent_id"])
    assert api.delete(f"/api/v1/persons/{signed['person']['id']}").status_code == 204
    assert _records(app, signed["consent_id"]) == []


def test_subject_link_serves_its_own_record(client: Any, signed: dict[str, Any]) -> None:
    url = signed["request"]["signers"][0]["signing_url"]
    path = "/s/" + url.rsplit("/s/", 1)[1] + "/record.pdf"
    resp = client.get(path)
    assert resp.status_code == 200 and resp.get_data().startswith(b"%PDF")


def test_retry_seals_what_was_left_pending_and_leaves_sealed_records_alone(app: Any, api: Any) -> None:
    """A record whose after-commit sealing never ran (the process died) waits as pending; retry seals it."""
    world = _arrange(api)
    _sign(app, world["request"]["signers"][0]["id"])
    with app.extensions["samtycke.sessionmaker"]() as s, s.begin():
        rec = s.scalars(sa.select(Record)).one()
        assert rec.status == "sealed" and rec.sealed_at is not None
        sealed_id, first_pdf = rec.id, rec.pdf
        # A second record of the same event, as if its process had died before sealing it.
        s.add(Record(tenant_id=rec.tenant_id, kind=rec.kind, consent_id=rec.consent_id,
                     audit_event_id=rec.audit_event_id, audit_event_hash=rec.audit_event_hash,
                     created_at=utcnow() - timedelta(days=2)))
    results = services.retry(app)
    with app.extensions["samtycke.sessionmaker"]() as s:
        rows = {r.id: r for r in s.scalars(sa.select(Record).options(sa.orm.undefer(Record.pdf)))}
    assert [r.status for r in results] == ["sealed"]
    assert results[0].record_id != sealed_id
    assert rows[results[0].record_id].status == "sealed" and rows[results[0].record_id].pdf.startswith(b"%PDF")
    assert rows[sealed_id].pdf == first_pdf  # the sealed one was not made again


def test_a_signed_and_revoked_addendum_get_their_sealed_records(app: Any, api: Any) -> None:
    created = api.post(
        "/api/v1/addenda", json={"kind": "transcription-transfer", "signer": {"name": "Rita Rep"}, "locale": "en"}
    ).get_json()
    token = created["signing_url"].rsplit("/s/", 1)[1]
    identity = signatures.VerifiedIdentity(
        method="bankid", personal_number=PN, name="Rita Rep", evidence={"device": {"ipAddress": "192.0.2.9"}}
    )
    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
        signer = signatures.signer_by_token(s, token, now=utcnow())
        view = signatures.signing_view(s, signer, locale="en", now=utcnow())
        signatures.record_signature(
            s, app.extensions["samtycke.keyring"], signer_id=signer.id, identity=identity, purposes=[],
            visible_text=signed_text.visible_text(view, []), at=utcnow(),
        )
    assert api.post(f"/api/v1/addenda/{created['id']}/revoke").status_code == 200
    with app.extensions["samtycke.sessionmaker"]() as s:
        rows = s.execute(
            sa.select(Record.kind, Record.status).where(Record.addendum_id == created["id"]).order_by(Record.created_at)
        ).all()
    assert [tuple(r) for r in rows] == [("addendum_signed", "sealed"), ("addendum_revoked", "sealed")]
    pdf = api.get(f"/api/v1/addenda/{created['id']}/record.pdf").get_data()
    verdict = api.post("/api/v1/records/verify", data=pdf, content_type="application/pdf").get_json()
    assert verdict["valid"] is True and verdict["current_status"] == "revoked"


def test_an_unexpected_error_leaves_the_record_failed_not_pending(
    app: Any, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _arrange(api)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("template vanished")

    monkeypatch.setattr(services, "build_context", broken)
    _sign(app, world["request"]["signers"][0]["id"])
    [record] = _records(app, world["consent_id"])
    assert record.status == "failed" and "template vanished" in (record.failure_reason or "")
    assert api.get(f"/api/v1/consents/{world['consent_id']}").get_json()["status"] == "given"
