"""Erasure in the console: the unlink rule of an erased person, and what erasing a guardian ends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.db import transaction, utcnow
from consent.models import AssetLink
from consent.signatures import VerifiedIdentity, record_signature
from tests.console_world import CARL_PN, Seed, csrf_of, token_for


def test_an_erased_persons_asset_link_cannot_be_unlinked_from_the_console(
    app: Flask, seed: Seed, as_role: Any, api: Any
) -> None:
    assert api.delete(f"/api/v1/persons/{seed.bo}").status_code == 204
    editor = as_role("editor")
    resp = editor.post(f"/console/persons/{seed.bo}/assets/unlink",
                       data={"asset_id": "img-bo", "csrf_token": token_for(editor, "/console/persons")})
    assert resp.status_code in (404, 409)
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert s.scalar(sa.select(AssetLink.person_id).where(AssetLink.asset_id == "img-bo")) == seed.bo
    assert api.get("/api/v1/assets/img-bo/usage-rights?purpose=web").get_json()["reason"] == "erased"


def test_erasing_a_guardian_who_signed_says_which_consents_end(
    app: Flask, seed: Seed, as_role: Any, api: Any
) -> None:
    request = api.get(f"/api/v1/consent-requests/{seed.pending_request}").get_json()
    carl_link = next(s for s in request["signers"] if s["person_id"] == seed.carl)
    identity = VerifiedIdentity(method="bankid", personal_number=CARL_PN, name="Carl Berg", evidence={})
    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        record_signature(session, app.extensions["samtycke.keyring"], signer_id=carl_link["id"], identity=identity,
                         purposes=["web"], visible_text="Consent to photos", at=utcnow())
    dpo = as_role("dpo")
    page = dpo.get(f"/console/persons/{seed.carl}/erase").get_data(as_text=True)
    ends = page.split("What ends")[1].split("What stays")[0]
    assert "1 consent the person signed as a guardian is revoked" in ends
    done = dpo.post(f"/console/persons/{seed.carl}/erase", data={"confirm": "y", "csrf_token": csrf_of(page)})
    assert done.status_code == 302
    assert api.get(f"/api/v1/consents/{seed.pending_consent}").get_json()["status"] == "revoked"
