"""The simulator's RP API v6.0: wire format, validations and error answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.signing.bankid.conftest import ANNA, RP, FakeClock, app_post, b64, collect, rp_post, sign_body

PNR = ANNA["personal_number"]


def error_of(resp: Any) -> tuple[int, str, str]:
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"errorCode", "details"}
    return resp.status_code, body["errorCode"], body["details"]


def test_sign_answers_the_four_tokens(client: FlaskClient) -> None:
    resp = rp_post(client, "sign", sign_body())
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"}
    assert len({body[k] for k in body}) == 4


def test_auth_needs_no_visible_data(client: FlaskClient) -> None:
    resp = rp_post(client, "auth", {"endUserIp": "2001:db8::1"})
    assert resp.status_code == 200
    assert collect(client, resp.get_json()["orderRef"]).get_json() == {
        "orderRef": resp.get_json()["orderRef"],
        "status": "pending",
        "hintCode": "outstandingTransaction",
    }


def test_phone_orders_answer_only_the_order_ref(client: FlaskClient) -> None:
    resp = rp_post(client, "phone/sign", {"personalNumber": PNR, "callInitiator": "RP", "userVisibleData": b64("x")})
    assert resp.status_code == 200
    assert list(resp.get_json()) == ["orderRef"]


TOO_LONG_VISIBLE = "A" * 40_004  # valid base64, over 40,000 characters
BAD_CASES = [
    ("sign", {"userVisibleData": b64("x")}, "Invalid endUserIp"),
    ("sign", sign_body(endUserIp="300.1.1.1"), "Invalid endUserIp"),
    ("sign", sign_body(endUserIp="localhost"), "Invalid endUserIp"),
    ("sign", sign_body(endUserIp=12), "Invalid endUserIp"),
    ("sign", {"endUserIp": "192.0.2.1"}, "Missing userVisibleData"),
    ("sign", sign_body(userVisibleData="not base64!"), "Invalid userVisibleData"),
    ("sign", sign_body(userVisibleData=""), "Invalid userVisibleData"),
    ("sign", sign_body(userVisibleData=base64.b64encode(b"\xff\xfe").decode()), "Invalid userVisibleData"),
    ("sign", sign_body(userVisibleData=TOO_LONG_VISIBLE), "Invalid userVisibleData"),
    ("auth", {"endUserIp": "192.0.2.1", "userVisibleData": "A" * 1_504}, "Invalid userVisibleData"),
    ("sign", sign_body(userNonVisibleData="A" * 200_004), "Invalid userNonVisibleData"),
    ("sign", sign_body(userNonVisibleData="%%%"), "Invalid userNonVisibleData"),
    ("sign", sign_body(userVisibleDataFormat="markdown"), "Invalid userVisibleDataFormat"),
    ("sign", sign_body(requirement={"personalNumber": "19900101123"}), "Invalid requirement.personalNumber"),
    ("sign", sign_body(requirement={"personalNumber": "199001011238"}), "Invalid requirement.personalNumber"),
    ("sign", sign_body(requirement={"pinCode": "yes"}), "Invalid requirement.pinCode"),
    ("sign", sign_body(requirement={"mrtd": 1}), "Invalid requirement.mrtd"),
    ("sign", sign_body(requirement={"cardReader": "class3"}), "Invalid requirement.cardReader"),
    ("sign", sign_body(requirement={"certificatePolicies": []}), "Invalid requirement.certificatePolicies"),
    ("sign", sign_body(requirement={"certificatePolicies": ["abc"]}), "Invalid requirement.certificatePolicies"),
    ("sign", sign_body(requirement={"tokenStartRequired": True}), "Unknown parameter requirement.tokenStartRequired"),
    ("sign", sign_body(requirement="pin"), "Invalid requirement"),
    ("sign", sign_body(personalNumber=PNR), "Unknown parameter personalNumber"),
    ("sign", sign_body(returnRisk="yes"), "Invalid returnRisk"),
    ("sign", sign_body(app={"appIdentifier": "a"}, web={"userAgent": "b"}), "app and web"),
    ("sign", sign_body(web={"userAgent": 5}), "Invalid web.userAgent"),
    ("phone/auth", {"personalNumber": PNR, "callInitiator": "bank"}, "Invalid callInitiator"),
    ("phone/auth", {"personalNumber": "1990", "callInitiator": "user"}, "Invalid personalNumber"),
    ("phone/auth", {"personalNumber": PNR, "callInitiator": "user", "endUserIp": "192.0.2.1"}, "Unknown parameter"),
    ("phone/sign", {"personalNumber": PNR, "callInitiator": "user"}, "Missing userVisibleData"),
    ("collect", {}, "Invalid orderRef"),
    ("collect", {"orderRef": 5}, "Invalid orderRef"),
    ("collect", {"orderRef": "x", "extra": 1}, "Unknown parameter extra"),
    ("cancel", [], "Invalid request body"),
]


@pytest.mark.parametrize(("path", "body", "details"), BAD_CASES)
def test_invalid_parameters(client: FlaskClient, path: str, body: Any, details: str) -> None:
    status, code, text = error_of(rp_post(client, path, body))
    assert (status, code) == (400, "invalidParameters")
    assert details in text


# NUL and lone surrogates are refused by the service's input guard (any endpoint), the other
# control characters by the simulator's own field checks: either way BankID's 400, naming the field.
CONTROL_CASES = [
    ("auth", {"endUserIp": "192.0.2.1\u0000"}, "Invalid endUserIp"),
    ("auth", {"endUserIp": "192.0.2.1", "returnUrl": "https://rp.example/\u0000"}, "Invalid returnUrl"),
    ("auth", {"endUserIp": "192.0.2.1", "returnUrl": "https://rp.example/\u0001"}, "Invalid returnUrl"),
    ("auth", {"endUserIp": "192.0.2.1", "returnUrl": "https://rp.example/\u007f"}, "Invalid returnUrl"),
    ("auth", {"endUserIp": "192.0.2.1", "web": {"userAgent": "ua\u0000"}}, "Invalid web.userAgent"),
    ("auth", {"endUserIp": "192.0.2.1", "web": {"userAgent": "ua\u001b[2J"}}, "Invalid web.userAgent"),
    ("auth", {"endUserIp": "192.0.2.1", "web": {"referringDomain": "rp\u0085.example"}}, "Invalid web.referringDomain"),
    ("auth", {"endUserIp": "192.0.2.1", "web": {"userAgent": "\ud800"}}, "Invalid web.userAgent"),
    ("auth", {"endUserIp": "192.0.2.1", "app": {"deviceOS": "\u0000"}}, "Invalid app.deviceOS"),
    ("auth", {"endUserIp": "192.0.2.1", "requirement": {"certificatePolicies": ["1.2\u0000"]}},
     "Invalid requirement.certificatePolicies"),
    ("auth", {"endUserIp": "192.0.2.1", "requirement": {"personalNumber": PNR + "\u0000"}},
     "Invalid requirement.personalNumber"),
    ("sign", sign_body(userVisibleDataFormat="simpleMarkdownV1\u0000"), "Invalid userVisibleDataFormat"),
    ("phone/auth", {"personalNumber": PNR + "\u0000", "callInitiator": "user"}, "Invalid personalNumber"),
    ("phone/auth", {"personalNumber": PNR, "callInitiator": "user\u0000"}, "Invalid callInitiator"),
    ("collect", {"orderRef": "131daac9\u0000"}, "Invalid orderRef"),
    ("collect", {"orderRef": "131daac9\u0001"}, "Invalid orderRef"),
    ("cancel", {"orderRef": "\u0000"}, "Invalid orderRef"),
]


@pytest.mark.parametrize(("path", "raw", "details"), CONTROL_CASES)
def test_control_characters_are_invalid_parameters_not_a_crash(
    client: FlaskClient, path: str, raw: dict[str, Any], details: str
) -> None:
    # JSON escapes, so the body carries the characters exactly as an RP could send them.
    body = json.dumps(raw, ensure_ascii=True)
    resp = client.post(f"{RP}/{path}", data=body, content_type="application/json")
    assert error_of(resp) == (400, "invalidParameters", details)


def test_the_phone_app_api_refuses_nul_in_bankid_shape(client: FlaskClient) -> None:
    resp = app_post(client, "phone", {"personal_number": PNR, "given_name": "A\u0000", "surname": "B"})
    assert error_of(resp) == (400, "invalidParameters", "Invalid given_name")


def test_accepted_requirements_and_extras(client: FlaskClient) -> None:
    body = sign_body(
        requirement={
            "personalNumber": PNR,
            "pinCode": True,
            "mrtd": False,
            "cardReader": "class1",
            "certificatePolicies": ["1.2.752.78.1.5", "1.2.752.78.*"],
        },
        userNonVisibleData=b64("<hash/>"),
        userVisibleDataFormat="simpleMarkdownV1",
        returnUrl="https://example.test/back",
        returnRisk=True,
        web={"deviceIdentifier": "d", "referringDomain": "example.test", "userAgent": "ua"},
    )
    assert rp_post(client, "sign", body).status_code == 200


def test_limits_are_inclusive(client: FlaskClient) -> None:
    assert rp_post(client, "sign", sign_body(userVisibleData="A" * 40_000)).status_code == 200


def test_not_json(client: FlaskClient) -> None:
    resp = client.post(f"{RP}/sign", data="endUserIp=1.2.3.4", content_type="application/x-www-form-urlencoded")
    assert error_of(resp)[:2] == (415, "unsupportedMediaType")
    resp = client.post(f"{RP}/sign", data="{not json", content_type="application/json")
    assert error_of(resp)[:2] == (400, "invalidParameters")


@pytest.mark.parametrize(
    "path",
    [f"{RP}/auth", f"{RP}/sign", f"{RP}/phone/sign", f"{RP}/collect", f"{RP}/cancel",
     "/bankid-sim/app/scan", "/bankid-sim/app/open", "/bankid-sim/app/confirm"],
)
@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"orderRef": ' + b"[" * 70 + b"]" * 70 + b"}"],
    ids=["unclosed-100k", "well-formed-70-deep"],
)
def test_deeply_nested_json_is_invalid_parameters_not_a_crash(client: FlaskClient, path: str, body: bytes) -> None:
    # Python's parser recurses once per bracket: BankID's own 400, never internalError.
    resp = client.post(path, data=body, content_type="application/json")
    assert error_of(resp) == (400, "invalidParameters", "Invalid JSON in request body")


def test_unknown_order_on_collect_and_cancel(client: FlaskClient) -> None:
    for path in ("collect", "cancel"):
        assert error_of(rp_post(client, path, {"orderRef": "131daac9-16c6-4618-beb0-365768f37288"})) == (
            400,
            "invalidParameters",
            "No such order",
        )


def test_second_cancel_is_refused_and_the_order_is_gone(client: FlaskClient) -> None:
    ref = rp_post(client, "sign", sign_body()).get_json()["orderRef"]
    first = rp_post(client, "cancel", {"orderRef": ref})
    assert (first.status_code, first.get_json()) == (200, {})
    assert error_of(rp_post(client, "cancel", {"orderRef": ref}))[:2] == (400, "invalidParameters")
    assert error_of(collect(client, ref))[:2] == (400, "invalidParameters")


def test_already_in_progress_aborts_the_live_order(client: FlaskClient) -> None:
    first = rp_post(client, "sign", sign_body(requirement={"personalNumber": PNR})).get_json()["orderRef"]
    status, code, _ = error_of(
        rp_post(client, "auth", {"endUserIp": "192.0.2.1", "requirement": {"personalNumber": PNR}})
    )
    assert (status, code) == (400, "alreadyInProgress")
    # BankID aborts the first order and creates none: the person starts over.
    assert collect(client, first).get_json() == {"orderRef": first, "status": "failed", "hintCode": "cancelled"}
    assert (
        rp_post(client, "auth", {"endUserIp": "192.0.2.1", "requirement": {"personalNumber": PNR}}).status_code == 200
    )


def test_already_in_progress_also_for_an_order_the_person_opened(client: FlaskClient) -> None:
    start = rp_post(client, "sign", sign_body()).get_json()
    assert app_post(client, "open", {"autostart_token": start["autoStartToken"], **ANNA}).status_code == 200
    resp = rp_post(client, "phone/auth", {"personalNumber": PNR, "callInitiator": "user"})
    assert error_of(resp)[:2] == (400, "alreadyInProgress")
    assert collect(client, start["orderRef"]).get_json()["hintCode"] == "cancelled"


def test_other_people_are_not_in_progress(client: FlaskClient) -> None:
    rp_post(client, "sign", sign_body(requirement={"personalNumber": PNR}))
    other = sign_body(requirement={"personalNumber": "198506152464"})
    assert rp_post(client, "sign", other).status_code == 200


def test_finished_order_is_no_longer_in_progress(client: FlaskClient, clock: FakeClock) -> None:
    rp_post(client, "sign", sign_body(requirement={"personalNumber": PNR}))
    clock.advance(31)  # startFailed
    assert rp_post(client, "sign", sign_body(requirement={"personalNumber": PNR})).status_code == 200


@pytest.mark.parametrize("path", ["auth", "sign", "phone/auth", "phone/sign", "collect", "cancel"])
def test_wrong_method_is_json_405(client: FlaskClient, path: str) -> None:
    resp = client.get(f"{RP}/{path}")
    assert error_of(resp)[:2] == (405, "methodNotAllowed")
    assert resp.headers["Allow"] == "POST"
    assert error_of(client.put(f"{RP}/{path}", json={}))[:2] == (405, "methodNotAllowed")


@pytest.mark.parametrize(
    "path", ["/bankid-sim/rp/v6.0/nothing", "/bankid-sim/rp/v5.1/auth", "/bankid-sim/", "/bankid-sim/app/x"]
)
def test_unknown_path_is_json_404(client: FlaskClient, path: str) -> None:
    assert error_of(client.post(path, json={}))[:2] == (404, "notFound")
    assert error_of(client.get(path))[:2] == (404, "notFound")
    assert error_of(client.get("/bankid-sim"))[:2] == (404, "notFound")


def test_app_api_errors_are_json_too(client: FlaskClient) -> None:
    assert error_of(client.get("/bankid-sim/app/scan"))[:2] == (405, "methodNotAllowed")
    assert error_of(client.post("/bankid-sim/app/nothing", json={}))[:2] == (404, "notFound")
    assert error_of(app_post(client, "confirm", {"order_ref": "x"}))[:2] == (400, "invalidParameters")


@pytest.mark.parametrize(
    ("code", "status"),
    [("maintenance", 503), ("internalError", 500), ("requestTimeout", 408), ("unauthorized", 401)],
)
def test_injected_faults(client: FlaskClient, fault: Any, code: str, status: int) -> None:
    fault(code)
    assert error_of(rp_post(client, "sign", sign_body()))[:2] == (status, code)


def test_a_crash_still_answers_bankid_json(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from signing.bankid.simulator import service

    def boom(*args: Any) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(service, "collect", boom)
    assert error_of(rp_post(client, "collect", {"orderRef": "x"}))[:2] == (500, "internalError")
