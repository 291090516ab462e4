"""DPA addenda: the built-in transcription-transfer text, requesting, signing state, revocation."""

from __future__ import annotations

from typing import Any

import pytest

from app.crypto import sha256_hex
from app.db import utcnow
from app.errors import Gone
from consent import addenda, signatures, signed_text
from consent.models import Addendum, Signer
from tests.consent.arrange import GUARDIAN_PN, audit_types, count, identity, keyring, tx

KIND = "transcription-transfer"


def create(api: Any, **signer: Any) -> dict[str, Any]:
    resp = api.post("/api/v1/addenda", json={"kind": KIND, "signer": {"name": "Rita Rep", **signer}})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.get_json())


def sign_addendum(app: Any, addendum: dict[str, Any], pn: str | None = GUARDIAN_PN) -> None:
    token = addendum["signing_url"].rsplit("/", 1)[1]
    with tx(app) as s:
        signer = signatures.signer_by_token(s, token, now=utcnow())
        view = signatures.signing_view(s, signer, locale="sv", now=utcnow(), keyring=keyring(app))
        signatures.record_signature(
            s, keyring(app), signer_id=signer.id, identity=identity(pn), purposes=[],
            visible_text=signed_text.visible_text(view, []), at=utcnow(),
        )


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
def test_the_builtin_text_is_a_proper_dpa_addendum_in_every_locale(locale: str) -> None:
    text = addenda.text(KIND, locale)
    assert text.title and len(text.body) > 1500
    for must in ("Google Cloud", "europe-north1", "Finland", "TLS", "28"):
        assert must in text.body, must
    assert text.body.count("\n## ") >= 8  # parties, scope, data, sub-processor, location, safeguards, ...
    assert text.sha256 == sha256_hex(f"{text.title}\n\n{text.body}")


def test_create_answers_pending_with_a_signing_link_and_audits(app: Any, api: Any) -> None:
    body = create(api, email="rita@example.com", personal_number=GUARDIAN_PN)
    assert body["kind"] == KIND and body["status"] == "pending" and body["locale"] == "sv"
    assert body["signing_url"].startswith("http://localhost/s/")
    assert body["qr_png_url"] == body["signing_url"] + "/qr.png"
    assert body["qr_svg_url"] == body["signing_url"] + "/qr.svg"
    assert body["text_sha256"] == addenda.text(KIND, "sv").sha256
    assert body["signer"] == {"name": "Rita Rep", "email": "rita@example.com",
                              "personal_number_masked": GUARDIAN_PN[:8] + "-****"}
    assert set(body) >= {"id", "created_at", "signed_at", "revoked_at"}
    with tx(app) as s:
        row = s.get(Addendum, body["id"])
        assert GUARDIAN_PN not in (row.signer_pn_encrypted or "")
        signer = s.query(Signer).filter_by(addendum_id=body["id"]).one()
        assert signer.role == "representative"
        assert signer.token_hash == sha256_hex(body["signing_url"].rsplit("/", 1)[1])
    assert audit_types(app, api.tenant_id)[-1] == "addendum.requested"
    en = api.post("/api/v1/addenda", json={"kind": KIND, "signer": {"name": "R"}, "locale": "en"}).get_json()
    assert en["locale"] == "en" and en["text_sha256"] == addenda.text(KIND, "en").sha256


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "photo-export", "signer": {"name": "R"}}, "kind"),
        ({"kind": KIND}, "signer"),
        ({"kind": KIND, "signer": {}}, "signer"),
        ({"kind": KIND, "signer": {"name": " "}}, "signer"),
        ({"kind": KIND, "signer": {"name": "R", "personal_number": "19121212-1213"}}, "signer"),
        ({"kind": KIND, "signer": {"name": "R", "email": "not-an-email"}}, "signer"),
        ({"kind": KIND, "signer": {"name": "R", "role": "boss"}}, "signer"),
        ({"kind": KIND, "signer": {"name": "R"}, "locale": "de"}, "locale"),
        ({"signer": {"name": "R"}}, "kind"),
    ],
)
def test_bad_addendum_input_is_422_and_writes_nothing(app: Any, api: Any, body: dict[str, Any], field: str) -> None:
    events = audit_types(app, api.tenant_id)
    resp = api.post("/api/v1/addenda", json=body)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert field in resp.get_json()["errors"], resp.get_json()
    assert count(app, Addendum) == 0 and count(app, Signer) == 0
    assert audit_types(app, api.tenant_id) == events


