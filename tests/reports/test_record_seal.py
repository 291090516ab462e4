"""Sealing: PAdES signatures that pdfsig accepts, PDF/A kept, TSA failures surfaced."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from reports.errors import SealingFailed, TimestampUnavailable
from reports.pki import LocalPki
from reports.seal import Sealer, metadata_disagreement
from reports.verify import verify_record

HttpPki = Any  # conftest.HttpPki: a LocalPki served over HTTP (.pki, .tsa_url)

Tool = Callable[..., subprocess.CompletedProcess[str]]
SEAL_ARGS = {"reason": "Samtycke record", "location": "Sweden"}


def _signature_blocks(pdfsig_output: str) -> dict[int, str]:
    """pdfsig's text, one block per "Signature #N" (pdfsig exits 0 whatever it finds)."""
    parts = re.split(r"^Signature #(\d+):$", pdfsig_output, flags=re.MULTILINE)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _flip_signed_byte(sealed: bytes) -> bytes:
    # A character of the original /Producer string: inside the first signed range.
    index = sealed.index(b"WeasyPrint") + 2
    tampered = bytearray(sealed)
    tampered[index] ^= 0x01
    return bytes(tampered)


def test_pdfsig_reports_the_seal_valid(sealed_pdf: bytes, write_pdf: Callable[..., Path], tool: Tool) -> None:
    result = tool("pdfsig", str(write_pdf(sealed_pdf)))
    seal = _signature_blocks(result.stdout)[1]
    assert "Signature Field Name: SamtyckeSeal" in seal
    assert "Signer Certificate Common Name: Samtycke Record Seal" in seal
    assert "Signature Type: ETSI.CAdES.detached" in seal  # PAdES
    assert "Signature Validation: Signature is Valid." in seal


def test_pdfsig_trusts_the_local_ca_from_an_nss_database(
    sealed_pdf: bytes, write_pdf: Callable[..., Path], tool: Tool, nss_db: str
) -> None:
    result = tool("pdfsig", "-nssdir", nss_db, str(write_pdf(sealed_pdf)))
    seal = _signature_blocks(result.stdout)[1]
    assert "Signature Validation: Signature is Valid." in seal
    assert "Certificate Validation: Certificate is Trusted." in seal
    # The archival document timestamp is last and covers the whole file.
    blocks = _signature_blocks(result.stdout)
    assert "Total document signed" in blocks[max(blocks)]


def test_pdfsig_detects_a_flipped_byte(sealed_pdf: bytes, write_pdf: Callable[..., Path], tool: Tool) -> None:
    result = tool("pdfsig", str(write_pdf(_flip_signed_byte(sealed_pdf))))
    seal = _signature_blocks(result.stdout)[1]
    assert "Signature is Valid" not in seal
    assert "Digest Mismatch" in seal or "Signature is Invalid" in seal


def test_sealed_pdf_passes_qpdf_and_stays_pdfa_3b(
    sealed_pdf: bytes, record_pdf: bytes, write_pdf: Callable[..., Path], tool: Tool
) -> None:
    result = tool("qpdf", "--check", str(write_pdf(sealed_pdf)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sealed_pdf.startswith(record_pdf), "sealing must only append incremental updates"
    with pikepdf.open(BytesIO(sealed_pdf)) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3" and meta.get("pdfaid:conformance") == "B"
        assert str(pdf.Root.get("/Version", "/1.7")) == "/1.7", "PDF/A-3 is PDF 1.7"
        assert str(pdf.docinfo["/Producer"]) == meta.get("pdf:Producer")
        assert "/DSS" in pdf.Root, "revocation info (the local CRL) is embedded"
        assert len(pdf.Root.DSS.CRLs) >= 1
        assert b"/Interpolate true" not in sealed_pdf
    assert metadata_disagreement(sealed_pdf) is None


def test_local_sealer_gives_pades_b_lta(sealer: Sealer, sealed_pdf: bytes) -> None:
    assert sealer.level == "B-LTA"
    assert sealed_pdf.count(b"/ETSI.RFC3161") == 1  # one document timestamp
    assert sealed_pdf.count(b"%%EOF") == 3  # rendered, sealed, DSS + document timestamp


def test_sealing_garbage_raises_a_domain_error(sealer: Sealer) -> None:
    with pytest.raises(SealingFailed):
        sealer.seal(b"not a pdf at all", **SEAL_ARGS)


def _pkcs12(pki: LocalPki, tmp_path: Path, passphrase: bytes) -> Path:
    path = tmp_path / "seal.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"seal", pki.seal_key, pki.seal_cert, [pki.root_cert], BestAvailableEncryption(passphrase)
        )
    )
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_tsa_raises_timestamp_unavailable(pki: LocalPki, record_pdf: bytes, tmp_path: Path) -> None:
    sealer = Sealer.from_pkcs12(
        _pkcs12(pki, tmp_path, b"secret"), "secret", f"http://127.0.0.1:{_closed_port()}/tsa", tsa_timeout=2
    )
    with pytest.raises(TimestampUnavailable):
        sealer.seal(record_pdf, **SEAL_ARGS)


def test_production_mode_with_http_tsa_gives_pades_b_t(record_pdf: bytes, tmp_path: Path, http_pki: HttpPki) -> None:
    sealer = Sealer.from_pkcs12(_pkcs12(http_pki.pki, tmp_path, b"secret"), b"secret", http_pki.tsa_url)
    assert sealer.level == "B-T"
    sealed = sealer.seal(record_pdf, **SEAL_ARGS)
    result = verify_record(sealed, trust_roots=http_pki.pki.trust_roots)
    assert result.valid, result.problems
    assert result.timestamp is not None
    assert b"/DSS" not in sealed[len(record_pdf) :]
    assert metadata_disagreement(sealed) is None


def test_production_mode_fetching_revocation_gives_pades_b_lta(
    record_pdf: bytes, tmp_path: Path, http_pki: HttpPki
) -> None:
    sealer = Sealer.from_pkcs12(
        _pkcs12(http_pki.pki, tmp_path, b"secret"),
        b"secret",
        http_pki.tsa_url,
        trust_roots=http_pki.pki.trust_roots,
        fetch_revocation=True,
    )
    assert sealer.level == "B-LTA"
    sealed = sealer.seal(record_pdf, **SEAL_ARGS)
    assert verify_record(sealed, trust_roots=http_pki.pki.trust_roots).valid
    with pikepdf.open(BytesIO(sealed)) as pdf:
        crls = [bytes(c.read_bytes()) for c in pdf.Root.DSS.CRLs]
    assert http_pki.pki.crl_der() in crls, "the CRL fetched from the distribution point is embedded"


def test_wrong_pkcs12_passphrase_fails_at_start_up(pki: LocalPki, tmp_path: Path) -> None:
    from reports.errors import PkiError

    with pytest.raises(PkiError):
        Sealer.from_pkcs12(_pkcs12(pki, tmp_path, b"secret"), "wrong", "http://127.0.0.1:9/tsa")


def test_sealing_reuses_the_parsed_keys(sealer: Sealer, record_pdf: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # Parsing an RSA key costs tens of milliseconds: the Sealer keeps it parsed.
    from cryptography.hazmat.primitives import serialization

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a private key was parsed while sealing")

    monkeypatch.setattr(serialization, "load_der_private_key", refuse)
    monkeypatch.setattr(serialization, "load_pem_private_key", refuse)
    assert sealer.seal(record_pdf, **SEAL_ARGS).startswith(record_pdf)
