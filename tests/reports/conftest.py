"""Fixtures for the database-free records core: one PKI, one sealer, a few PDFs per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from asn1crypto import tsp

from reports.context import EVIDENCE_NAME, RecordContext
from reports.pki import LocalPki, ensure_local_pki
from reports.render import render_pdf
from reports.samples import sample_context
from reports.seal import LocalTimeStamper, Sealer

BASE_URL = "https://samtycke.test"
SEAL_ARGS = {"reason": "Samtycke record", "location": "Sweden"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_tool(name: str) -> str:
    """Path of a Debian tool; skip locally when missing, fail in CI (CI=true)."""
    path = shutil.which(name)
    if path:
        return path
    if in_ci():
        pytest.fail(f"{name} is required in CI (apt-get install poppler-utils qpdf libnss3-tools)")
    pytest.skip(f"{name} is not installed")


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    require_tool(args[0])
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="session")
def tool() -> object:
    """``tool("qpdf", "--check", path)``: run a Debian tool (skipped/failed as above when missing)."""
    return run_tool


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPki:
    return ensure_local_pki(tmp_path_factory.mktemp("pki"), BASE_URL)


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPki:
    """A second, unrelated local PKI (same names, different keys)."""
    return ensure_local_pki(tmp_path_factory.mktemp("other-pki"), BASE_URL)


@pytest.fixture(scope="session")
def sealer(pki: LocalPki) -> Sealer:
    return Sealer.from_local_pki(pki)


@pytest.fixture(scope="session")
def ctx() -> RecordContext:
    return sample_context("consent_given", "sv")


@pytest.fixture(scope="session")
def record_pdf(ctx: RecordContext) -> bytes:
    return render_pdf(ctx)


@pytest.fixture(scope="session")
def sealed_pdf(sealer: Sealer, record_pdf: bytes) -> bytes:
    return sealer.seal(record_pdf, **SEAL_ARGS)


@pytest.fixture()
def write_pdf(tmp_path: Path) -> object:
    def write(data: bytes, name: str = "record.pdf") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


@pytest.fixture(scope="session")
def nss_db(tmp_path_factory: pytest.TempPathFactory, pki: LocalPki) -> str:
    """A fresh NSS database trusting only the local root CA, for pdfsig."""
    require_tool("certutil")
    directory = tmp_path_factory.mktemp("nssdb")
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        ["certutil", "-A", "-d", db, "-n", "samtycke-local-root", "-t", "CT,C,C", "-i", str(pki.root_cert_path)],
        check=True,
        capture_output=True,
    )
    return db


@dataclass
class HttpPki:
    """A local PKI whose CRL and RFC 3161 TSA are served over real HTTP, like a production CA."""

    pki: LocalPki
    tsa_url: str


@pytest.fixture(scope="session")
def http_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpPki]:
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/pki/crl.der":
                self.send_error(404)
                return
            self._answer(state["pki"].crl_der(), "application/pkix-crl")

        def do_POST(self) -> None:
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            self._answer(state["stamper"].request_tsa_response(request).dump(), "application/timestamp-reply")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    state["pki"] = pki = ensure_local_pki(tmp_path_factory.mktemp("http-pki"), base_url)
    state["stamper"] = LocalTimeStamper(pki)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield HttpPki(pki=pki, tsa_url=f"{base_url}/tsa")
    server.shutdown()
    server.server_close()


BOMB_DECODED_BYTES = 128 * 1024 * 1024


def flate_bomb(decoded_size: int = BOMB_DECODED_BYTES) -> bytes:
    """Zlib data of ``decoded_size`` spaces (about 1/1000 of that compressed), made without holding it."""
    packer = zlib.compressobj(9)
    chunk = b" " * (1024 * 1024)
    parts = [packer.compress(chunk) for _ in range(decoded_size // len(chunk))]
    return b"".join([*parts, packer.flush()])


@pytest.fixture(scope="session")
def evidence_bomb_pdf(record_pdf: bytes, other_pki: LocalPki) -> bytes:
    """A record whose evidence.json inflates to 128 MiB, sealed by someone else's PKI: the seal is
    intact, so a verifier goes on to read the evidence."""
    with pikepdf.open(BytesIO(record_pdf)) as doc:
        spec = doc.attachments[EVIDENCE_NAME]
        stream = spec.obj["/EF"]["/F"]
        stream.write(flate_bomb(), filter=pikepdf.Name.FlateDecode)
        out = BytesIO()
        doc.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return Sealer.from_local_pki(other_pki).seal(out.getvalue(), **SEAL_ARGS)
