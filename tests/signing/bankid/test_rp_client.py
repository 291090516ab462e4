"""Our RP API client, against the simulator in-process and against broken transports."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from signing.bankid import errors
from signing.bankid.client import BankIdClient, OrderStart, PhoneOrderStart
from signing.bankid.qr import qr_data
from tests.signing.bankid.conftest import ANNA, app_post


def test_sign_collect_complete(bankid: BankIdClient, client: FlaskClient) -> None:
    start = bankid.sign("192.0.2.7", "Jag samtycker.", user_non_visible_data="sha256:1", requirement={"pinCode": True})
    assert isinstance(start, OrderStart)
    pending = bankid.collect(start.order_ref)
    assert (pending.status, pending.hint_code, pending.completion_data) == ("pending", "outstandingTransaction", None)
    qr = qr_data(start.qr_start_token, start.qr_start_secret, 0)
    assert app_post(client, "scan", {"qr_data": qr, **ANNA}).status_code == 200
    app_post(client, "confirm", {"order_ref": start.order_ref, "approve": True})
    done = bankid.collect(start.order_ref)
    assert done.status == "complete" and done.hint_code is None
    data = done.completion_data
    assert data is not None
    assert (data.user.personal_number, data.user.name, data.user.given_name, data.user.surname) == (
        "199001011239",
        "Anna Andersson",
        "Anna",
        "Andersson",
    )
    assert data.device.ip_address and data.device.uhi
    assert data.step_up is not None and data.step_up.mrtd is False
    assert b"Signature" in base64.b64decode(data.signature)
    assert done.raw["completionData"]["signature"] == data.signature


def test_text_is_sent_base64_with_markdown_format(app: Flask) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        seen.append(json.loads(request.content))
        return httpx.Response(
            200, json={"orderRef": "r", "autoStartToken": "a", "qrStartToken": "q", "qrStartSecret": "s"}
        )

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="https://bankid.test/rp/v6.0/")
    BankIdClient(http=http).sign("192.0.2.1", "Hej *världen*", requirement={"personalNumber": "199001011239"})
    assert seen == [
        {
            "endUserIp": "192.0.2.1",
            "requirement": {"personalNumber": "199001011239"},
            "userVisibleData": base64.b64encode("Hej *världen*".encode()).decode(),
            "userVisibleDataFormat": "simpleMarkdownV1",
        }
    ]


def test_phone_auth_and_cancel(bankid: BankIdClient) -> None:
    start = bankid.phone_auth("199001011239", "user")
    assert isinstance(start, PhoneOrderStart)
    bankid.cancel(start.order_ref)
    with pytest.raises(errors.InvalidParameters) as caught:
        bankid.cancel(start.order_ref)
    assert caught.value.details == "No such order" and caught.value.rfa == "RFA22"


def test_phone_sign_and_auth(bankid: BankIdClient) -> None:
    assert bankid.phone_sign("198506152464", "RP", "Avtal").order_ref
    assert bankid.auth("2001:db8::5", user_visible_data="Logga in").qr_start_secret


def test_already_in_progress(bankid: BankIdClient) -> None:
    bankid.sign("192.0.2.1", "x", requirement={"personalNumber": "199001011239"})
    with pytest.raises(errors.AlreadyInProgress) as caught:
        bankid.sign("192.0.2.1", "y", requirement={"personalNumber": "199001011239"})
    assert (caught.value.error_code, caught.value.rfa, caught.value.http_status) == ("alreadyInProgress", "RFA4", 400)


def test_invalid_parameters(bankid: BankIdClient) -> None:
    with pytest.raises(errors.InvalidParameters) as caught:
        bankid.sign("not an ip", "x")
    assert caught.value.details == "Invalid endUserIp"


@pytest.mark.parametrize(
    ("code", "cls", "rfa"),
    [
        ("maintenance", errors.Maintenance, "RFA5"),
        ("internalError", errors.InternalError, "RFA5"),
        ("requestTimeout", errors.RequestTimeout, "RFA5"),
        ("unauthorized", errors.Unauthorized, "RFA22"),
        ("notFound", errors.NotFound, "RFA22"),
        ("methodNotAllowed", errors.MethodNotAllowed, "RFA22"),
        ("unsupportedMediaType", errors.UnsupportedMediaType, "RFA22"),
    ],
)
def test_every_error_code_has_its_class(
    bankid: BankIdClient, fault: Any, code: str, cls: type[errors.BankIdError], rfa: str
) -> None:
    fault(code)
    with pytest.raises(cls) as caught:
        bankid.collect("any")
    assert caught.value.error_code == code and caught.value.rfa == rfa
    assert caught.value.retryable is (code == "maintenance")


def test_unknown_error_code_is_generic() -> None:
    err = errors.error_for("somethingNew", "details", 400)
    assert type(err) is errors.BankIdError and err.error_code == "somethingNew" and err.rfa == "RFA22"


def _client(handler: Any) -> BankIdClient:
    return BankIdClient(http=httpx.Client(transport=httpx.MockTransport(handler), base_url="https://bankid.test/"))


def test_transport_errors_map_to_rfa5() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad gateway</html>")

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "weird", "orderRef": "x"})

    for handler in (refuse, gateway, garbage):
        with pytest.raises(errors.TransportError) as caught:
            _client(handler).collect("x")
        assert caught.value.rfa == "RFA5"


def test_base_url_keeps_its_path() -> None:
    client = BankIdClient("https://appapi2.test.bankid.com/rp/v6.0")
    try:
        assert str(client._http.base_url) == "https://appapi2.test.bankid.com/rp/v6.0/"
    finally:
        client.close()
