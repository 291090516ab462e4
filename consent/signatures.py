"""The signing flow's entry into the consent domain (interface; implemented by the consent core).

The signing pages (signing/) call only these functions. They take a Session and
plain values, flush, and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who signed, as the identity provider vouched for it."""

    method: str  # "bankid" | "oidc"
    personal_number: str | None  # normalised 12 digits, when the provider gives one
    name: str
    given_name: str | None = None
    surname: str | None = None
    # Provider evidence kept verbatim: BankID signature, ocspResponse, device IP,
    # bankIdIssueDate; OIDC issuer, subject, id_token, claims, userSignature.
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PurposeOption:
    key: str
    label: str  # in the page's locale


@dataclass(frozen=True)
class SigningView:
    """Everything a signing page shows for one signer's link, as plain values."""

    signer_id: str
    tenant_id: str
    tenant_name: str
    kind: str  # "consent" | "addendum"
    role: str  # subject | guardian | representative
    signer_status: str  # pending | signed | declined
    object_id: str  # consent id or addendum id
    object_status: str  # pending | given | refused | withdrawn | revoked | expired | signed
    locale: str
    title: str
    body_markdown: str
    text_sha256: str
    subject_name: str | None  # whom the consent is about (the child, for a guardian)
    signer_name: str | None
    required_personal_number: str | None  # the order must require it when known
    purposes: list[PurposeOption]
    asset_count: int | None  # None = all assets of the person
    valid_until: datetime | None
    validity_days: int | None
    signed_at: datetime | None
    record_available: bool
    can_withdraw: bool
    expires_at: datetime
