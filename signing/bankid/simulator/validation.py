"""Validation of RP API request bodies, field by field as BankID checks them.

Pure functions: a parsed JSON body in, an :class:`OrderRequest` out, or a
``SimError`` (``invalidParameters``) naming the first offending field.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from signing.bankid.personnummer import is_valid_personal_number
from signing.bankid.simulator.errors import invalid

# Limits after base64 encoding, from the RP API v6.0 reference.
VISIBLE_LIMITS = {"auth": 1_500, "sign": 40_000, "phone/auth": 1_500, "phone/sign": 40_000}
NON_VISIBLE_LIMITS = {"auth": 1_500, "sign": 200_000, "phone/auth": 1_500, "phone/sign": 200_000}
FORMATS = ("simpleMarkdownV1",)

_ORDER_FIELDS = {"requirement", "userVisibleData", "userNonVisibleData", "userVisibleDataFormat"}
_FIELDS = {
    "auth": _ORDER_FIELDS | {"endUserIp", "returnUrl", "returnRisk", "app", "web"},
    "sign": _ORDER_FIELDS | {"endUserIp", "returnUrl", "returnRisk", "app", "web"},
    "phone/auth": _ORDER_FIELDS | {"personalNumber", "callInitiator"},
    "phone/sign": _ORDER_FIELDS | {"personalNumber", "callInitiator"},
}
_REQUIREMENTS = {
    "auth": {"cardReader", "certificatePolicies", "mrtd", "personalNumber", "pinCode"},
    "sign": {"cardReader", "certificatePolicies", "mrtd", "personalNumber", "pinCode"},
    "phone/auth": {"certificatePolicies", "mrtd", "pinCode"},
    "phone/sign": {"certificatePolicies", "mrtd", "pinCode"},
}
_APP_FIELDS = {"appIdentifier", "deviceOS", "deviceIdentifier", "deviceModelName"}
_WEB_FIELDS = {"deviceIdentifier", "referringDomain", "userAgent"}
# An OID, optionally ending in a wildcard ("1.2.752.78.*") as BankID allows.
_POLICY = re.compile(r"^[0-9]+(\.[0-9]+)*(\.\*)?$")


@dataclass(frozen=True)
class OrderRequest:
    kind: str
    end_user_ip: str | None = None
    personal_number: str | None = None
    call_initiator: str | None = None
    user_visible_data: str | None = None
    user_non_visible_data: str | None = None
    user_visible_data_format: str | None = None
    requirement: dict[str, Any] = field(default_factory=dict)
    return_url: str | None = None
    return_risk: bool = False


def parse_order(kind: str, body: Any) -> OrderRequest:
    if not isinstance(body, dict):
        raise invalid("Invalid request body")
    _no_unknown(body, _FIELDS[kind], "")
    _no_control_characters(body, "")
    phone = kind.startswith("phone/")
    end_user_ip = None
    personal_number = None
    call_initiator = None
    if phone:
        personal_number = body.get("personalNumber")
        if not is_valid_personal_number(personal_number):
            raise invalid("Invalid personalNumber")
        call_initiator = body.get("callInitiator")
        if call_initiator not in ("user", "RP"):
            raise invalid("Invalid callInitiator")
    else:
        end_user_ip = body.get("endUserIp")
        if not _valid_ip(end_user_ip):
            raise invalid("Invalid endUserIp")
    requirement = _requirement(kind, body.get("requirement"))
    if not phone and "personalNumber" in requirement:
        personal_number = requirement["personalNumber"]
    visible = _base64_field(body, "userVisibleData", VISIBLE_LIMITS[kind], text=True)
    if visible is None and kind in ("sign", "phone/sign"):
        raise invalid("Missing userVisibleData")
    non_visible = _base64_field(body, "userNonVisibleData", NON_VISIBLE_LIMITS[kind], text=False)
    fmt = body.get("userVisibleDataFormat")
    if fmt is not None and fmt not in FORMATS:
        raise invalid("Invalid userVisibleDataFormat")
    return_url = body.get("returnUrl")
    if return_url is not None and not (isinstance(return_url, str) and 0 < len(return_url) <= 2048):
        raise invalid("Invalid returnUrl")
    return_risk = body.get("returnRisk", False)
    if not isinstance(return_risk, bool):
        raise invalid("Invalid returnRisk")
    if "app" in body and "web" in body:
        raise invalid("Invalid parameters: app and web cannot both be given")
    for name, allowed in (("app", _APP_FIELDS), ("web", _WEB_FIELDS)):
        if name in body:
            _string_object(body[name], allowed, name)
    return OrderRequest(
        kind=kind,
        end_user_ip=end_user_ip,
        personal_number=personal_number,
        call_initiator=call_initiator,
        user_visible_data=visible,
        user_non_visible_data=non_visible,
        user_visible_data_format=fmt,
        requirement=requirement,
        return_url=return_url,
        return_risk=return_risk,
    )


def parse_order_ref(body: Any) -> str:
    if not isinstance(body, dict):
        raise invalid("Invalid request body")
    _no_unknown(body, {"orderRef"}, "")
    _no_control_characters(body, "")
    order_ref = body.get("orderRef")
    if not isinstance(order_ref, str) or not order_ref:
        raise invalid("Invalid orderRef")
    return order_ref


def _no_unknown(body: dict[str, Any], allowed: set[str], prefix: str) -> None:
    # The RP API refuses parameters it does not know rather than ignoring them.
    for key in body:
        if key not in allowed:
            raise invalid(f"Unknown parameter {prefix}{key}")


def _no_control_characters(value: Any, path: str) -> None:
    """Every field is an identifier, a URL, base64 or a device string: none holds a control
    character (C0, DEL, C1) or a lone surrogate, and the RP API refuses them as invalid parameters."""
    if isinstance(value, str):
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
            raise invalid(f"Invalid {path}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_control_characters(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            _no_control_characters(item, path)


def _valid_ip(value: Any) -> bool:
    if not isinstance(value, str) or not value or value != value.strip():
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _requirement(kind: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid requirement")
    _no_unknown(value, _REQUIREMENTS[kind], "requirement.")
    for flag in ("pinCode", "mrtd"):
        if flag in value and not isinstance(value[flag], bool):
            raise invalid(f"Invalid requirement.{flag}")
    if "personalNumber" in value and not is_valid_personal_number(value["personalNumber"]):
        raise invalid("Invalid requirement.personalNumber")
    if "cardReader" in value and value["cardReader"] not in ("class1", "class2"):
        raise invalid("Invalid requirement.cardReader")
    if "certificatePolicies" in value:
        policies = value["certificatePolicies"]
        if (
            not isinstance(policies, list)
            or not policies
            or not all(isinstance(p, str) and _POLICY.match(p) for p in policies)
        ):
            raise invalid("Invalid requirement.certificatePolicies")
    return dict(value)


def _base64_field(body: dict[str, Any], name: str, limit: int, *, text: bool) -> str | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str) or not value or len(value) > limit:
        raise invalid(f"Invalid {name}")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"Invalid {name}") from None
    if text:
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(f"Invalid {name}") from None
    return value


def _string_object(value: Any, allowed: set[str], name: str) -> None:
    if not isinstance(value, dict):
        raise invalid(f"Invalid {name}")
    _no_unknown(value, allowed, f"{name}.")
    for key, item in value.items():
        if not isinstance(item, str) or not item:
            raise invalid(f"Invalid {name}.{key}")
