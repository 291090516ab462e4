"""verify_record: what a user uploading a record PDF is told."""

from __future__ import annotations

import tracemalloc
from io import BytesIO

import pikepdf
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from reports.context import EVIDENCE_NAME, RecordContext
from reports.pki import LocalPki
from reports.render import render_pdf
from reports.samples import sample_context
from reports.seal import Sealer
from reports.verify import MAX_REVISIONS, MAX_STREAM_BYTES, verify_record

SEAL_ARGS = {"reason": "Samtycke record", "location": "Sweden"}


def test_fresh_record_is_valid_and_names_its_consent(sealed_pdf: bytes, pki: LocalPki, ctx: RecordContext) -> None:
    result = verify_record(sealed_pdf, trust_roots=pki.trust_roots, expected_tenant_id=ctx.tenant.id)
    assert result.valid and result.intact, result.problems
    assert result.problems == []
    assert result.consent_id == ctx.consent_id and result.record_id == ctx.record_id
    assert result.tenant_id == ctx.tenant.id and result.kind == "consent_given" and result.addendum_id is None
    assert result.signed_by == "Samtycke Record Seal, Samtycke"
    assert result.timestamp is not None and result.timestamp.utcoffset() is not None
    assert result.signed_at is not None


def test_one_flipped_byte_is_not_intact(sealed_pdf: bytes, pki: LocalPki) -> None:
    tampered = bytearray(sealed_pdf)
    tampered[sealed_pdf.index(b"WeasyPrint") + 2] ^= 0x01
    result = verify_record(bytes(tampered), trust_roots=pki.trust_roots)
    assert not result.valid and not result.intact
    assert "digest_mismatch" in result.problems
    assert result.consent_id is None  # nothing read from a broken record is vouched for


def test_appended_bytes_are_not_valid(sealed_pdf: bytes, pki: LocalPki) -> None:
    result = verify_record(sealed_pdf + b"\n%% appended\n", trust_roots=pki.trust_roots)
    assert not result.valid
    assert "unsigned_update" in result.problems


def test_incremental_update_after_the_seal_is_not_valid(sealed_pdf: bytes, pki: LocalPki) -> None:
    writer = IncrementalPdfFileWriter(BytesIO(sealed_pdf))
    writer.root["/Lang"] = generic.TextStringObject("en")
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    result = verify_record(out.getvalue(), trust_roots=pki.trust_roots)
    assert not result.valid
    assert "unsigned_update" in result.problems


def test_record_sealed_by_another_pki_is_not_valid(record_pdf: bytes, other_pki: LocalPki, pki: LocalPki) -> None:
    foreign = Sealer.from_local_pki(other_pki).seal(record_pdf, **SEAL_ARGS)
    assert verify_record(foreign, trust_roots=other_pki.trust_roots).valid  # sound in itself
    result = verify_record(foreign, trust_roots=pki.trust_roots)
    assert not result.valid
    assert "untrusted_signer" in result.problems


def test_record_of_another_tenant_is_not_valid(sealed_pdf: bytes, pki: LocalPki) -> None:
    result = verify_record(sealed_pdf, trust_roots=pki.trust_roots, expected_tenant_id="another-tenant")
    assert not result.valid
    assert result.problems == ["other_tenant"]
    assert result.consent_id is None and result.record_id is None  # never confirm another tenant's ids


@pytest.mark.parametrize("data", [b"", b"hello world", b"%PDF-1.7\n garbage \n%%EOF", bytes(range(256)) * 40])
def test_garbage_is_answered_not_raised(data: bytes, pki: LocalPki) -> None:
    result = verify_record(data, trust_roots=pki.trust_roots)
    assert not result.valid and not result.intact
    assert result.problems and result.problems[0] in ("not_a_pdf", "no_signature", "validation_error")


def test_unsealed_pdf_has_no_signature(record_pdf: bytes, pki: LocalPki) -> None:
    result = verify_record(record_pdf, trust_roots=pki.trust_roots)
    assert not result.valid
    assert result.problems == ["no_signature"]


def test_addendum_record_reports_its_addendum_id(sealer: Sealer, pki: LocalPki) -> None:
    ctx = sample_context("addendum_signed", "nb")
    result = verify_record(sealer.seal(render_pdf(ctx), **SEAL_ARGS), trust_roots=pki.trust_roots)
    assert result.valid, result.problems
    assert result.addendum_id == ctx.addendum_id and result.consent_id is None and result.kind == "addendum_signed"


def test_a_foreign_seal_over_deeply_nested_evidence_is_answered_not_raised(
    record_pdf: bytes, other_pki: LocalPki, pki: LocalPki
) -> None:
    # Anyone can seal a PDF of their own: the seal is intact, so its evidence.json gets read.
    with pikepdf.open(BytesIO(record_pdf)) as doc:
        doc.attachments[EVIDENCE_NAME] = pikepdf.AttachedFileSpec(doc, b"[" * 100_000, mime_type="application/json")
        out = BytesIO()
        doc.save(out)
    forged = Sealer.from_local_pki(other_pki).seal(out.getvalue(), **SEAL_ARGS)
    result = verify_record(forged, trust_roots=pki.trust_roots)
    assert result.intact and not result.valid
    assert "untrusted_signer" in result.problems
    assert result.consent_id is None and result.tenant_id is None


def test_a_decompression_bomb_in_the_evidence_is_refused_without_inflating_it(
    evidence_bomb_pdf: bytes, pki: LocalPki
) -> None:
    assert len(evidence_bomb_pdf) < 1024 * 1024  # small on the wire, 128 MiB once inflated
    tracemalloc.start()
    try:
        result = verify_record(evidence_bomb_pdf, trust_roots=pki.trust_roots)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.problems == ["too_large"] and not result.valid
    assert result.consent_id is None and result.tenant_id is None
    # Decoding stops one byte past the per-stream cap (zlib's growing buffer may briefly hold it
    # twice), far short of the 128 MiB the stream would inflate to.
    assert peak < 3 * MAX_STREAM_BYTES, f"peak {peak / 2**20:.0f} MiB"


def test_more_revisions_than_a_record_has_are_refused(sealed_pdf: bytes, pki: LocalPki) -> None:
    data = sealed_pdf
    for n in range(MAX_REVISIONS):  # the record has 3; these make it 3 + MAX_REVISIONS
        writer = IncrementalPdfFileWriter(BytesIO(data))
        writer.root["/Lang"] = generic.TextStringObject(f"x-{n}")
        writer.update_root()
        out = BytesIO()
        writer.write(out)
        data = out.getvalue()
    result = verify_record(data, trust_roots=pki.trust_roots)
    assert result.problems == ["too_large"] and not result.valid


def test_a_record_with_its_maintenance_revisions_is_within_the_limits(sealed_pdf: bytes, pki: LocalPki) -> None:
    reader = PdfFileReader(BytesIO(sealed_pdf), strict=False)
    assert reader.xrefs.total_revisions <= MAX_REVISIONS // 4  # room for years of re-timestamping
    assert verify_record(sealed_pdf, trust_roots=pki.trust_roots).valid
