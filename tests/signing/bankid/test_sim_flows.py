"""Orders walking through their hint codes, driven by the simulated phone app and a hand-moved clock."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509 import ocsp
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidSignature

from signing.bankid.qr import qr_data
from signing.bankid.simulator.evidence import BANKID_TYPES_NS
from signing.bankid.simulator.http import sim_keys
from tests.signing.bankid.conftest import (
    ANNA,
    BJORN,
    FakeClock,
    app_post,
    b64,
    collect,
    rp_post,
    sign_body,
    verified_signed_data,
)

TEXT = "# Samtycke\n\nJag samtycker till att **bilderna** används. Åäö."


def start(client: FlaskClient, **overrides: Any) -> dict[str, str]:
    resp = rp_post(client, "sign", sign_body(userVisibleData=b64(TEXT), **overrides))
    assert resp.status_code == 200, resp.get_json()
    body: dict[str, str] = resp.get_json()
    return body


def qr_at(order: dict[str, str], seconds: int) -> str:
    return qr_data(order["qrStartToken"], order["qrStartSecret"], seconds)


def hint(client: FlaskClient, ref: str) -> tuple[str, str | None]:
    body = collect(client, ref).get_json()
    return body["status"], body.get("hintCode")


def approve(client: FlaskClient, ref: str) -> Any:
    return app_post(client, "confirm", {"order_ref": ref, "approve": True})


def test_full_walk_with_qr(client: FlaskClient, clock: FakeClock) -> None:
    order = start(client)
    ref = order["orderRef"]
    assert hint(client, ref) == ("pending", "outstandingTransaction")
    clock.advance(4)
    scanned = app_post(client, "scan", {"qr_data": qr_at(order, 4), **ANNA})
    assert scanned.status_code == 200 and scanned.get_json() == {"order_ref": ref}
    assert hint(client, ref) == ("pending", "started")
    assert app_post(client, "review", {"order_ref": ref}).get_json()["hint_code"] == "userSign"
    assert hint(client, ref) == ("pending", "userSign")
    clock.advance(20)
    assert approve(client, ref).get_json()["status"] == "complete"
    done = collect(client, ref).get_json()
    assert done["status"] == "complete" and "hintCode" not in done
    assert done["completionData"]["user"] == {
        "personalNumber": "199001011239",
        "name": "Anna Andersson",
        "givenName": "Anna",
        "surname": "Andersson",
    }
    # A final answer is given once; then BankID has forgotten the order.
    assert collect(client, ref).get_json()["errorCode"] == "invalidParameters"


def test_same_device_start_with_the_autostart_link(client: FlaskClient) -> None:
    order = start(client)
    link = f"bankid:///?autostarttoken={order['autoStartToken']}&redirect=null"
    assert app_post(client, "open", {"autostart_token": link, **BJORN}).get_json() == {"order_ref": order["orderRef"]}
    approve(client, order["orderRef"])
    assert collect(client, order["orderRef"]).get_json()["completionData"]["user"]["givenName"] == "Björn"


def test_start_failed_after_30_seconds(client: FlaskClient, clock: FakeClock) -> None:
    order = start(client)
    clock.advance(29)
    assert hint(client, order["orderRef"]) == ("pending", "outstandingTransaction")
    clock.advance(1)
    assert hint(client, order["orderRef"]) == ("failed", "startFailed")
    # The app cannot pick it up any more either.
    opened = app_post(client, "open", {"autostart_token": order["autoStartToken"], **ANNA})
    assert opened.status_code == 409


def test_expired_transaction_after_three_minutes(client: FlaskClient, clock: FakeClock) -> None:
    order = start(client)
    clock.advance(10)
    app_post(client, "scan", {"qr_data": qr_at(order, 10), **ANNA})
    clock.advance(169)
    assert hint(client, order["orderRef"]) == ("pending", "started")
    clock.advance(1)
    assert hint(client, order["orderRef"]) == ("failed", "expiredTransaction")


def test_user_cancel_in_the_app(client: FlaskClient) -> None:
    order = start(client)
    app_post(client, "open", {"autostart_token": order["autoStartToken"], **ANNA})
    resp = app_post(client, "confirm", {"order_ref": order["orderRef"], "approve": False})
    assert resp.get_json()["hint_code"] == "userCancel"
    assert hint(client, order["orderRef"]) == ("failed", "userCancel")
    assert approve(client, order["orderRef"]).status_code == 409


def test_stale_qr_is_refused(client: FlaskClient, clock: FakeClock) -> None:
    order = start(client)
    clock.advance(12)
    resp = app_post(client, "scan", {"qr_data": qr_at(order, 0), **ANNA})
    assert resp.status_code == 403 and resp.get_json()["errorCode"] == "qrCodeRejected"
    # A code from the future is refused as well; the current one works.
    assert app_post(client, "scan", {"qr_data": qr_at(order, 25), **ANNA}).status_code == 403
    assert hint(client, order["orderRef"]) == ("pending", "outstandingTransaction")
    assert app_post(client, "scan", {"qr_data": qr_at(order, 11), **ANNA}).status_code == 200


def test_qr_with_wrong_hmac_is_refused(client: FlaskClient) -> None:
    order = start(client)
    forged = qr_data(order["qrStartToken"], "not-the-secret", 0)
    resp = app_post(client, "scan", {"qr_data": forged, **ANNA})
    assert resp.status_code == 403 and resp.get_json()["errorCode"] == "qrCodeRejected"
    assert hint(client, order["orderRef"]) == ("pending", "outstandingTransaction")


def test_qr_is_single_use(client: FlaskClient) -> None:
    order = start(client)
    assert app_post(client, "scan", {"qr_data": qr_at(order, 0), **ANNA}).status_code == 200
    again = app_post(client, "scan", {"qr_data": qr_at(order, 0), **BJORN})
    assert again.status_code == 409


def test_wrong_person_is_refused_and_never_completes(client: FlaskClient, clock: FakeClock) -> None:
    order = start(client, requirement={"personalNumber": ANNA["personal_number"]})
    resp = app_post(client, "open", {"autostart_token": order["autoStartToken"], **BJORN})
    assert resp.status_code == 403 and resp.get_json()["errorCode"] == "personalNumberMismatch"
    assert app_post(client, "scan", {"qr_data": qr_at(order, 0), **BJORN}).status_code == 403
    # Björn holds no order to approve, and the order waits on until it fails.
    assert approve(client, order["orderRef"]).status_code == 409
    assert hint(client, order["orderRef"]) == ("pending", "outstandingTransaction")
    clock.advance(30)
    assert hint(client, order["orderRef"]) == ("failed", "startFailed")


def test_the_right_person_completes_a_bound_order(client: FlaskClient) -> None:
    order = start(client, requirement={"personalNumber": ANNA["personal_number"]})
    app_post(client, "open", {"autostart_token": order["autoStartToken"], **ANNA})
    approve(client, order["orderRef"])
    assert collect(client, order["orderRef"]).get_json()["status"] == "complete"


def test_app_refuses_bad_identities(client: FlaskClient) -> None:
    order = start(client)
    for identity in (
        {**ANNA, "personal_number": "199001011238"},
        {**ANNA, "given_name": " "},
        {"personal_number": ANNA["personal_number"]},
    ):
        resp = app_post(client, "open", {"autostart_token": order["autoStartToken"], **identity})
        assert resp.status_code == 400 and resp.get_json()["errorCode"] == "invalidParameters"
    assert app_post(client, "open", {"autostart_token": "no-such-token", **ANNA}).status_code == 404


def test_phone_order_walk(client: FlaskClient) -> None:
    ref = rp_post(
        client,
        "phone/sign",
        {"personalNumber": ANNA["personal_number"], "callInitiator": "RP", "userVisibleData": b64(TEXT)},
    ).get_json()["orderRef"]
    assert app_post(client, "phone", BJORN).status_code == 404  # not Björn's order
    picked = app_post(client, "phone", ANNA).get_json()
    assert picked == {"order_ref": ref, "hint_code": "userCallConfirm"}
    assert hint(client, ref) == ("pending", "userCallConfirm")
    assert approve(client, ref).status_code == 409  # the call comes first
    assert app_post(client, "call", {"order_ref": ref, "in_call": True}).get_json()["hint_code"] == "userSign"
    approve(client, ref)
    assert collect(client, ref).get_json()["status"] == "complete"


def test_phone_order_declined_call(client: FlaskClient, clock: FakeClock) -> None:
    ref = rp_post(client, "phone/auth", {"personalNumber": ANNA["personal_number"], "callInitiator": "user"})
    ref = ref.get_json()["orderRef"]
    clock.advance(60)  # no startFailed for phone orders: the app finds them by personal number
    app_post(client, "phone", ANNA)
    app_post(client, "call", {"order_ref": ref, "in_call": False})
    assert hint(client, ref) == ("failed", "userDeclinedCall")


def test_mrtd_step(client: FlaskClient) -> None:
    order = start(client, requirement={"mrtd": True})
    ref = order["orderRef"]
    app_post(client, "open", {"autostart_token": order["autoStartToken"], **ANNA})
    assert app_post(client, "review", {"order_ref": ref}).get_json()["hint_code"] == "userMrtd"
    assert app_post(client, "review", {"order_ref": ref}).get_json()["hint_code"] == "userSign"
    approve(client, ref)
    assert collect(client, ref).get_json()["completionData"]["stepUp"] == {"mrtd": True}


def test_complete_order_can_be_collected_for_three_minutes_only(client: FlaskClient, clock: FakeClock) -> None:
    order = start(client)
    app_post(client, "open", {"autostart_token": order["autoStartToken"], **ANNA})
    approve(client, order["orderRef"])
    clock.advance(181)
    assert collect(client, order["orderRef"]).get_json()["errorCode"] == "invalidParameters"


def test_completion_data_shape(client: FlaskClient) -> None:
    order = start(client, returnRisk=True, userNonVisibleData=b64("sha256:abc"))
    app_post(client, "open", {"autostart_token": order["autoStartToken"], **ANNA})
    approve(client, order["orderRef"])
    data = collect(client, order["orderRef"]).get_json()["completionData"]
    assert set(data) == {"user", "device", "bankIdIssueDate", "stepUp", "signature", "ocspResponse", "risk"}
    assert set(data["device"]) == {"ipAddress", "uhi"} and data["device"]["ipAddress"] == "127.0.0.1"
    assert len(data["bankIdIssueDate"]) == 10 and data["bankIdIssueDate"][4] == "-"
    assert data["stepUp"] == {"mrtd": False}
    assert data["risk"] == "low"
    base64.b64decode(data["signature"], validate=True)
    base64.b64decode(data["ocspResponse"], validate=True)


def _completed(client: FlaskClient) -> dict[str, Any]:
    order = start(client, userNonVisibleData=b64("sha256:abc"))
    app_post(client, "open", {"autostart_token": order["autoStartToken"], **ANNA})
    approve(client, order["orderRef"])
    data: dict[str, Any] = collect(client, order["orderRef"]).get_json()["completionData"]
    return data


def test_signature_verifies_and_covers_the_text(app: Flask, client: FlaskClient) -> None:
    data = _completed(client)
    xml = base64.b64decode(data["signature"])
    with app.app_context():
        cert_pem = sim_keys().cert_pem
    signed = verified_signed_data(data["signature"], cert_pem)
    assert signed.tag == f"{{{BANKID_TYPES_NS}}}bankIdSignedData"
    ns = {"b": BANKID_TYPES_NS}
    visible = signed.findtext("b:usrVisibleData", namespaces=ns)
    assert base64.b64decode(visible).decode() == TEXT
    assert signed.findtext("b:usrNonVisibleData", namespaces=ns) == b64("sha256:abc")
    assert signed.findtext("b:userInfo/b:personalNumber", namespaces=ns) == ANNA["personal_number"]
    # Changing the signed text breaks the signature.
    tampered = xml.replace(visible.encode(), b64(TEXT + " Och mer.").encode())
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(tampered, x509_cert=cert_pem)
    root = etree.fromstring(xml)
    assert root.tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"


def test_ocsp_response_parses_and_is_bound_to_the_signature(app: Flask, client: FlaskClient) -> None:
    data = _completed(client)
    response = ocsp.load_der_ocsp_response(base64.b64decode(data["ocspResponse"]))
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    with app.app_context():
        keys = sim_keys()
    assert response.serial_number == keys.cert.serial_number
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == hashlib.sha1(data["signature"].encode()).digest()  # noqa: S324
    public_key = keys.cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and response.signature_hash_algorithm is not None
    public_key.verify(response.signature, response.tbs_response_bytes, PKCS1v15(), response.signature_hash_algorithm)
