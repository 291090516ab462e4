"""What a completed order carries as proof: BankID's XML signature and an OCSP response.

The simulator has one RSA key and a self-signed certificate, created on first
use under ``{instance}/bankid-sim/`` (never at import). Key and certificate
live in one PEM file published with ``os.link``, which fails when the file
exists, so concurrent workers all end up using whichever landed first.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import SignatureConstructionMethod, XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

BANKID_TYPES_NS = "http://www.bankid.com/signature/v1.0.0/types"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
KEY_FILE = "simulator.pem"
RP_NAME = "Samtycke"


@dataclass(frozen=True)
class SimulatorKeys:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


_cache: dict[Path, SimulatorKeys] = {}
_lock = threading.Lock()


def load_keys(directory: Path) -> SimulatorKeys:
    """The simulator's key and certificate, created once per instance folder."""
    directory = directory.resolve()
    with _lock:
        keys = _cache.get(directory)
        if keys is None:
            keys = _load_or_create(directory)
            _cache[directory] = keys
        return keys


def _load_or_create(directory: Path) -> SimulatorKeys:
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_bytes(_new_pem())
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker won the race; use its key
        finally:
            tmp.unlink(missing_ok=True)
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key")
    return SimulatorKeys(key=key, cert=x509.load_pem_x509_certificate(data))


def _new_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Samtycke BankID simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Samtycke BankID simulator (not a real BankID)"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
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
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Signer:
    personal_number: str
    given_name: str
    surname: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.surname}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def signed_data(
    *,
    visible: str | None,
    non_visible: str | None,
    signer: Signer,
    order_ref: str,
    kind: str,
    uhi: str,
    nonce: str,
) -> etree._Element:
    """``bankIdSignedData`` as BankID builds it; the signer is in ``userInfo``, having no own certificate."""
    root = etree.Element(f"{{{BANKID_TYPES_NS}}}bankIdSignedData", nsmap={None: BANKID_TYPES_NS})
    root.set("Id", "bidSignedData")
    t = f"{{{BANKID_TYPES_NS}}}"
    if visible is not None:
        usr = etree.SubElement(root, t + "usrVisibleData", charset="UTF-8", visible="wysiwys")
        usr.text = visible
    if non_visible is not None:
        etree.SubElement(root, t + "usrNonVisibleData").text = non_visible
    srv = etree.SubElement(root, t + "srvInfo")
    etree.SubElement(srv, t + "name").text = _b64(f"cn={RP_NAME}")
    etree.SubElement(srv, t + "nonce").text = nonce
    etree.SubElement(srv, t + "displayName").text = _b64(RP_NAME)
    client = etree.SubElement(root, t + "clientInfo")
    etree.SubElement(client, t + "funcId").text = "Identification" if kind.endswith("auth") else "Signing"
    etree.SubElement(client, t + "version").text = _b64("Samtycke BankID simulator")
    env = etree.SubElement(client, t + "env")
    ai = etree.SubElement(env, t + "ai")
    etree.SubElement(ai, t + "type").text = _b64("SIMULATOR")
    etree.SubElement(ai, t + "uhi").text = uhi
    user = etree.SubElement(root, t + "userInfo")
    etree.SubElement(user, t + "personalNumber").text = signer.personal_number
    etree.SubElement(user, t + "name").text = signer.name
    etree.SubElement(user, t + "givenName").text = signer.given_name
    etree.SubElement(user, t + "surname").text = signer.surname
    etree.SubElement(user, t + "orderRef").text = order_ref
    return root


def sign_xml(keys: SimulatorKeys, data: etree._Element) -> bytes:
    """An XML-DSig ``Signature`` over ``#bidSignedData``, with the data inside its ``Object``."""
    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        # Exclusive c14n: the digest of bankIdSignedData does not change when it moves into <Object>.
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signer.namespaces = {None: DS_NS}  # type: ignore[dict-item]
    signature = signer.sign(data, key=keys.key, cert=[keys.cert], reference_uri="#bidSignedData")
    obj = etree.SubElement(signature, f"{{{DS_NS}}}Object")
    obj.append(data)
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8", standalone=False)


def ocsp_response(keys: SimulatorKeys, signature_b64: str, now: datetime) -> bytes:
    """A signed, successful DER OCSP response saying the simulator's certificate is good.

    Like BankID's, its nonce is the SHA-1 of the base64 signature, binding the two.
    """
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=keys.cert,
            issuer=keys.cert,
            algorithm=hashes.SHA1(),  # noqa: S303 - CertID hash per RFC 6960 practice, not a security use
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now.replace(microsecond=0),
            next_update=None,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, keys.cert)
        .certificates([keys.cert])
        .add_extension(x509.OCSPNonce(hashlib.sha1(signature_b64.encode()).digest()), critical=False)  # noqa: S324
    )
    return builder.sign(keys.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def device_uhi(personal_number: str) -> str:
    """A stable stand-in for the app's hardware id: the same "phone" for the same person."""
    return base64.b64encode(hashlib.sha256(f"bankid-sim-device:{personal_number}".encode()).digest()).decode()
