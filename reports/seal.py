"""PAdES seal of a rendered record, with an RFC 3161 timestamp.

Build one :class:`Sealer` per process (parsing keys is the expensive part)
and call :meth:`Sealer.seal` for every record:

* local PKI (embedded default): signature timestamp from the in-process local
  TSA, revocation info (the local CRL) in the DSS, then a document timestamp:
  **PAdES B-LTA**;
* production: PKCS#12 seal + an HTTP RFC 3161 TSA: **PAdES B-T**, or
  **B-LTA** when trust roots are given and fetching revocation info is allowed.

Sealing appends incremental updates, so the PDF/A-3b file stays PDF/A-3b.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Literal

import pikepdf
from asn1crypto import cms, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError, as_signing_certificate, simple_cms_attribute
from pyhanko.sign.signers import constants
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, TimestampDSSContentSettings
from pyhanko.sign.timestamps import DummyTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from reports._sync import run_sync
from reports.errors import PkiError, SealingFailed, TimestampUnavailable
from reports.pki import LocalPki

log = logging.getLogger(__name__)

SEAL_FIELD = "SamtyckeSeal"
MD_ALGORITHM = "sha256"
PadesLevel = Literal["B-T", "B-LTA"]


class _NoFetchWarningFilter(logging.Filter):
    # With the local PKI every piece of revocation info is supplied, so
    # pyHanko's "fetching is not allowed" warning would only be log noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_NoFetchWarningFilter())


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> keys.PrivateKeyInfo:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return keys.PrivateKeyInfo.load(der)


class _ParsedKeySigner(signers.SimpleSigner):
    """SimpleSigner that keeps the parsed private key.

    pyHanko's SimpleSigner re-parses the DER key on every signature (twice per
    seal, counting the size-estimating dry run); for RSA keys that costs tens
    of milliseconds each time.
    """

    def __init__(
        self,
        cert: x509.Certificate,
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        chain: list[x509.Certificate],
    ) -> None:
        super().__init__(
            signing_cert=_asn1_cert(cert),
            signing_key=_asn1_key(key),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in chain]),
        )
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(digest))
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), digest)
        return super().sign_raw(data, digest_algorithm)


class LocalTimeStamper(DummyTimeStamper):
    """pyHanko's in-process TSA, for the LOCAL authority only, with a pre-parsed RSA key."""

    def __init__(self, pki: LocalPki) -> None:
        super().__init__(
            tsa_cert=_asn1_cert(pki.tsa_cert),
            tsa_key=_asn1_key(pki.tsa_key),
            certs_to_embed=SimpleCertificateStore.from_certs([_asn1_cert(pki.root_cert)]),
        )
        self._rsa_key = pki.tsa_key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: datetime) -> tuple[bytes, cms.CMSAttributes]:
        # Same attributes as DummyTimeStamper._sign_tst_info, minus the key parsing.
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": dt})),
                simple_cms_attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        signature = self._rsa_key.sign(
            signed_attrs.dump(), padding.PKCS1v15(), get_pyca_cryptography_hash(md_algorithm)
        )
        return signature, signed_attrs


class _PdfA3Signer(signers.PdfSigner):
    """PdfSigner that keeps the file at PDF 1.7, as PDF/A-3 requires.

    For ECDSA keys pyHanko declares ISO/TS 32002 and raises the catalog's
    /Version to 2.0; PAdES (the ESIC extension) is defined for PDF 1.7 and
    covers ECDSA, so only that extension is registered.
    """

    def register_extensions(self, pdf_out: IncrementalPdfFileWriter, *, md_algorithm: str) -> None:  # type: ignore[override]
        pdf_out.ensure_output_version(version=(1, 7))
        pdf_out.register_extension(constants.ESIC_EXTENSION_1)


