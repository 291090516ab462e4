"""consent/evidence.py: what a record may carry of a signature's raw provider evidence."""

from __future__ import annotations

import base64
import hashlib
import json

from app.crypto import Keyring
from consent import evidence
from consent.personal_numbers import written_forms

PN = "198111231232"
KEYRING = Keyring("test-data-key-not-for-production")


def _sealed(raw: dict[str, object], numbers: set[str]) -> dict[str, object]:
    return evidence.sealed_form(
        raw,
        numbers=numbers,
        keyed_hash=lambda text: KEYRING.evidence_hash("t1", text),
        address_hash=lambda address: KEYRING.address_hash("t1", address),
    )


def _no_number(value: object) -> None:
    text = json.dumps(value)
    assert not any(form in text for form in written_forms(PN)), text


def test_oidc_evidence_keeps_digests_instead_of_the_token_and_claims() -> None:
    id_token = "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(json.dumps({"ssn": PN}).encode()).decode() + ".c2ln"
    raw = {
        "provider": "criipto", "issuer": "https://idp.example", "subject": "b3f1c1a2", "id_token": id_token,
        "claims": {"ssn": PN, "name": "Vendela Quisling"}, "auth_time": 1700000000, "acr": "urn:se:bankid",
        "userSignature": base64.b64encode(f"<Signature>{PN}</Signature>".encode()).decode(),
    }
    sealed = _sealed(raw, {PN})
    _no_number(sealed)
    assert sealed["idTokenSha256"] == hashlib.sha256(id_token.encode()).hexdigest()
    assert sealed["userSignatureSha256"] == hashlib.sha256(str(raw["userSignature"]).encode()).hexdigest()
    assert sealed["claimsSha256"] == evidence.digest(raw["claims"])
    assert {k: sealed[k] for k in ("provider", "issuer", "subject", "auth_time", "acr")} == {
        k: raw[k] for k in ("provider", "issuer", "subject", "auth_time", "acr")
    }


def test_a_kept_field_that_holds_the_number_in_any_form_becomes_its_keyed_hash() -> None:
    for written in written_forms(PN):
        sealed = _sealed({"subject": f"se:{written}", "orderRef": "o-1"}, {PN})
        _no_number(sealed)
        assert sealed["subject"] == evidence.REDACTED_PREFIX + KEYRING.evidence_hash("t1", f"se:{written}")
        assert sealed["orderRef"] == "o-1"


def test_erased_evidence_stays_erased_and_the_digest_is_over_canonical_json() -> None:
    assert _sealed({"erased": True}, set()) == {"erased": True}
    assert evidence.digest({"b": 1, "a": "å"}) == hashlib.sha256('{"a":"å","b":1}'.encode()).hexdigest()
    # Bound to its tenant: the same number hashes differently elsewhere.
    assert KEYRING.evidence_hash("t1", PN) != KEYRING.evidence_hash("t2", PN)
    assert KEYRING.evidence_hash("t1", PN) != KEYRING.blind_index("t1", PN)


def test_bankid_ip_addresses_become_keyed_hashes_with_a_key_of_their_own() -> None:
    raw = {"orderRef": "o-1", "endUserIp": "192.0.2.5", "device": {"ipAddress": "2001:db8::7", "uhi": "OZvYM9VvyiAmG7"}}
    sealed = _sealed(raw, set())
    assert "192.0.2.5" not in json.dumps(sealed) and "2001:db8::7" not in json.dumps(sealed)
    assert sealed == {
        "orderRef": "o-1",
        "endUserIpHmac": KEYRING.address_hash("t1", "192.0.2.5"),
        "device": {"ipAddressHmac": KEYRING.address_hash("t1", "2001:db8::7")},
    }
    # Not the personal-number hash under another name: the same text gives another value.
    assert KEYRING.address_hash("t1", "192.0.2.5") != KEYRING.evidence_hash("t1", "192.0.2.5")
