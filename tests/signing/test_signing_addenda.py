"""The customer's representative signs a DPA addendum through the same pages and flows."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from signing_helpers import REP_PN, STRANGER_PN, Clock, Phone, poll_until, start, status, token_of

from app.db import transaction
from consent.models import Signature
from signing.bankid.simulator.models import SimOrder


def _addendum(api: Any, pn: str | None = REP_PN) -> dict[str, Any]:
    signer: dict[str, Any] = {"name": "Rita Representant", "email": "rita@example.com"}
    if pn:
        signer["personal_number"] = pn
    resp = api.post("/api/v1/addenda", json={"kind": "transcription-transfer", "signer": signer})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.get_json())


def test_representative_signs_the_addendum_with_bankid(app: Any, client: Any, api: Any, clock: Clock) -> None:
    addendum = _addendum(api)
    token = token_of(addendum["signing_url"])
    page = client.get(f"/s/{token}?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "asks you to approve this addendum to the data processing agreement" in html
    assert 'name="purposes"' not in html and "Finland" in html
    assert "I do not approve the addendum" in html

    assert start(client, token, "other", purposes=["web"]).status_code == 422  # an addendum has no purposes
    assert start(client, token, "other").status_code == 200
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        sim = s.scalars(sa.select(SimOrder)).one()
        visible = base64.b64decode(sim.user_visible_data or "").decode()
        assert sim.requirement == {"personalNumber": REP_PN}
    assert "Finland" in visible

    refused = Phone(client, STRANGER_PN, "Sven", "Svensson").scan(status(client, token)["qr_data"])
    assert refused.get_json()["errorCode"] == "personalNumberMismatch"
    Phone(client, REP_PN, "Rita", "Representant").sign_qr(status(client, token)["qr_data"])
    poll_until(client, clock, token, "complete")

    active = api.get("/api/v1/addenda/active?kind=transcription-transfer").get_json()
    assert active["active"] is True and active["addendum_id"] == addendum["id"]
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        sig = s.scalars(sa.select(Signature)).one()
        assert sig.addendum_id == addendum["id"] and sig.purposes == [] and sig.visible_text == visible

    receipt = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    assert "The addendum is approved and signed." in receipt and "Withdraw consent" not in receipt
    as_json = client.get(f"/s/{token}/receipt", headers={"Accept": "application/json"}).get_json()
    assert as_json["kind"] == "addendum" and as_json["status"] == "signed" and as_json["can_withdraw"] is False
    assert client.post(f"/s/{token}/withdraw", json={}).status_code == 409  # revoked by staff, not by this link


def test_representative_may_decline_the_addendum(client: Any, api: Any, clock: Clock) -> None:
    addendum = _addendum(api, pn=None)
    token = token_of(addendum["signing_url"])
    confirm = client.get(f"/s/{token}/decline?lang=en").get_data(as_text=True)
    assert "Do not approve the addendum?" in confirm
    assert client.post(f"/s/{token}/decline", json={}).get_json()["object_status"] == "refused"
    active = api.get("/api/v1/addenda/active?kind=transcription-transfer").get_json()
    assert active["active"] is False
    assert "You did not approve the addendum." in client.get(f"/s/{token}?lang=en").get_data(as_text=True)


