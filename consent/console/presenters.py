"""Plain values for templates that need a little shaping: signature evidence, signing links."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from app.crypto import current_keyring

# Evidence fields shown as they are (short, not personal numbers or names).
# A signer's IP address is personal data: shown only to a role that may export the person anyway.
_ADDRESSES = {"endUserIp"}
_PLAIN = {
    "orderRef": _l("BankID order reference"),
    "bankIdIssueDate": _l("BankID issued on"),
    "stepUp": _l("Step-up"),
    "endUserIp": _l("Signer's IP address"),
    "provider": _l("Identity provider"),
    "issuer": _l("Issuer"),
    "auth_time": _l("Authenticated at (Unix time)"),
    "acr": _l("Authentication context"),
    "amr": _l("Authentication methods"),
}
# Evidence blobs: shown as present, with size and fingerprint, never in full.
_BLOBS = {
    "signature": _l("BankID signature (XML)"),
    "ocspResponse": _l("OCSP response"),
    "id_token": _l("Signed ID token"),
    "userSignature": _l("User signature (OIDC Sweden)"),
}


@dataclass(frozen=True)
class EvidenceItem:
    label: str
    value: str


def evidence_summary(
    evidence: dict[str, Any] | None, *, show_addresses: bool = False
) -> tuple[list[EvidenceItem], bool]:
    """The evidence of one signature as label/value pairs, and whether it was erased.

    IP addresses are shown only with ``show_addresses`` (the DPO's role); others see that one is kept."""
    evidence = evidence or {}
    if evidence.get("erased"):
        return [], True
    items: list[EvidenceItem] = []
    for key, label in _PLAIN.items():
        value = evidence.get(key)
        if value not in (None, "", [], {}):
            if key in _ADDRESSES and not show_addresses:
                items.append(EvidenceItem(str(label), str(_l("kept; shown to the data protection officer"))))
                continue
            if isinstance(value, dict | list):
                value = ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else ", ".join(
                    str(v) for v in value)
            items.append(EvidenceItem(str(label), str(value)[:200]))
    for key, label in _BLOBS.items():
        value = evidence.get(key)
        if value:
            data = value.encode() if isinstance(value, str) else repr(value).encode()
            items.append(EvidenceItem(
                str(label),
                str(_l("kept, %(size)s characters, SHA-256 %(digest)s…", size=len(data),
                       digest=hashlib.sha256(data).hexdigest()[:16])),
            ))
    return items, False


@dataclass(frozen=True)
class SigningLink:
    url: str  # what the signer opens (the configured public base URL)
    qr_svg: str  # the QR image, on this server
    qr_png: str


def signing_link(signer_id: str) -> SigningLink:
    """A signer's link: the token is derived again from the signer id, never stored."""
    token = current_keyring().link_token(signer_id)
    base = current_app.config["BASE_URL"].rstrip("/")
    try:
        path = url_for("signing.page", token=token)
        svg = url_for("signing.link_qr_svg", token=token)
        png = url_for("signing.link_qr_png", token=token)
    except BuildError:  # the signing pages are not installed: show the plain link
        path, svg, png = f"/s/{token}", "", ""
    return SigningLink(url=base + path, qr_svg=svg, qr_png=png)
