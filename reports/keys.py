"""The records' seal: its signer, its certificate and the roots records are verified against.

Loaded once per app and kept in ``app.extensions``: from ``SAMTYCKE_SEAL_PKCS12`` in production,
else from the local PKI created on first use under ``instance/pki/``. The heavy imports
(pyHanko) happen on first use, not when the module is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask


def _cached(app: Flask, name: str, load: Any) -> Any:
    found = app.extensions.get(name)
    if found is None:
        found = app.extensions[name] = load()
    return found


def _local_pki(app: Flask) -> Any:
    from reports.pki import ensure_local_pki

    return ensure_local_pki(Path(app.instance_path) / "pki", app.config["BASE_URL"])


def _pkcs12_certificates(app: Flask) -> tuple[Any, list[Any]]:
    """The production seal's certificate and chain, read from its PKCS#12 file once."""

    def load() -> tuple[Any, list[Any]]:
        from cryptography.hazmat.primitives.serialization import pkcs12

        password = app.config.get("SEAL_PKCS12_PASSWORD")
        _key, cert, chain = pkcs12.load_key_and_certificates(
            Path(app.config["SEAL_PKCS12"]).read_bytes(), password.encode() if password else None
        )
        return cert, list(chain or [])

    found: tuple[Any, list[Any]] = _cached(app, "samtycke.seal_pkcs12_certificates", load)
    return found


def sealer(app: Flask) -> Any:
    """One sealer per app (it caches the parsed key)."""

    def load() -> Any:
        from reports.seal import Sealer

        if app.config.get("SEAL_PKCS12"):
            return Sealer.from_pkcs12(
                Path(app.config["SEAL_PKCS12"]), app.config.get("SEAL_PKCS12_PASSWORD"), app.config["TSA_URL"]
            )
        return Sealer.from_local_pki(_local_pki(app))

    return _cached(app, "samtycke.sealer", load)


def trust_roots(app: Flask) -> list[Any]:
    def load() -> list[Any]:
        if app.config.get("SEAL_PKCS12"):
            cert, chain = _pkcs12_certificates(app)
            return chain or [cert]
        return list(_local_pki(app).trust_roots)

    return list(_cached(app, "samtycke.trust_roots", load))


def seal_certificate(app: Flask) -> Any:
    """The seal certificate: audit checkpoints count only when signed with its subject."""

    def load() -> Any:
        if app.config.get("SEAL_PKCS12"):
            return _pkcs12_certificates(app)[0]
        return _local_pki(app).seal_cert

    return _cached(app, "samtycke.seal_certificate", load)
