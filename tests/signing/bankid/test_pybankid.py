"""The simulator driven by an independent BankID client library, pybankid, over a real socket.

pybankid talks to its hard-wired BankID host; only its endpoint URLs are pointed
at the simulator. It insists on a client certificate, so it gets a throwaway
self-signed one, which the simulator (plain HTTP here) never looks at.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from bankid import BankIDClient, generate_qr_code_content
from bankid.exceptions import AlreadyInProgressError, InvalidParametersError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from werkzeug.serving import make_server

from signing.bankid.simulator.http import sim_keys
from tests.signing.bankid.conftest import ANNA, verified_signed_data

# pybankid builds its httpx client with the deprecated cert= argument.
pytestmark = pytest.mark.filterwarnings("ignore:`cert=...` is deprecated:DeprecationWarning")

ENDPOINTS = {
    "_auth_endpoint": "auth",
    "_phone_auth_endpoint": "phone/auth",
    "_sign_endpoint": "sign",
    "_phone_sign_endpoint": "phone/sign",
    "_collect_endpoint": "collect",
    "_cancel_endpoint": "cancel",
}


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def client_cert(tmp_path: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test RP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "rp.crt", tmp_path / "rp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def pybankid(server: str, client_cert: tuple[str, str]) -> Iterator[BankIDClient]:
    rp = BankIDClient(certificates=client_cert, test_server=True)
    rp.api_url = f"{server}/bankid-sim/rp/v6.0/"
    for attribute, path in ENDPOINTS.items():
        setattr(rp, attribute, urljoin(rp.api_url, path))
    yield rp
    rp.client.close()


def test_sign_scan_approve_collect(app: Flask, server: str, pybankid: BankIDClient) -> None:
    text = "# Samtycke\n\nJag godkänner att bilderna används."
    order = pybankid.sign(
        "192.0.2.44", text, user_non_visible_data="sha256:abc", user_visible_data_format="simpleMarkdownV1"
    )
    started = time.time()
    assert set(order) == {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"}
    pending = pybankid.collect(order["orderRef"])
    assert pending == {"orderRef": order["orderRef"], "status": "pending", "hintCode": "outstandingTransaction"}

    qr = generate_qr_code_content(order["qrStartToken"], started, order["qrStartSecret"])
    with httpx.Client(base_url=f"{server}/bankid-sim/app/") as phone:
        assert phone.post("scan", json={"qr_data": qr, **ANNA}).status_code == 200
        assert pybankid.collect(order["orderRef"])["hintCode"] == "started"
        assert phone.post("review", json={"order_ref": order["orderRef"]}).status_code == 200
        assert pybankid.collect(order["orderRef"])["hintCode"] == "userSign"
        assert phone.post("confirm", json={"order_ref": order["orderRef"], "approve": True}).status_code == 200

    done = pybankid.collect(order["orderRef"])
    assert done["status"] == "complete"
    data = done["completionData"]
    assert data["user"]["personalNumber"] == ANNA["personal_number"]
    with app.app_context():
        cert_pem = sim_keys().cert_pem
    signed = verified_signed_data(data["signature"], cert_pem)
    visible = signed.findtext("{http://www.bankid.com/signature/v1.0.0/types}usrVisibleData")
    assert base64.b64decode(visible).decode() == text
    with pytest.raises(InvalidParametersError):
        pybankid.collect(order["orderRef"])  # collected once, then gone


def test_cancel_then_cancel_again(pybankid: BankIDClient) -> None:
    order = pybankid.authenticate("2001:db8::77")
    assert pybankid.cancel(order["orderRef"]) is True
    with pytest.raises(InvalidParametersError):
        pybankid.cancel(order["orderRef"])


def test_already_in_progress(pybankid: BankIDClient) -> None:
    requirement = {"personalNumber": ANNA["personal_number"]}
    first = pybankid.authenticate("192.0.2.1", requirement=requirement)
    with pytest.raises(AlreadyInProgressError) as caught:
        pybankid.sign("192.0.2.1", "Avtal", requirement=requirement)
    assert caught.value.rfa == 4
    assert pybankid.collect(first["orderRef"])["hintCode"] == "cancelled"


def test_errors_reach_pybankid(pybankid: BankIDClient) -> None:
    with pytest.raises(InvalidParametersError) as caught:
        pybankid.collect("5a2d7c4e-0000-4000-8000-000000000000")
    assert caught.value.json == {"errorCode": "invalidParameters", "details": "No such order"}
    with pytest.raises(InvalidParametersError):
        pybankid.sign("999.1.1.1", "x")


def test_phone_orders(server: str, pybankid: BankIDClient) -> None:
    order = pybankid.phone_sign(ANNA["personal_number"], "RP", "Avtal om ljud")
    assert list(order) == ["orderRef"]
    with httpx.Client(base_url=f"{server}/bankid-sim/app/") as phone:
        assert phone.post("phone", json=ANNA).status_code == 200
        assert pybankid.collect(order["orderRef"])["hintCode"] == "userCallConfirm"
        phone.post("call", json={"order_ref": order["orderRef"], "in_call": True})
        phone.post("confirm", json={"order_ref": order["orderRef"], "approve": True})
    assert pybankid.collect(order["orderRef"])["status"] == "complete"
