"""The plain data describing one record, and its machine-readable evidence.

A :class:`RecordContext` holds only plain values (str, datetime, lists, dicts),
never ORM objects: ``reports.services`` builds it inside the transaction, and
everything after that (HTML, PDF, seal) can run in another process or later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from app.i18n import LOCALES, Locale
from reports.errors import InvalidRecordContext

Kind = Literal[
    "consent_given",
    "consent_refused",
    "consent_withdrawn",
    "consent_revoked",
    "addendum_signed",
    "addendum_revoked",
]
Method = Literal["bankid", "oidc"]

KINDS: tuple[str, ...] = get_args(Kind)
METHODS: tuple[str, ...] = get_args(Method)

# W3C DPV consent status per record kind. A DPA addendum is the customer's
# indicated agreement to a processing operation, so it reuses the same statuses.
DPV_STATUS: dict[str, str] = {
    "consent_given": "dpv:ConsentGiven",
    "consent_refused": "dpv:ConsentRefused",
    "consent_withdrawn": "dpv:ConsentWithdrawn",
    "consent_revoked": "dpv:ConsentRevoked",
    "addendum_signed": "dpv:ConsentGiven",
    "addendum_revoked": "dpv:ConsentRevoked",
}

EVIDENCE_NAME = "evidence.json"  # the attachment inside every record PDF
EVIDENCE_PROFILE = "https://w3id.org/dpv/guides/consent-27560"
SAMTYCKE_NS = "urn:samtycke:vocab#"


@dataclass(frozen=True)
class TenantInfo:
    id: str
    name: str


@dataclass(frozen=True)
class SubjectInfo:
    """The data subject the record is about (``None`` on addendum records)."""

    name: str
    personal_number_masked: str | None = None
    # Whose national identity number it is (SE, NO, DK, FI): the record names it in the country's word.
    personal_number_country: str = "SE"


@dataclass(frozen=True)
class SignerInfo:
    """One signature: the subject, a guardian, or the customer's representative."""

    role: str  # "subject" | "guardian" | "representative"
    method: Method
    name: str
    signed_at: datetime
    personal_number_masked: str | None = None
    # Keyed hash of the device's IP address (``Keyring.address_hash``), never the address.
    device_ip_hmac: str | None = None
    issuer: str | None = None  # OIDC only
    oidc_subject: str | None = None  # OIDC only
    bankid_issue_date: str | None = None  # BankID only, as the RP API gives it


@dataclass(frozen=True)
class TemplateInfo:
    key: str
    version: int
    text_sha256: str


@dataclass(frozen=True)
class PurposeInfo:
    key: str
    label: str  # already in the record's locale


