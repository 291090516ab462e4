"""A realistic sample record, for tests, the benchmark and template previews.

Fictitious people; personal numbers are Skatteverket's published test range.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from app.crypto import Keyring
from reports.context import (
    Kind,
    Locale,
    PurposeInfo,
    RecordContext,
    SignerInfo,
    SubjectInfo,
    TemplateInfo,
    TenantInfo,
)

SAMPLE_TEXT = {
    "sv": (
        "# Samtycke till bilder\n\n"
        "Jag samtycker till att **Exempelskolan** använder bilder och filmer där jag "
        "syns för de ändamål jag har valt nedan.\n\n"
        "- Samtycket gäller i tre år och kan när som helst återkallas.\n"
        "- Återkallandet påverkar inte användning som skett innan.\n\n"
        "Läs mer på <https://example.se/integritet>. <script>alert('x')</script>\n"
    ),
    "nb": (
        "# Samtykke til bilder\n\n"
        "Jeg samtykker til at **Eksempelskolen** bruker bilder og film der jeg "
        "vises, for formålene jeg har valgt nedenfor.\n\n"
        "- Samtykket gjelder i tre år og kan når som helst trekkes tilbake.\n"
        "- Tilbaketrekking påvirker ikke bruk som har skjedd før.\n\n"
        "Les mer på <https://example.no/personvern>. <script>alert('x')</script>\n"
    ),
    "en": (
        "# Consent to images\n\n"
        "I consent to **Example School** using photos and videos in which I "
        "appear, for the purposes I have chosen below.\n\n"
        "- The consent is valid for three years and can be withdrawn at any time.\n"
        "- Withdrawal does not affect use that took place before.\n\n"
        "Read more at <https://example.com/privacy>. <script>alert('x')</script>\n"
    ),
}

PURPOSE_LABELS = {
    "sv": {"web": "Webbplats", "print": "Tryckt material", "social": "Sociala medier"},
    "nb": {"web": "Nettsted", "print": "Trykt materiell", "social": "Sosiale medier"},
    "en": {"web": "Website", "print": "Printed material", "social": "Social media"},
}


def sample_context(
    kind: Kind = "consent_given",
    locale: Locale = "sv",
    *,
    tenant_id: str = "7d7c6b1e-4d8a-4c45-9a44-0a8f3f0b2c11",
    record_id: str = "0b6f3c2e-5f4d-4a8e-9a51-3d2c1b0a9f8e",
) -> RecordContext:
    signed_at = datetime(2025, 3, 1, 13, 3, 12, tzinfo=UTC)
    text = SAMPLE_TEXT[locale]
    text_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    is_addendum = kind.startswith("addendum_")
    # A record shows the devices' IP addresses as keyed hashes only.
    keyring = Keyring("sample-data-key-for-sample-records")

    def ip(address: str) -> str:
        return keyring.address_hash(tenant_id, address)

    signers = [
        SignerInfo(
            role="guardian",
            method="bankid",
            name="Anna Andersson",
            personal_number_masked="19800101-****",
            signed_at=signed_at,
            device_ip_hmac=ip("192.0.2.10"),
            bankid_issue_date="2023-05-04",
        ),
        SignerInfo(
            role="guardian",
            method="oidc",
            name="Bertil Andersson",
            personal_number_masked="19790202-****",
            signed_at=signed_at + timedelta(minutes=7),
            issuer="https://idp.example.se",
            oidc_subject="b3f1c1a2-2d6e-4f0e-8f65-7b7f0c3b5d10",
            device_ip_hmac=ip("2001:db8::17"),
        ),
    ]
    if is_addendum:
        signers = [
            SignerInfo(
                role="representative",
                method="bankid",
                name="Carin Chef",
                personal_number_masked="19700303-****",
                signed_at=signed_at,
                device_ip_hmac=ip("198.51.100.4"),
            )
        ]
    status_at = None if kind in ("consent_given", "addendum_signed") else signed_at + timedelta(days=40)
    return RecordContext(
        kind=kind,
        locale=locale,
        record_id=record_id,
        tenant=TenantInfo(id=tenant_id, name="Exempelskolan i Norrköping"),
        subject=None if is_addendum else SubjectInfo(name="Elsa Andersson", personal_number_masked="20120315-****"),
        signers=signers,
        text_markdown=text,
        template=TemplateInfo(key="images-school", version=3, text_sha256=text_sha),
        visible_text_sha256=hashlib.sha256(b"rendered page " + text.encode()).hexdigest(),
        purposes=[] if is_addendum else [PurposeInfo(key=k, label=v) for k, v in PURPOSE_LABELS[locale].items()],
        asset_ids=None if is_addendum else ["asset-1001", "asset-1002", "asset-2044"],
        valid_from=signed_at,
        valid_until=signed_at + timedelta(days=3 * 365),
        audit_event_hash=hashlib.sha256(b"audit event 42").hexdigest(),
        verify_url=f"https://samtycke.example.se/verify/{record_id}",
        created_at=signed_at + timedelta(seconds=5),
        consent_id=None if is_addendum else "c0a80101-0000-4000-8000-000000000001",
        addendum_id="ad0a80101-0000-4000-8000-00000000000a" if is_addendum else None,
        status_at=status_at,
        reason="Requested by the guardian" if kind in ("consent_withdrawn", "consent_revoked") else None,
        evidence={
            "bankid": {
                "orderRef": "131daac9-16c6-4618-beb0-365768f37288",
                "signature": "PD94bWwgdmVyc2lvbj0iMS4wIj8+",
                "ocspResponse": "MIIHfgoBAKCCB3cwggdz",
            },
            "oidc": {"id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiM2YxIn0.c2ln"},
        },
    )
