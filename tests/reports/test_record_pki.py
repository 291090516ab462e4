"""The embedded local PKI: certificates fit for sealing, idempotent, safe under concurrency."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reports import pki as pki_module
from reports.pki import LocalPki, ensure_local_pki

BASE_URL = "https://samtycke.test"


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_root_is_an_ecdsa_p256_ca(pki: LocalPki) -> None:
    root = pki.root_cert
    assert _cn(root) == "Samtycke Local Root CA"
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_seal_certificate_usage_and_crl_distribution_point(pki: LocalPki) -> None:
    seal = pki.seal_cert
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    points = seal.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == f"{BASE_URL}/pki/crl.der"
    seal.verify_directly_issued_by(pki.root_cert)


def test_tsa_certificate_has_critical_timestamping_eku(pki: LocalPki) -> None:
    eku = pki.tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    pki.tsa_cert.verify_directly_issued_by(pki.root_cert)


def test_crl_is_empty_and_signed_by_the_root(pki: LocalPki) -> None:
    crl = x509.load_der_x509_crl(pki.crl_der())
    assert len(crl) == 0
    assert crl.is_signature_valid(pki.root_cert.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc is not None


def test_private_keys_are_owner_only(pki: LocalPki) -> None:
    for name in ("root.key.pem", "seal.key.pem", "tsa.key.pem"):
        mode = stat.S_IMODE((pki.directory / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


def test_second_call_loads_the_same_pki(pki: LocalPki) -> None:
    again = ensure_local_pki(pki.directory, BASE_URL)
    assert again.root_cert == pki.root_cert and again.seal_cert == pki.seal_cert and again.tsa_cert == pki.tsa_cert


def test_new_base_url_reissues_leaves_under_the_same_root(tmp_path: Path) -> None:
    first = ensure_local_pki(tmp_path, BASE_URL)
    moved = ensure_local_pki(tmp_path, "https://records.example.se")
    assert moved.root_cert == first.root_cert
    assert moved.seal_cert != first.seal_cert
    assert moved.seal_cert.public_key() == first.seal_cert.public_key()
    assert moved.crl_url == "https://records.example.se/pki/crl.der"


def test_crl_is_reissued_before_it_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    monkeypatch.setattr(pki_module, "CRL_LIFETIME", dt.timedelta(days=1))
    local = ensure_local_pki(tmp_path, BASE_URL)
    monkeypatch.undo()
    refreshed = x509.load_der_x509_crl(local.crl_der())
    assert refreshed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert refreshed.next_update_utc - refreshed.last_update_utc == pki_module.CRL_LIFETIME  # type: ignore[operator]
    assert (tmp_path / "crl.der").read_bytes() == local.crl_der()


def _create(directory: str, barrier: object, queue: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    local = ensure_local_pki(Path(directory), BASE_URL)
    queue.put(  # type: ignore[attr-defined]
        (local.root_cert.fingerprint(hashes.SHA256()), local.seal_cert.fingerprint(hashes.SHA256()))
    )


def test_concurrent_first_start_creates_one_pki(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = 4
    barrier = context.Barrier(workers)
    queue = context.Queue()
    processes = [context.Process(target=_create, args=(str(tmp_path), barrier, queue)) for _ in range(workers)]
    for process in processes:
        process.start()
    results = {queue.get(timeout=30) for _ in processes}
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert len(results) == 1, "every worker must end up with the same root and seal certificate"
    on_disk = ensure_local_pki(tmp_path, BASE_URL)
    assert {(on_disk.root_cert.fingerprint(hashes.SHA256()), on_disk.seal_cert.fingerprint(hashes.SHA256()))} == results
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"
