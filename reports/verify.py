"""Offline verification of a sealed record.

:func:`verify_record` never raises on bad input: whatever the bytes are, the
answer is a :class:`RecordVerification` whose ``problems`` say what is wrong.

A record is valid when the seal signature is intact and chains to one of the
given trust roots, carries a trusted signature timestamp, every later
revision is signature maintenance only (DSS, document timestamps), the last
signature or document timestamp covers the file to its last byte, and the
attached ``evidence.json`` (read from the revision the seal covers) names the
expected tenant.

The bytes are hostile until proven otherwise: every stream read from them is
decoded through pyHanko with :data:`DECODE_LIMITS` (a few KiB of Flate data can
inflate to gigabytes), and a file with more revisions than a record ever has is
not analysed at all. Either refusal is the problem :data:`TOO_LARGE`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError
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
TOO_LARGE = "too_large"  # decodes to more, or has more revisions, than a record ever has

MiB = 1024 * 1024
# A record decodes to about 0.5 MiB (fonts, the QR code, the text) in 3 revisions (content, seal,
# DSS + document timestamp). The bounds leave room for long texts and years of signature
# maintenance; a decompression bomb stops after a few MiB instead of taking the worker's memory.
MAX_STREAM_BYTES = 8 * MiB
MAX_DECODED_BYTES = 32 * MiB  # per revision read; pyHanko gives each historical revision its own budget
MAX_REVISIONS = 12
DECODE_LIMITS = DecodeLimits(
    per_stream=StreamDecodeLimits(max_output_size=MAX_STREAM_BYTES),
    document_budget=DocumentDecodeBudget(base_allowance=MAX_DECODED_BYTES, max_ratio=1),
)
# evidence.json is a few KiB; anything far bigger is not ours and is not parsed.
MAX_EVIDENCE_BYTES = 1 * MiB
_MAX_NAME_TREE_NODES = 64


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
    except PdfDecodeLimitError:
        log.info("record verification refused: a stream decodes beyond the limits")
        return RecordVerification(valid=False, intact=False, problems=[TOO_LARGE])
    except Exception:  # a verifier answers; it does not crash on hostile input
        log.info("record verification failed", exc_info=True)
        return RecordVerification(valid=False, intact=False, problems=[VALIDATION_ERROR])


async def _verify(
    pdf: bytes, trust_roots: list[x509.Certificate], expected_tenant_id: str | None
) -> RecordVerification:
    try:
        reader = _reader(pdf)
        if reader.xrefs.total_revisions > MAX_REVISIONS:
            return RecordVerification(valid=False, intact=False, problems=[TOO_LARGE])
        signatures: list[EmbeddedPdfSignature] = reader.embedded_signatures
    except PdfDecodeLimitError:
        raise
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
        reader = _reader(pdf_bytes)
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


def _reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(BytesIO(pdf), strict=False, decode_limits=DECODE_LIMITS)


def _signed_evidence(pdf: bytes, seal: EmbeddedPdfSignature) -> dict[str, Any] | None:
    """``evidence.json`` as it was in the revision the seal signed.

    Anyone can seal a PDF of their own (intact, untrusted): its evidence is untrusted input.
    A stream that decodes beyond the limits raises :class:`PdfDecodeLimitError`.
    """
    byte_range = [int(x) for x in seal.byte_range]
    signed_revision = pdf[: byte_range[2] + byte_range[3]]
    try:
        names = _reader(signed_revision).root["/Names"]["/EmbeddedFiles"]
        spec = _name_tree_lookup(names, EVIDENCE_NAME)
        if not isinstance(spec, generic.DictionaryObject):
            return None
        stream = spec["/EF"]["/F"]
        if not isinstance(stream, generic.StreamObject):
            return None
        raw = stream.data
        if len(raw) > MAX_EVIDENCE_BYTES:
            return None
        data = loads(raw)
    except PdfDecodeLimitError:
        raise
    except (PdfError, ValueError, KeyError, TypeError, NotImplementedError):
        return None
    return data if isinstance(data, dict) else None


def _name_tree_lookup(root: generic.PdfObject, key: str) -> generic.PdfObject | None:
    """The value of ``key`` in a PDF name tree, visiting a bounded number of nodes (no cycles)."""
    pending = [root]
    for _ in range(_MAX_NAME_TREE_NODES):
        if not pending:
            return None
        node = pending.pop()
        if not isinstance(node, generic.DictionaryObject):
            continue
        pairs = node.get("/Names")
        if isinstance(pairs, generic.ArrayObject):
            for i in range(0, len(pairs) - 1, 2):
                name = pairs[i]
                if isinstance(name, generic.TextStringObject | generic.ByteStringObject) and str(name) == key:
                    return pairs[i + 1]
        kids = node.get("/Kids")
        if isinstance(kids, generic.ArrayObject):
            pending.extend(kids)
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
