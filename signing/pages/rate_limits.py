"""Rate limits on starting a signing order, per link and per client address, shared by
BankID and OIDC starts (``SIGNING_START_RATE_LIMIT``, ``SIGNING_START_ADDRESS_RATE_LIMIT``)."""

from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address

from app.crypto import sha256_hex
from app.extensions import limiter


def _link_key() -> str:
    # The token is the link's key: count by its hash, never store it.
    token = (request.view_args or {}).get("token", "")
    return "signing-link:" + sha256_hex(str(token))


def _address_key() -> str:
    return "signing-address:" + (get_remote_address() or "")


def _link_limit() -> str:
    return str(current_app.config.get("SIGNING_START_RATE_LIMIT") or "10 per minute")


def _address_limit() -> str:
    return str(current_app.config.get("SIGNING_START_ADDRESS_RATE_LIMIT") or _link_limit())


# Order starts are limited per link and per client address, across BankID and OIDC.
limit_per_link = limiter.shared_limit(_link_limit, scope="signing-start-link", key_func=_link_key)
limit_per_address = limiter.shared_limit(_address_limit, scope="signing-start-address", key_func=_address_key)
