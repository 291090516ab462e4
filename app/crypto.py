"""Keys derived from SAMTYCKE_DATA_KEY: personal-number encryption, the blind
index used to find a person by personal number, signing-link tokens, and the keyed
hashes a sealed record shows instead of a personal number or an IP address.

Each purpose gets its own HKDF-derived key so one can never stand in for another.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import weakref
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator


@lru_cache(maxsize=32)
def _derive(data_key: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"samtycke", info=purpose.encode()).derive(
        data_key.encode()
    )


class Keyring:
    """Holds the derived keys; one per app, built from configuration."""

    def __init__(self, data_key: str) -> None:
        self._aead = AESGCM(_derive(data_key, "personal-number-encryption"))
        self._index_key = _derive(data_key, "personal-number-index")
        self._link_key = _derive(data_key, "signing-link")
        self._evidence_key = _derive(data_key, "evidence-personal-number")
        self._address_key = _derive(data_key, "evidence-ip-address")

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, *, context: str) -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()

    def blind_index(self, tenant_id: str, value: str) -> str:
        # Keyed and tenant-bound: the same number in two tenants gives two indexes.
        return hmac.new(self._index_key, f"{tenant_id}:{value}".encode(), hashlib.sha256).hexdigest()

    def evidence_hash(self, tenant_id: str, value: str) -> str:
        """A personal number as a sealed record carries it: only this service can recompute it, and
        its own key, so a record never shows the blind index the database searches by."""
        return hmac.new(self._evidence_key, f"{tenant_id}:{value}".encode(), hashlib.sha256).hexdigest()

    def address_hash(self, tenant_id: str, address: str) -> str:
        """An IP address as a sealed record carries it: whoever holds the record (the other guardian,
        say) cannot read it, while the service can show that an address in its logs or database is
        the one in the record. Written forms of one address (``2001:DB8::1``, ``2001:db8:0::1``)
        give one hash."""
        text = address.strip()
        # Not an address after all: hashed as given, still never shown.
        with contextlib.suppress(ValueError):
            text = ipaddress.ip_address(text).compressed
        return hmac.new(self._address_key, f"{tenant_id}:{text}".encode(), hashlib.sha256).hexdigest()

    def link_token(self, signer_id: str) -> str:
        """The signing-link token, re-derivable so the link can be shown again; only its hash is stored."""
        mac = hmac.new(self._link_key, f"signer:{signer_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


_EXTENSION = "samtycke.keyring"


def install_keyring(app: Flask, data_key: str, engine: Engine) -> Keyring:
    """Give ``app`` its keyring, and bind it to the app's engine for the encrypted columns."""
    keyring = Keyring(data_key)
    app.extensions[_EXTENSION] = keyring
    # Encrypted columns find their key through this app's engine, so another app
    # in the same process (another DATA_KEY) never reads or writes with it.
    bind_column_keyring(engine, keyring)
    return keyring


def keyring_of(app: Flask) -> Keyring:
    """The app's keyring, for code that holds the app (CLI, jobs, threads)."""
    found: Keyring = app.extensions[_EXTENSION]
    return found


def current_keyring() -> Keyring:
    """The keyring of the app handling this request or app context."""
    found: Keyring = current_app.extensions[_EXTENSION]
    return found


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


# --- encrypted columns ----------------------------------------------------------
# Signature evidence holds personal numbers (BankID's user block and signature XML,
# OIDC claims), so it is encrypted at rest as a whole. The column type needs the key
# outside any request (CLI, jobs) and only sees the dialect, so the keyring is bound
# to the engine's dialect (one per engine, so one per app): two apps in one process
# with different DATA_KEYs each keep their own.
_column_keyrings: weakref.WeakKeyDictionary[Dialect, Keyring] = weakref.WeakKeyDictionary()


def bind_column_keyring(engine: Engine, keyring: Keyring) -> None:
    _column_keyrings[engine.dialect] = keyring


def _keyring_for(dialect: Dialect) -> Keyring:
    try:
        return _column_keyrings[dialect]
    except KeyError:
        raise RuntimeError("no keyring for encrypted columns on this engine; create_app() binds it") from None


class EncryptedJSON(TypeDecorator[Any]):
    """JSON encrypted with AES-GCM under the keyring of the engine it goes through; reads and writes plain dicts."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _keyring_for(dialect).encrypt(json.dumps(value, sort_keys=True), context="column")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(_keyring_for(dialect).decrypt(value, context="column"))
