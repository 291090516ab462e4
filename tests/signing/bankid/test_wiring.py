"""The simulator plugged into the real application factory."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


def test_create_app_serves_the_simulator(client: FlaskClient) -> None:
    resp = client.post("/bankid-sim/rp/v6.0/sign", json={"endUserIp": "192.0.2.1", "userVisibleData": "SGVq"})
    assert resp.status_code == 200 and "orderRef" in resp.get_json()
    # Errors keep BankID's shape under the service's own error handlers.
    for method, path, status in (("get", "/bankid-sim/rp/v6.0/sign", 405), ("post", "/bankid-sim/nope", 404)):
        resp = getattr(client, method)(path, json={})
        assert resp.status_code == status and set(resp.get_json()) == {"errorCode", "details"}
    page = client.get("/bankid-sim/app?lang=nb")
    assert page.status_code == 200 and '<html lang="nb">' in page.get_data(as_text=True)


def test_not_exposed_with_real_bankid(make_app: Any) -> None:
    client = make_app(BANKID="https://appapi2.bankid.com/rp/v6.0/").test_client()
    resp = client.post("/bankid-sim/rp/v6.0/sign", json={"endUserIp": "192.0.2.1", "userVisibleData": "SGVq"})
    assert resp.status_code == 404
