"""The embedded local PKI: a root CA, a seal certificate, a TSA and a CRL.

Used when no production PKCS#12 and TSA are configured. Created once under a
directory (``instance/pki/``); every process of the service loads the same
files. Creation is serialised with an ``fcntl`` lock and every file is written
atomically, so two workers starting at once end up with one consistent set.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reports.errors import PkiError

ROOT_NAME = "Samtycke Local Root CA"
SEAL_NAME = "Samtycke Record Seal"
TSA_NAME = "Samtycke Local Timestamp Authority"
ORGANISATION = "Samtycke"

ROOT_LIFETIME = dt.timedelta(days=20 * 365)
LEAF_LIFETIME = dt.timedelta(days=10 * 365)
CRL_LIFETIME = dt.timedelta(days=30)
# Re-issue the CRL this long before it expires, so a served CRL is never stale.
CRL_REFRESH_MARGIN = dt.timedelta(days=7)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass
class LocalPki:
    """Paths and loaded objects of the local PKI."""

    directory: Path
    base_url: str
    root_cert: x509.Certificate
    seal_cert: x509.Certificate
    seal_key: ec.EllipticCurvePrivateKey
    tsa_cert: x509.Certificate
    tsa_key: rsa.RSAPrivateKey
    crl: x509.CertificateRevocationList
    _root_key: ec.EllipticCurvePrivateKey = field(repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    @property
    def root_cert_path(self) -> Path:
        return self.directory / "root.cert.pem"

    @property
    def seal_cert_path(self) -> Path:
        return self.directory / "seal.cert.pem"

    @property
    def seal_key_path(self) -> Path:
        return self.directory / "seal.key.pem"

    @property
    def tsa_cert_path(self) -> Path:
        return self.directory / "tsa.cert.pem"

    @property
    def tsa_key_path(self) -> Path:
        return self.directory / "tsa.key.pem"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.der"

    @property
    def crl_url(self) -> str:
        return crl_url(self.base_url)

    @property
    def trust_roots(self) -> list[x509.Certificate]:
        return [self.root_cert]

    def crl_der(self) -> bytes:
        """The current CRL (DER), re-issued first if it is close to expiry."""
        with self._lock:
            if _crl_needs_refresh(self.crl):
                with _file_lock(self.directory):
                    self.crl = _load_or_issue_crl(self.directory, self.root_cert, self._root_key)
            return self.crl.public_bytes(serialization.Encoding.DER)


def crl_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/pki/crl.der"


def ensure_local_pki(directory: Path, base_url: str) -> LocalPki:
    """Load the local PKI from ``directory``, creating what is missing.

    Idempotent. Leaf certificates are re-issued (same keys) when their CRL
    distribution point no longer matches ``base_url``; records sealed before
    stay valid because the root does not change.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with _file_lock(directory):
            return _ensure_locked(directory, base_url)
    except (OSError, ValueError) as exc:
        raise PkiError(f"local PKI in {directory} is unusable: {exc}") from exc


def _ensure_locked(directory: Path, base_url: str) -> LocalPki:
    root_key = _load_or_create_key(directory / "root.key.pem", _new_ec_key)
    root_path = directory / "root.cert.pem"
    root_cert = _load_cert(root_path)
    if root_cert is None or root_cert.public_key() != root_key.public_key():
        root_cert = _issue_root(root_key)
        _write_atomic(root_path, root_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        # A new root invalidates every leaf and the CRL signed by the old one.
        for name in ("seal.cert.pem", "tsa.cert.pem", "crl.der"):
            (directory / name).unlink(missing_ok=True)

    seal_key = _load_or_create_key(directory / "seal.key.pem", _new_ec_key)
    tsa_key = _load_or_create_key(directory / "tsa.key.pem", _new_rsa_key)
    assert isinstance(seal_key, ec.EllipticCurvePrivateKey)
    # pyHanko's DummyTimeStamper, our local TSA, only signs with RSA keys.
    assert isinstance(tsa_key, rsa.RSAPrivateKey)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)

    seal_cert = _ensure_leaf(directory / "seal.cert.pem", seal_key, root_cert, root_key, base_url, tsa=False)
    tsa_cert = _ensure_leaf(directory / "tsa.cert.pem", tsa_key, root_cert, root_key, base_url, tsa=True)
    crl = _load_or_issue_crl(directory, root_cert, root_key)
    return LocalPki(
        directory=directory,
        base_url=base_url,
        root_cert=root_cert,
        seal_cert=seal_cert,
        seal_key=seal_key,
        tsa_cert=tsa_cert,
        tsa_key=tsa_key,
        crl=crl,
        _root_key=root_key,
    )


