"""The simulated phone app's page for people."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from signing.bankid.qr import qr_data
from tests.signing.bankid.conftest import FakeClock, b64, collect, rp_post, sign_body

PAGE = "/bankid-sim/app"


def test_page_is_accessible_html(client: FlaskClient) -> None:
    resp = client.get(PAGE + "?lang=sv")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert '<html lang="sv">' in html
    assert 'name="viewport"' in html
    # Every form control has a label that points at it.
    ids = set(re.findall(r'<(?:input|textarea|select)[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    assert ids and ids <= labelled
    # No inline script or style (the service's CSP forbids them).
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert " style=" not in html and "<style" not in html and "onclick" not in html
    for asset in re.findall(r'(?:src|href)="(/bankid-sim/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200


def test_person_signs_with_the_start_link(client: FlaskClient) -> None:
    start = rp_post(client, "sign", sign_body(userVisibleData=b64("Jag samtycker till <foto>."))).get_json()
    link = f"bankid:///?autostarttoken={start['autoStartToken']}&redirect=null"
    resp = client.post(PAGE + "/form/start", data={"code": link, "identity": "1"})
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Jag samtycker till &lt;foto&gt;." in page  # shown, escaped
    assert "Björn Berg" in page
    assert collect(client, start["orderRef"]).get_json()["hintCode"] == "userSign"
    resp = client.post(PAGE + "/form/decide", data={"order_ref": start["orderRef"], "decision": "approve"})
    assert resp.status_code == 303
    assert "You have signed" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert collect(client, start["orderRef"]).get_json()["completionData"]["user"]["surname"] == "Berg"


def test_person_types_an_identity_and_cancels(client: FlaskClient) -> None:
    start = rp_post(client, "sign", sign_body()).get_json()
    qr = qr_data(start["qrStartToken"], start["qrStartSecret"], 0)
    form = {"code": qr, "identity": "custom", "personal_number": "19611124-4569", "given_name": "Eva", "surname": "Ek"}
    resp = client.post(PAGE + "/form/start", data=form)
    assert resp.status_code == 303
    client.post(PAGE + "/form/decide", data={"order_ref": start["orderRef"], "decision": "cancel"})
    assert collect(client, start["orderRef"]).get_json() == {
        "orderRef": start["orderRef"],
        "status": "failed",
        "hintCode": "userCancel",
    }


def test_stale_qr_shows_an_alert(client: FlaskClient, clock: FakeClock) -> None:
    start = rp_post(client, "sign", sign_body()).get_json()
    clock.advance(20)
    qr = qr_data(start["qrStartToken"], start["qrStartSecret"], 0)
    resp = client.post(PAGE + "/form/start", data={"code": qr, "identity": "0"})
    assert resp.status_code == 403
    html = resp.get_data(as_text=True)
    assert 'role="alert"' in html and "QR code was not accepted" in html
    assert qr in html  # the form keeps what was typed


def test_wrong_person_on_the_page(client: FlaskClient) -> None:
    start = rp_post(client, "sign", sign_body(requirement={"personalNumber": "199001011239"})).get_json()
    resp = client.post(PAGE + "/form/start", data={"code": start["autoStartToken"], "identity": "1"})
    assert resp.status_code == 403 and "meant for another person" in resp.get_data(as_text=True)


def test_phone_order_on_the_page(client: FlaskClient) -> None:
    body = {"personalNumber": "199001011239", "callInitiator": "RP", "userVisibleData": b64("Avtal")}
    ref = rp_post(client, "phone/sign", body).get_json()["orderRef"]
    resp = client.post(PAGE + "/form/start", data={"code": "", "identity": "0"})
    assert resp.status_code == 303
    assert "phone call" in client.get(resp.headers["Location"]).get_data(as_text=True)
    client.post(PAGE + "/form/call", data={"order_ref": ref, "in_call": "yes"})
    client.post(PAGE + "/form/decide", data={"order_ref": ref, "decision": "approve"})
    assert collect(client, ref).get_json()["status"] == "complete"


def test_unknown_order_page(client: FlaskClient) -> None:
    assert client.get(PAGE + "?order=nope").status_code == 404