class Sealer:
    """Seals records. Thread-safe; build it once per process."""

    def __init__(
        self,
        signer: signers.Signer,
        timestamper: TimeStamper,
        *,
        validation_context: Callable[[], ValidationContext] | None = None,
    ) -> None:
        self._signer = signer
        self._timestamper = timestamper
        # A fresh context per seal: contexts accumulate revocation state.
        self._validation_context = validation_context

    @property
    def level(self) -> PadesLevel:
        return "B-LTA" if self._validation_context is not None else "B-T"

    def sign_detached(self, data: bytes) -> bytes:
        """A detached CMS SignedData (DER) over ``data`` by the seal key, with an RFC 3161
        signature timestamp from the same TSA as the records (audit checkpoints use it)."""
        try:
            signed = run_sync(
                self._signer.async_sign_general_data(
                    data, MD_ALGORITHM, detached=True, timestamper=self._timestamper
                )
            )
        except TimestampRequestError as exc:
            raise TimestampUnavailable(f"timestamp authority failed: {exc}") from exc
        except (SigningError, ValueError) as exc:
            raise SealingFailed(f"{type(exc).__name__}: {exc}") from exc
        return bytes(signed.dump())

    @classmethod
    def from_local_pki(cls, pki: LocalPki) -> Sealer:
        roots = [_asn1_cert(pki.root_cert)]

        def context() -> ValidationContext:
            return ValidationContext(trust_roots=roots, crls=[pki.crl_der()], allow_fetching=False)

        signer = _ParsedKeySigner(pki.seal_cert, pki.seal_key, [pki.root_cert])
        return cls(signer, LocalTimeStamper(pki), validation_context=context)

    @classmethod
    def from_pkcs12(
        cls,
        path: Path,
        passphrase: str | bytes | None,
        tsa_url: str,
        *,
        tsa_timeout: float = 10.0,
        trust_roots: list[x509.Certificate] | None = None,
        fetch_revocation: bool = False,
    ) -> Sealer:
        """Production seal. Fails at start-up (PkiError) when the file or passphrase is wrong."""
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        try:
            key, cert, chain = pkcs12.load_key_and_certificates(Path(path).read_bytes(), passphrase)
        except (OSError, ValueError) as exc:
            raise PkiError(f"cannot load the seal PKCS#12 file {path}: {exc}") from exc
        if cert is None or not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise PkiError(f"{path} must hold an RSA or ECDSA key and its certificate")
        signer = _ParsedKeySigner(cert, key, list(chain))
        timestamper = RequestsHTTPTimeStamper(tsa_url, timeout=tsa_timeout)
        context: Callable[[], ValidationContext] | None = None
        if fetch_revocation and trust_roots:
            roots = [_asn1_cert(c) for c in trust_roots]

            def context() -> ValidationContext:
                return ValidationContext(trust_roots=roots, allow_fetching=True)

        return cls(signer, timestamper, validation_context=context)

    def seal(self, pdf_bytes: bytes, *, reason: str, location: str) -> bytes:
        """Return ``pdf_bytes`` with the seal (and timestamps) appended."""
        # pyHanko stamps Info /ModDate and XMP ModifyDate from two clock
        # readings; on the rare second boundary between them, seal again.
        for _attempt in range(3):
            sealed = self._seal_once(pdf_bytes, reason=reason, location=location)
            problem = metadata_disagreement(sealed)
            if problem is None:
                return sealed
            log.info("re-sealing: %s", problem)
        raise SealingFailed(f"Info and XMP metadata disagree after sealing: {problem}")

    def _seal_once(self, pdf_bytes: bytes, *, reason: str, location: str) -> bytes:
        context = self._validation_context() if self._validation_context else None
        meta = signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD,
            subfilter=SigSeedSubFilter.PADES,
            md_algorithm=MD_ALGORITHM,
            reason=reason,
            location=location,
            embed_validation_info=context is not None,
            use_pades_lta=context is not None,
            validation_context=context,
            # The DSS goes into the same revision as the document timestamp,
            # which then covers the whole file: anything appended later is
            # outside every signature and verify.py can reject it outright.
            # (VRI entries are deprecated and would force extra revisions.)
            dss_settings=DSSContentSettings(
                include_vri=False,
                next_ts_settings=TimestampDSSContentSettings(include_vri=False, update_before_ts=True),
            ),
        )
        pdf_signer = _PdfA3Signer(meta, signer=self._signer, timestamper=self._timestamper)
        output = BytesIO()
        try:
            writer = IncrementalPdfFileWriter(BytesIO(pdf_bytes))
            _align_producer(writer)
            run_sync(pdf_signer.async_sign_pdf(writer, output=output))
        except TimestampRequestError as exc:
            raise TimestampUnavailable(f"timestamp authority failed: {exc}") from exc
        except (SigningError, PdfError, PathBuildingError, PathValidationError, ValueError) as exc:
            raise SealingFailed(f"{type(exc).__name__}: {exc}") from exc
        return output.getvalue()


def _align_producer(writer: IncrementalPdfFileWriter) -> None:
    # pyHanko sets XMP pdf:Producer to its own name but *appends* it to the
    # Info /Producer ("WeasyPrint 70.0; pyHanko …"). Starting the Info entry
    # from pyHanko's name makes both say the same; WeasyPrint stays credited
    # in /Creator and xmp:CreatorTool.
    try:
        info = writer.trailer["/Info"]
    except KeyError:
        return
    info["/Producer"] = generic.TextStringObject(VENDOR)
    writer.update_container(info)


def metadata_disagreement(pdf_bytes: bytes) -> str | None:
    """Why Info and XMP disagree on Producer/dates, or None when they agree."""
    with pikepdf.open(BytesIO(pdf_bytes)) as pdf:
        info = pdf.docinfo
        xmp = pdf.open_metadata()
        pairs = [("/Producer", "pdf:Producer"), ("/ModDate", "xmp:ModifyDate"), ("/CreationDate", "xmp:CreateDate")]
        for info_key, xmp_key in pairs:
            if info_key not in info:
                continue
            info_value, xmp_value = str(info[info_key]), xmp.get(xmp_key)
            if info_key == "/Producer":
                same = info_value == xmp_value
            else:
                same = xmp_value is not None and _pdf_date(info_value) == datetime.fromisoformat(str(xmp_value))
            if not same:
                return f"{info_key}={info_value!r} but {xmp_key}={xmp_value!r}"
    return None


def _pdf_date(value: str) -> datetime:
    return generic.parse_pdf_date(value)
