"""A client for BankID's RP API v6.0 over httpx.

For the real service give ``base_url`` (e.g. ``https://appapi2.bankid.com/rp/v6.0/``)
with the RP certificate and BankID's CA; in simulator mode inject an
``httpx.Client`` (for example over ``httpx.WSGITransport``). Every answer is
parsed into dataclasses; every error becomes a :class:`BankIdError` subclass.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from signing.bankid.errors import BankIdError, TransportError, error_for

CallInitiator = Literal["user", "RP"]
USER_VISIBLE_DATA_FORMAT = "simpleMarkdownV1"


@dataclass(frozen=True)
class OrderStart:
    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str


@dataclass(frozen=True)
class PhoneOrderStart:
    order_ref: str


@dataclass(frozen=True)
class User:
    personal_number: str
    name: str
    given_name: str
    surname: str


@dataclass(frozen=True)
class Device:
    ip_address: str
    uhi: str | None = None


@dataclass(frozen=True)
class StepUp:
    mrtd: bool


@dataclass(frozen=True)
class CompletionData:
    user: User
    device: Device
    signature: str  # base64 of BankID's XML signature document
    ocsp_response: str  # base64 of a DER OCSP response
    bank_id_issue_date: str | None = None
    step_up: StepUp | None = None
    risk: str | None = None


@dataclass(frozen=True)
class CollectResult:
    order_ref: str
    status: Literal["pending", "failed", "complete"]
    hint_code: str | None = None
    completion_data: CompletionData | None = None
    # The answer exactly as BankID gave it: the evidence to keep.
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def encode_text(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class BankIdClient:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        cert: str | None = None,
        key: str | None = None,
        ca: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        if http is None:
            if not base_url:
                raise ValueError("give base_url or an httpx.Client")
            self._http = httpx.Client(base_url=_with_slash(base_url), verify=_tls(cert, key, ca), timeout=timeout)
        else:
            self._http = http
        self._owns_http = http is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> BankIdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- orders -----------------------------------------------------------

    def auth(
        self,
        end_user_ip: str,
        *,
        user_visible_data: str | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: str | None = None,
        requirement: dict[str, Any] | None = None,
        return_url: str | None = None,
        return_risk: bool | None = None,
    ) -> OrderStart:
        body = _order_body(user_visible_data, user_non_visible_data, user_visible_data_format, requirement)
        body = {"endUserIp": end_user_ip, **body, **_extras(return_url, return_risk)}
        return _order_start(self._post("auth", body))

    def sign(
        self,
        end_user_ip: str,
        user_visible_data: str,
        *,
        user_non_visible_data: str | None = None,
        user_visible_data_format: str | None = USER_VISIBLE_DATA_FORMAT,
        requirement: dict[str, Any] | None = None,
        return_url: str | None = None,
        return_risk: bool | None = None,
    ) -> OrderStart:
        body = _order_body(user_visible_data, user_non_visible_data, user_visible_data_format, requirement)
        body = {"endUserIp": end_user_ip, **body, **_extras(return_url, return_risk)}
        return _order_start(self._post("sign", body))

    def phone_auth(
        self,
        personal_number: str,
        call_initiator: CallInitiator,
        *,
        user_visible_data: str | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: str | None = None,
        requirement: dict[str, Any] | None = None,
    ) -> PhoneOrderStart:
        body = _order_body(user_visible_data, user_non_visible_data, user_visible_data_format, requirement)
        body = {"personalNumber": personal_number, "callInitiator": call_initiator, **body}
        return PhoneOrderStart(order_ref=_str(self._post("phone/auth", body), "orderRef"))

    def phone_sign(
        self,
        personal_number: str,
        call_initiator: CallInitiator,
        user_visible_data: str,
        *,
        user_non_visible_data: str | None = None,
        user_visible_data_format: str | None = USER_VISIBLE_DATA_FORMAT,
        requirement: dict[str, Any] | None = None,
    ) -> PhoneOrderStart:
        body = _order_body(user_visible_data, user_non_visible_data, user_visible_data_format, requirement)
        body = {"personalNumber": personal_number, "callInitiator": call_initiator, **body}
        return PhoneOrderStart(order_ref=_str(self._post("phone/sign", body), "orderRef"))

    def collect(self, order_ref: str) -> CollectResult:
        return parse_collect(self._post("collect", {"orderRef": order_ref}))

    def cancel(self, order_ref: str) -> None:
        self._post("cancel", {"orderRef": order_ref})

    # --- transport --------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict):
            return data
        if isinstance(data, dict) and isinstance(data.get("errorCode"), str):
            raise error_for(data["errorCode"], str(data.get("details", "")), response.status_code)
        raise TransportError(f"HTTP {response.status_code} without a BankID answer", http_status=response.status_code)


def _tls(cert: str | None, key: str | None, ca: str | None) -> ssl.SSLContext:
    # BankID's own CA, not the system store: the RP API is trusted only under BankID's root.
    context = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    if cert:
        context.load_cert_chain(cert, key)
    return context


def _with_slash(url: str) -> str:
    # httpx joins relative paths onto base_url; without the slash "/rp/v6.0" + "auth" loses "v6.0".
    return url if url.endswith("/") else url + "/"


def _order_body(
    visible: str | None, non_visible: str | None, fmt: str | None, requirement: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if requirement:
        body["requirement"] = requirement
    if visible is not None:
        body["userVisibleData"] = encode_text(visible)
        if fmt:
            body["userVisibleDataFormat"] = fmt
    if non_visible is not None:
        body["userNonVisibleData"] = encode_text(non_visible)
    return body


def _extras(return_url: str | None, return_risk: bool | None) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if return_url is not None:
        extras["returnUrl"] = return_url
    if return_risk is not None:
        extras["returnRisk"] = return_risk
    return extras


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise TransportError(f"answer without {key}")
    return value


def _order_start(data: dict[str, Any]) -> OrderStart:
    return OrderStart(
        order_ref=_str(data, "orderRef"),
        auto_start_token=_str(data, "autoStartToken"),
        qr_start_token=_str(data, "qrStartToken"),
        qr_start_secret=_str(data, "qrStartSecret"),
    )


def parse_collect(data: dict[str, Any]) -> CollectResult:
    status = data.get("status")
    if status not in ("pending", "failed", "complete"):
        raise TransportError(f"collect answer with status {status!r}")
    hint = data.get("hintCode")
    completion = None
    if status == "complete":
        completion = _completion(data.get("completionData"))
    return CollectResult(
        order_ref=_str(data, "orderRef"),
        status=status,
        hint_code=hint if isinstance(hint, str) else None,
        completion_data=completion,
        raw=data,
    )


def _completion(data: Any) -> CompletionData:
    if not isinstance(data, dict) or not isinstance(data.get("user"), dict):
        raise TransportError("complete answer without completionData.user")
    user, device = data["user"], data.get("device") or {}
    step_up = data.get("stepUp")
    try:
        return CompletionData(
            user=User(
                personal_number=user["personalNumber"],
                name=user["name"],
                given_name=user["givenName"],
                surname=user["surname"],
            ),
            device=Device(ip_address=device.get("ipAddress", ""), uhi=device.get("uhi")),
            signature=data["signature"],
            ocsp_response=data["ocspResponse"],
            bank_id_issue_date=data.get("bankIdIssueDate"),
            step_up=StepUp(mrtd=bool(step_up.get("mrtd"))) if isinstance(step_up, dict) else None,
            risk=data.get("risk"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise TransportError(f"incomplete completionData: {exc}") from exc


__all__ = [
    "BankIdClient",
    "BankIdError",
    "CollectResult",
    "CompletionData",
    "Device",
    "OrderStart",
    "PhoneOrderStart",
    "StepUp",
    "User",
    "encode_text",
    "parse_collect",
]
