"""Offline verification of a sealed record.

:func:`verify_record` never raises on bad input: whatever the bytes are, the
answer is a :class:`RecordVerification` whose ``problems`` say what is wrong.

A record is valid when the seal signature is intact and chains to one of the
given trust roots, carries a trusted signature timestamp, every later
revision is signature maintenance only (DSS, document timestamps), the last
signature or document timestamp covers the file to its last byte, and the
attached ``evidence.json`` (read from the revision the seal covers) names the
expected tenant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any

import pikepdf
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel, TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from app.json_input import loads
from reports._sync import run_sync
from reports.context import EVIDENCE_NAME

log = logging.getLogger(__name__)

# Problem codes (stable: the API and the CLI print them).
NOT_A_PDF = "not_a_pdf"
NO_SIGNATURE = "no_signature"
EXTRA_SIGNATURE = "extra_signature"
DIGEST_MISMATCH = "digest_mismatch"
SIGNATURE_INVALID = "signature_invalid"
UNTRUSTED_SIGNER = "untrusted_signer"
SIGNER_REVOKED = "signer_revoked"
NO_TIMESTAMP = "no_timestamp"
TIMESTAMP_INVALID = "timestamp_invalid"
DOCUMENT_TIMESTAMP_INVALID = "document_timestamp_invalid"
MODIFIED_AFTER_SEAL = "modified_after_seal"
UNSIGNED_UPDATE = "unsigned_update"
EVIDENCE_MISSING = "evidence_missing"
OTHER_TENANT = "other_tenant"
VALIDATION_ERROR = "validation_error"


@dataclass(frozen=True)
class RecordVerification:
    valid: bool
    intact: bool
    signed_by: str | None = None  # "CN, O" of the seal certificate
    signed_at: datetime | None = None  # signing time claimed by the signer
    timestamp: datetime | None = None  # from the signature timestamp token (TSA)
    consent_id: str | None = None
    addendum_id: str | None = None
    record_id: str | None = None
    tenant_id: str | None = None
    kind: str | None = None
    problems: list[str] = field(default_factory=list)


def verify_record(
    pdf_bytes: bytes,
    *,
    trust_roots: list[x509.Certificate],
    expected_tenant_id: str | None = None,
) -> RecordVerification:
    """Verify a sealed record against ``trust_roots`` (e.g. ``LocalPki.trust_roots``)."""
    if not isinstance(pdf_bytes, bytes | bytearray) or b"%PDF-" not in bytes(pdf_bytes[:1024]):
        return RecordVerification(valid=False, intact=False, problems=[NOT_A_PDF])
    try:
        return run_sync(_verify(bytes(pdf_bytes), trust_roots, expected_tenant_id))
    except Exception:  # a verifier answers; it does not crash on hostile input
        log.info("record verification failed", exc_info=True)
        return RecordVerification(valid=False, intact=False, problems=[VALIDATION_ERROR])


async def _verify(
    pdf: bytes, trust_roots: list[x509.Certificate], expected_tenant_id: str | None
) -> RecordVerification:
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        signatures: list[EmbeddedPdfSignature] = reader.embedded_signatures
    except Exception:  # any parse failure means "not a (readable) PDF"
        return RecordVerification(valid=False, intact=False, problems=[NOT_A_PDF])
    regular = [s for s in signatures if s.sig_object_type == "/Sig"]
    if not regular:
        return RecordVerification(valid=False, intact=False, problems=[NO_SIGNATURE])

    problems: list[str] = []
    if len(regular) > 1:
        problems.append(EXTRA_SIGNATURE)  # a record carries exactly one seal
    seal = regular[0]
    roots = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in trust_roots]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)

    status = await async_validate_pdf_signature(seal, signer_validation_context=context, ts_validation_context=context)
    intact = bool(status.intact)
    if not status.intact:
        problems.append(DIGEST_MISMATCH)
    elif not status.valid:
        problems.append(SIGNATURE_INVALID)
    if status.revoked:
        problems.append(SIGNER_REVOKED)
    elif status.intact and status.valid and not status.trusted:
        problems.append(UNTRUSTED_SIGNER)

    tst = status.timestamp_validity
    if tst is None:
        problems.append(NO_TIMESTAMP)
    elif not _timestamp_ok(tst):
        problems.append(TIMESTAMP_INVALID)

    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        level = status.modification_level
        if level is None or level > ModificationLevel.LTA_UPDATES:
            problems.append(MODIFIED_AFTER_SEAL)

    for doc_ts in (s for s in signatures if s.sig_object_type == "/DocTimeStamp"):
        ts_status = await async_validate_pdf_timestamp(doc_ts, validation_context=context)
        if not _timestamp_ok(ts_status):
            problems.append(DOCUMENT_TIMESTAMP_INVALID)
        if ts_status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
            level = ts_status.modification_level
            if level is None or level > ModificationLevel.LTA_UPDATES:
                problems.append(MODIFIED_AFTER_SEAL)

    # Whatever follows the last signed byte range is covered by nothing.
    last = signatures[-1]
    last.compute_integrity_info()
    if last.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        problems.append(UNSIGNED_UPDATE)

    evidence = _signed_evidence(pdf, seal) if intact else None
    if intact and evidence is None:
        problems.append(EVIDENCE_MISSING)
    evidence = evidence or {}
    tenant_id = _str_or_none(evidence.get("tenantId"))
    ids = {
        "consent_id": _str_or_none(evidence.get("consentId")),
        "addendum_id": _str_or_none(evidence.get("addendumId")),
        "record_id": _str_or_none(evidence.get("recordId")),
        "tenant_id": tenant_id,
        "kind": _str_or_none(evidence.get("kind")),
    }
    if expected_tenant_id is not None and tenant_id != expected_tenant_id:
        problems.append(OTHER_TENANT)
        # Never confirm which record of another tenant this is.
        ids = dict.fromkeys(ids)

    problems = list(dict.fromkeys(problems))
    return RecordVerification(
        valid=not problems,
        intact=intact,
        signed_by=_subject_summary(status.signing_cert),
        signed_at=status.signer_reported_dt,
        timestamp=tst.timestamp if tst is not None else None,
        problems=problems,
        **ids,
    )


def sealed_audit_event_hash(pdf_bytes: bytes) -> str | None:
    """``auditEventHash`` from the evidence the seal covers; None when there is none to read.
    Only meaningful for a record :func:`verify_record` found valid."""
    try:
        reader = PdfFileReader(BytesIO(pdf_bytes), strict=False)
        seals = [s for s in reader.embedded_signatures if s.sig_object_type == "/Sig"]
        evidence = _signed_evidence(pdf_bytes, seals[0]) if seals else None
    except Exception:  # hostile bytes: no answer rather than a crash
        log.info("reading a record's evidence failed", exc_info=True)
        return None
    return _str_or_none((evidence or {}).get("auditEventHash"))


def verify_detached(
    data: bytes, signature: bytes, *, trust_roots: list[x509.Certificate], signer: x509.Certificate
) -> datetime | None:
    """The trusted RFC 3161 time of a detached CMS signature over ``data``, or None unless the
    signature is intact, valid, chains to ``trust_roots``, carries a trusted signature timestamp
    and was made by a certificate with ``signer``'s subject (so another certificate of the same
    CA does not do). Never raises."""
    try:
        return run_sync(_verify_detached(data, signature, trust_roots, signer))
    except Exception:  # a verifier answers; it does not crash on hostile input
        log.info("detached signature verification failed", exc_info=True)
        return None


async def _verify_detached(
    data: bytes, signature: bytes, trust_roots: list[x509.Certificate], signer: x509.Certificate
) -> datetime | None:
    info = cms.ContentInfo.load(signature)
    if info["content_type"].native != "signed_data":
        return None
    roots = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in trust_roots]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    status = await async_validate_detached_cms(data, info["content"], signer_validation_context=context)
    if not (status.intact and status.valid and status.trusted) or status.signing_cert is None:
        return None
    if status.signing_cert.subject.dump() != signer.subject.public_bytes():
        return None
    tst = status.timestamp_validity
    if tst is None or not _timestamp_ok(tst):
        return None
    timestamp: datetime = tst.timestamp
    return timestamp


def _timestamp_ok(status: TimestampSignatureStatus) -> bool:
    return bool(status.intact and status.valid and status.trusted)


def _subject_summary(cert: asn1_x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    subject = cert.subject.native
    parts = [subject.get("common_name"), subject.get("organization_name")]
    return ", ".join(str(p) for p in parts if p) or cert.subject.human_friendly


def _signed_evidence(pdf: bytes, seal: EmbeddedPdfSignature) -> dict[str, Any] | None:
    """``evidence.json`` as it was in the revision the seal signed."""
    byte_range = [int(x) for x in seal.byte_range]
    signed_revision = pdf[: byte_range[2] + byte_range[3]]
    try:
        with pikepdf.open(BytesIO(signed_revision)) as doc:
            attachment = doc.attachments.get(EVIDENCE_NAME)
            if attachment is None:
                return None
            # Anyone can seal a PDF of their own (intact, untrusted): its evidence is untrusted input.
            data = loads(attachment.get_file().read_bytes())
    except (pikepdf.PdfError, ValueError, KeyError):
        return None
    return data if isinstance(data, dict) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
