"""A signature's provider evidence, as a sealed record may carry it.

The raw evidence (BankID's ``completionData``; an OpenID Provider's id_token,
claims and ``userSignature``) names the signer's full personal number: in the
user block, inside the signature XML and inside the id_token. It stays
encrypted in ``signatures.evidence`` and leaves the service only in the DPO's
export. A record is downloaded by roles that may see the number masked only,
so it carries instead:

- SHA-256 digests of the raw evidence as a whole (:func:`digest`, over
  :func:`canonical` JSON) and of each provider artefact that embeds the number
  (over the exact text the provider sent), so whoever holds the raw evidence
  can prove it is the one the record was sealed over;
- the masked number and a keyed hash of the number (HMAC-SHA256 with a key
  derived from ``SAMTYCKE_DATA_KEY``, bound to the tenant), which only this
  service can recompute;
- keyed hashes of the IP addresses (the one the service told BankID, the one
  BankID saw the device at): a record reaches people other than the signer
  (the other guardian, every console role), who have no business with an
  address; the raw addresses stay in the database for the DPO;
- the fields that name neither (order reference, OCSP response, issue date,
  names), verbatim.

Pure functions: no database, no Flask.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from typing import Any

from consent import personal_numbers

# Kept verbatim: none of them holds the personal number.
_KEPT = (
    # BankID (RP API v6.0 completionData, plus what the RP adds)
    "orderRef", "bankIdIssueDate", "stepUp", "risk", "ocspResponse", "userVisibleDataFormat",
    # OpenID Connect
    "provider", "issuer", "subject", "auth_time", "acr", "amr",
)
_USER_KEPT = ("name", "givenName", "surname")
# Provider artefacts that embed the number: replaced by the SHA-256 of their exact text.
_DIGESTED = {"signature": "signatureSha256", "userSignature": "userSignatureSha256", "id_token": "idTokenSha256"}
REDACTED_PREFIX = "hmac-sha256:"


def canonical(raw: Any) -> bytes:
    """The bytes :func:`digest` hashes: JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(raw: Any) -> str:
    return hashlib.sha256(canonical(raw)).hexdigest()


def artefact_digest(text: str) -> str:
    """SHA-256 of a provider artefact exactly as sent (BankID's base64 signature, a compact JWT)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_erased(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("erased") is True


def _forms(numbers: Collection[str]) -> set[str]:
    forms: set[str] = set()
    for number in numbers:
        country = personal_numbers.country_of(number)
        forms.add(number)
        if country is not None:
            forms |= personal_numbers.written_forms(number, country)
    return {form for form in forms if form}


def _scrub(value: Any, forms: set[str], keyed_hash: Callable[[str], str]) -> Any:
    """Belt and braces: any kept string that still contains the number (an OpenID subject that is
    the number, a field a provider adds later) becomes its keyed hash."""
    if isinstance(value, str):
        return REDACTED_PREFIX + keyed_hash(value) if any(form in value for form in forms) else value
    if isinstance(value, dict):
        return {key: _scrub(item, forms, keyed_hash) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, forms, keyed_hash) for item in value]
    return value


def sealed_form(
    raw: Any,
    *,
    numbers: Collection[str],
    keyed_hash: Callable[[str], str],
    address_hash: Callable[[str], str],
) -> dict[str, Any]:
    """What of ``raw`` a record carries; ``numbers`` are the signer's personal numbers to keep out,
    ``address_hash`` gives an IP address's keyed hash (``Keyring.address_hash``).

    Fields not listed above are left out: the digest of the whole raw evidence still covers them.
    """
    if not isinstance(raw, dict):
        return {}
    if is_erased(raw):
        return {"erased": True}
    out: dict[str, Any] = {key: raw[key] for key in _KEPT if key in raw}
    user = raw.get("user")
    if isinstance(user, dict):
        out["user"] = {key: user[key] for key in _USER_KEPT if key in user}
    if isinstance(raw.get("endUserIp"), str):
        out["endUserIpHmac"] = address_hash(raw["endUserIp"])
    device = raw.get("device")
    if isinstance(device, dict) and isinstance(device.get("ipAddress"), str):
        # The device's ``uhi`` identifies the phone; the signature XML (digested) carries it.
        out["device"] = {"ipAddressHmac": address_hash(device["ipAddress"])}
    for key, name in _DIGESTED.items():
        if isinstance(raw.get(key), str):
            out[name] = artefact_digest(raw[key])
    if isinstance(raw.get("claims"), dict):
        out["claimsSha256"] = digest(raw["claims"])
    scrubbed: dict[str, Any] = _scrub(out, _forms(numbers), keyed_hash)
    return scrubbed


def numbers_in(raw: Any) -> set[str]:
    """The personal numbers a raw evidence names in its user block (BankID)."""
    user = raw.get("user") if isinstance(raw, dict) else None
    number = user.get("personalNumber") if isinstance(user, dict) else None
    return {number} if isinstance(number, str) and number else set()
