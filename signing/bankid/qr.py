"""The animated QR code of BankID's RP API v6.0.

The RP shows ``bankid.{qrStartToken}.{seconds}.{qrAuthCode}`` and refreshes it
every second; ``qrAuthCode`` is HMAC-SHA256 over the decimal seconds since the
order was started, keyed with ``qrStartSecret``. The secret never leaves the
server: pages fetch the finished text.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime

QR_PREFIX = "bankid"


def qr_auth_code(qr_start_secret: str, seconds: int) -> str:
    return hmac.new(qr_start_secret.encode(), str(seconds).encode(), hashlib.sha256).hexdigest()


def qr_data(qr_start_token: str, qr_start_secret: str, seconds: int) -> str:
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    return f"{QR_PREFIX}.{qr_start_token}.{seconds}.{qr_auth_code(qr_start_secret, seconds)}"


def seconds_since(started_at: datetime, now: datetime) -> int:
    """Whole seconds since the order was started, as BankID counts them (floor, never negative)."""
    return max(0, math.floor((now - started_at).total_seconds()))


def parse_qr_data(text: str) -> tuple[str, int, str] | None:
    """``(qr_start_token, seconds, auth_code)`` from a QR text, or None when it is not one."""
    parts = text.strip().split(".")
    if len(parts) != 4 or parts[0] != QR_PREFIX or not parts[1]:
        return None
    token, seconds, code = parts[1], parts[2], parts[3]
    if not seconds.isascii() or not seconds.isdigit() or len(seconds) > 9:
        return None
    if len(code) != 64 or any(c not in "0123456789abcdef" for c in code):
        return None
    return token, int(seconds), code


def autostart_url(auto_start_token: str, redirect: str = "null") -> str:
    """The same-device start link (``redirect=null``: the app returns the user by itself)."""
    return f"bankid:///?autostarttoken={auto_start_token}&redirect={redirect}"