@dataclass(frozen=True)
class RecordContext:
    """Everything one record shows and embeds. Times must be timezone-aware."""

    kind: Kind
    locale: Locale
    record_id: str
    tenant: TenantInfo
    subject: SubjectInfo | None
    signers: list[SignerInfo]
    text_markdown: str  # the exact text signed
    template: TemplateInfo
    visible_text_sha256: str
    purposes: list[PurposeInfo]
    asset_ids: list[str] | None  # None: every asset of the person
    valid_from: datetime | None
    valid_until: datetime | None
    audit_event_hash: str
    verify_url: str
    created_at: datetime
    consent_id: str | None = None
    addendum_id: str | None = None
    status_at: datetime | None = None  # withdrawal/revocation/refusal time
    reason: str | None = None
    # The signatures' evidence without full personal numbers (``consent.evidence.sealed_form``).
    evidence: dict[str, Any] = field(default_factory=dict)
    timezone: str = "Europe/Stockholm"  # for the human-readable dates only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidRecordContext(f"unknown record kind {self.kind!r}")
        if self.locale not in LOCALES:
            raise InvalidRecordContext(f"unsupported locale {self.locale!r}")
        is_addendum = self.kind.startswith("addendum_")
        if is_addendum and not self.addendum_id:
            raise InvalidRecordContext("an addendum record needs addendum_id")
        if not is_addendum and not self.consent_id:
            raise InvalidRecordContext("a consent record needs consent_id")
        for signer in self.signers:
            if signer.method not in METHODS:
                raise InvalidRecordContext(f"unknown signing method {signer.method!r}")
        times = [self.created_at, self.valid_from, self.valid_until, self.status_at]
        times += [s.signed_at for s in self.signers]
        # Naive datetimes would be written without an offset, which a record must never do.
        if any(t is not None and t.utcoffset() is None for t in times):
            raise InvalidRecordContext("record times must be timezone-aware")

    @property
    def is_addendum(self) -> bool:
        return self.kind.startswith("addendum_")

    @property
    def subject_ref(self) -> str:
        """The id the record is about: the consent or the addendum."""
        return self.addendum_id if self.is_addendum else self.consent_id  # type: ignore[return-value]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _signer_json(signer: SignerInfo) -> dict[str, Any]:
    agent_type = {
        "subject": "dpv:DataSubject",
        "guardian": "dpv:GuardianOfDataSubject",
    }.get(signer.role, "dpv:Representative")
    out: dict[str, Any] = {
        "@type": agent_type,
        "role": signer.role,
        "hasName": signer.name,
        "isIndicatedAtTime": _iso(signer.signed_at),
        "hasIndicationMethod": f"smk:{signer.method}",
    }
    optional = {
        "personalNumberMasked": signer.personal_number_masked,
        "deviceIpHmac": signer.device_ip_hmac,
        "oidcIssuer": signer.issuer,
        "oidcSubject": signer.oidc_subject,
        "bankidIssueDate": signer.bankid_issue_date,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


_JSONLD_CONTEXT: dict[str, Any] = {
    # Keys not mapped below (recordId, signatures, ...) are Samtycke's own terms.
    "@vocab": SAMTYCKE_NS,
    "dpv": "https://w3id.org/dpv#",
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "smk": SAMTYCKE_NS,
    "hasIdentifier": "dpv:hasIdentifier",
    "hasName": "dpv:hasName",
    "hasDataController": "dpv:hasDataController",
    "hasDataSubject": "dpv:hasDataSubject",
    "hasConsentStatus": {"@id": "dpv:hasConsentStatus", "@type": "@id"},
    "hasPurpose": "dpv:hasPurpose",
    "notice": "dpv:hasNotice",
    "isIndicatedBy": "dpv:isIndicatedBy",
    "isIndicatedAtTime": {"@id": "dpv:isIndicatedAtTime", "@type": "xsd:dateTime"},
    "hasIndicationMethod": {"@id": "dpv:hasIndicationMethod", "@type": "@id"},
    # ISO/IEC TS 27560 field names without a DPV property of their own.
    "hasProvisionTime": {"@id": "smk:hasProvisionTime", "@type": "xsd:dateTime"},
    "hasStatusTime": {"@id": "smk:hasStatusTime", "@type": "xsd:dateTime"},
    "hasExpiry": "dpv:hasExpiry",
    "hasStartTime": {"@id": "dpv:hasStartTime", "@type": "xsd:dateTime"},
    "hasEndTime": {"@id": "dpv:hasEndTime", "@type": "xsd:dateTime"},
    "created": {"@id": "dct:created", "@type": "xsd:dateTime"},
    "conformsTo": {"@id": "dct:conformsTo", "@type": "@id"},
    "language": "dct:language",
    "title": "dct:title",
    "version": "dct:hasVersion",
}


def build_evidence_json(ctx: RecordContext) -> dict[str, Any]:
    """The consent record as JSON-LD (W3C DPV profile of ISO/IEC TS 27560).

    Embedded in the PDF as ``evidence.json``; ``verify.py`` reads the ids back
    from it, so the key names ``recordId``, ``tenantId``, ``consentId``,
    ``addendumId`` and ``kind`` are part of the record format.
    """
    provision_time = min((s.signed_at for s in ctx.signers), default=None)
    if ctx.kind in ("consent_given", "addendum_signed"):
        provision_time = provision_time or ctx.valid_from
    record: dict[str, Any] = {
        "@context": _JSONLD_CONTEXT,
        "@id": f"urn:uuid:{ctx.record_id}",
        "@type": "dpv:ConsentRecord",
        "conformsTo": EVIDENCE_PROFILE,
        "hasIdentifier": ctx.record_id,
        "recordId": ctx.record_id,
        "kind": ctx.kind,
        "tenantId": ctx.tenant.id,
        "consentId": ctx.consent_id,
        "addendumId": ctx.addendum_id,
        "created": _iso(ctx.created_at),
        "language": ctx.locale,
        "hasDataController": {
            "@id": f"urn:samtycke:tenant:{ctx.tenant.id}",
            "@type": "dpv:DataController",
            "hasIdentifier": ctx.tenant.id,
            "hasName": ctx.tenant.name,
        },
        "hasDataSubject": (
            None
            if ctx.subject is None
            else {
                "@type": "dpv:DataSubject",
                "hasName": ctx.subject.name,
                "personalNumberMasked": ctx.subject.personal_number_masked,
            }
        ),
        "hasConsentStatus": DPV_STATUS[ctx.kind],
        "hasStatusTime": _iso(ctx.status_at),
        "statusReason": ctx.reason,
        "hasPurpose": [
            {
                "@id": f"urn:samtycke:tenant:{ctx.tenant.id}:purpose:{p.key}",
                "@type": "dpv:Purpose",
                "hasIdentifier": p.key,
                "title": {"@value": p.label, "@language": ctx.locale},
            }
            for p in ctx.purposes
        ],
        "assets": {"all": True} if ctx.asset_ids is None else {"all": False, "ids": list(ctx.asset_ids)},
        "notice": {
            "@type": "dpv:ConsentNotice",
            "templateKey": ctx.template.key,
            "templateVersion": ctx.template.version,
            "textSha256": ctx.template.text_sha256,
            "visibleTextSha256": ctx.visible_text_sha256,
            "language": ctx.locale,
        },
        "isIndicatedBy": [_signer_json(s) for s in ctx.signers],
        "hasProvisionTime": _iso(provision_time),
        "hasExpiry": {
            "@type": "dpv:TemporalDuration",
            "hasStartTime": _iso(ctx.valid_from),
            "hasEndTime": _iso(ctx.valid_until),
        },
        "auditEventHash": ctx.audit_event_hash,
        "verifyUrl": ctx.verify_url,
        "signatures": ctx.evidence,
    }
    return record