def test_active_follows_signing_and_revocation(app: Any, api: Any) -> None:
    def active() -> dict[str, Any]:
        resp = api.get(f"/api/v1/addenda/active?kind={KIND}")
        assert resp.status_code == 200
        return dict(resp.get_json())

    assert active() == {"kind": KIND, "active": False, "addendum_id": None, "signed_at": None}
    first = create(api, personal_number=GUARDIAN_PN)
    assert active()["active"] is False  # pending is not active
    sign_addendum(app, first)
    now = active()
    assert now["active"] is True and now["addendum_id"] == first["id"] and now["signed_at"]
    second = create(api)
    sign_addendum(app, second, pn=None)
    assert active()["addendum_id"] == second["id"]  # the latest signed
    resp = api.post(f"/api/v1/addenda/{second['id']}/revoke")
    assert resp.status_code == 200 and resp.get_json()["status"] == "revoked" and resp.get_json()["revoked_at"]
    assert active()["addendum_id"] == first["id"]
    api.post(f"/api/v1/addenda/{first['id']}/revoke")
    assert active()["active"] is False
    assert audit_types(app, api.tenant_id).count("addendum.revoked") == 2


def test_active_needs_a_known_kind(api: Any) -> None:
    for query in ("", "?kind=", "?kind=unknown"):
        resp = api.get(f"/api/v1/addenda/active{query}")
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


def test_revoke_pending_kills_the_link_and_never_twice(app: Any, api: Any) -> None:
    body = create(api)
    resp = api.post(f"/api/v1/addenda/{body['id']}/revoke")
    assert resp.status_code == 200 and resp.get_json()["status"] == "revoked"
    with tx(app) as s, pytest.raises(Gone):
        signatures.signer_by_token(s, body["signing_url"].rsplit("/", 1)[1], now=utcnow())
    again = api.post(f"/api/v1/addenda/{body['id']}/revoke")
    assert again.status_code == 409 and again.mimetype == "application/problem+json"


def test_refused_addendum_cannot_be_revoked(app: Any, api: Any) -> None:
    body = create(api)
    with tx(app) as s:
        signer = signatures.signer_by_token(s, body["signing_url"].rsplit("/", 1)[1], now=utcnow())
        signatures.decline(s, signer_id=signer.id, at=utcnow())
    assert api.post(f"/api/v1/addenda/{body['id']}/revoke").status_code == 409


def test_list_and_get(app: Any, api: Any) -> None:
    a = create(api)
    b = create(api)
    items = api.get("/api/v1/addenda").get_json()["items"]
    assert {i["id"] for i in items} == {a["id"], b["id"]}
    assert all(i["signing_url"] for i in items)
    one = api.get(f"/api/v1/addenda/{a['id']}").get_json()
    assert one == a
    assert api.get("/api/v1/addenda/nope").status_code == 404


def test_scopes(app: Any, api: Any, make_api: Any) -> None:
    body = create(api)
    reader = make_api("acme", scopes="addenda:read")
    assert reader.post("/api/v1/addenda", json={"kind": KIND, "signer": {"name": "R"}}).status_code == 403
    assert reader.post(f"/api/v1/addenda/{body['id']}/revoke").status_code == 403
    assert reader.get(f"/api/v1/addenda/active?kind={KIND}").status_code == 200
    consents_only = make_api("acme", scopes="consents:read consents:write")
    assert consents_only.get("/api/v1/addenda").status_code == 403
    assert api.get(f"/api/v1/addenda/{body['id']}").get_json()["status"] == "pending"