@contextlib.contextmanager
def _file_lock(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    # Readers never see a half-written file: write a sibling, fsync, rename.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed the mode given to open()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_ec_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _new_rsa_key() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _load_or_create_key(path: Path, factory: Callable[[], PrivateKey]) -> PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{path.name}: unexpected key type")
        return key
    key = factory()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(path, pem, 0o600)
    return key


def _load_cert(path: Path) -> x509.Certificate | None:
    if not path.exists():
        return None
    return x509.load_pem_x509_certificate(path.read_bytes())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _issue_root(key: PrivateKey) -> x509.Certificate:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(ROOT_NAME))
        .issuer_name(_name(ROOT_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_crl_url(cert: x509.Certificate) -> str | None:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return None
    for point in points:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier):
                return name.value
    return None


def _ensure_leaf(
    path: Path,
    key: PrivateKey,
    root_cert: x509.Certificate,
    root_key: PrivateKey,
    base_url: str,
    *,
    tsa: bool,
) -> x509.Certificate:
    cert = _load_cert(path)
    fresh = (
        cert is not None
        and cert.public_key() == key.public_key()
        and cert.issuer == root_cert.subject
        and _leaf_crl_url(cert) == crl_url(base_url)
        and cert.not_valid_after_utc - _now() > dt.timedelta(days=30)
    )
    if fresh:
        assert cert is not None
        return cert
    cert = _issue_leaf(key, root_cert, root_key, base_url, tsa=tsa)
    _write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert


def _issue_leaf(
    key: PrivateKey,
    root_cert: x509.Certificate,
    root_key: PrivateKey,
    base_url: str,
    *,
    tsa: bool,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(TSA_NAME if tsa else SEAL_NAME))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + LEAF_LIFETIME, root_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url(base_url))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    )
    if tsa:
        # RFC 3161 §2.3: the TSA certificate has exactly this EKU, marked critical.
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    # No EKU on the seal certificate: NSS (pdfsig) would then demand emailProtection.
    return builder.sign(root_key, hashes.SHA256())


def _crl_needs_refresh(crl: x509.CertificateRevocationList) -> bool:
    next_update = crl.next_update_utc
    return next_update is None or next_update - _now() < CRL_REFRESH_MARGIN


def _load_or_issue_crl(
    directory: Path, root_cert: x509.Certificate, root_key: PrivateKey
) -> x509.CertificateRevocationList:
    path = directory / "crl.der"
    number = 1
    if path.exists():
        crl = x509.load_der_x509_crl(path.read_bytes())
        if crl.issuer == root_cert.subject and crl.is_signature_valid(root_key.public_key()):
            if not _crl_needs_refresh(crl):
                return crl
            with contextlib.suppress(x509.ExtensionNotFound):
                number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    now = _now()
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root_cert.subject)
        .last_update(now)
        .next_update(now + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    _write_atomic(path, crl.public_bytes(serialization.Encoding.DER), 0o644)
    return crl


def throwaway_seal_pkcs12(password: str) -> bytes:
    """A self-signed seal certificate and key as PKCS#12, for a production configuration that must
    start but never seals (tests of the start-up checks, benchmarks). No one trusts it."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = _new_ec_key()
    cert = _issue_root(key)
    return pkcs12.serialize_key_and_certificates(
        b"seal", key, cert, None, serialization.BestAvailableEncryption(password.encode())
    )
