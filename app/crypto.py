"""Keys derived from SAMTYCKE_DATA_KEY: personal-number encryption, the blind
index used to find a person by personal number, and signing-link tokens.

Each purpose gets its own HKDF-derived key so one can never stand in for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


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

    def link_token(self, signer_id: str) -> str:
        """The signing-link token, re-derivable so the link can be shown again; only its hash is stored."""
        mac = hmac.new(self._link_key, f"signer:{signer_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()
