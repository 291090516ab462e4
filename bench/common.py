"""Plumbing shared by the server benchmarks (``bench_rights.py``, ``bench_writes.py``).

A fresh PostgreSQL database next to SAMTYCKE_TEST_PG, an app in this process for seeding,
``samtycke serve`` in production mode on a port, a bearer token, and wrk runs whose
figures a Lua ``done`` hook prints as one JSON line. The scripts run as
``python bench/x.py``, so this directory is on ``sys.path`` and they ``import common``;
importing it puts the checkout's root there too, so the in-process code is this
checkout's, as the server's is (see ``server_environment``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("SAMTYCKE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATA_KEY = "bench-data-key-not-for-production"
SEAL_PASSWORD = "bench-seal"  # noqa: S105 - a throwaway certificate nobody trusts


def log(message: str) -> None:
    print(message, flush=True)


# --- the database -------------------------------------------------------------------


def database_urls(name: str) -> tuple[str, str]:
    """The admin database's URL and that of the benchmark database ``name``, on SAMTYCKE_TEST_PG's server."""
    base = PG_ADMIN.rsplit("/", 1)[0]
    return base + "/postgres", base + f"/{name}"


def recreate_database(name: str) -> str:
    """Drop and create the database ``name``, migrate it, and return its URL."""
    admin_url, url = database_urls(name)
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    from migrations.runner import upgrade

    upgrade(url)
    return url


def bench_app(url: str) -> Any:
    """An app in this process on the benchmark database, for seeding and checking through the real services."""
    from app import create_app

    return create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "bench", "DATA_KEY": DATA_KEY, "INSTANCE_PATH": tempfile.mkdtemp()}
    )


# --- the server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(url: str, instance: Path) -> dict[str, str]:
    """The environment of ``samtycke serve`` in production mode on the database ``url``.

    Production fails closed at start-up (``app.config.check_production``); the benchmarks
    neither sign nor seal, so placeholder files under the instance folder stand in for the
    BankID client certificate, a throwaway certificate for the seal, and the URLs need only look real.
    """
    from reports.pki import throwaway_seal_pkcs12

    placeholders = instance / "bench-placeholders"
    placeholders.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, name in (("BANKID_CERT", "rp.crt"), ("BANKID_KEY", "rp.key"), ("BANKID_CA", "ca.pem")):
        files[key] = placeholders / name
        files[key].write_text("placeholder\n")
    files["SEAL_PKCS12"] = placeholders / "seal.p12"
    files["SEAL_PKCS12"].write_bytes(throwaway_seal_pkcs12(SEAL_PASSWORD))
    env = dict(os.environ)
    env.update(
        SAMTYCKE_ENV="production",
        SAMTYCKE_DATABASE_URL=url,
        SAMTYCKE_SECRET_KEY="bench-secret-key-for-a-throwaway-database",  # noqa: S106
        SAMTYCKE_SEAL_PKCS12_PASSWORD=SEAL_PASSWORD,
        # Behind the TLS proxy that production always has (wrk plays both).
        SAMTYCKE_PROXY_FIX="1",
        SAMTYCKE_DATA_KEY=DATA_KEY,
        # Production needs its public https URL; wrk talks plain http to the port, as a TLS proxy would.
        SAMTYCKE_BASE_URL="https://samtycke-bench.invalid",
        SAMTYCKE_INSTANCE_PATH=str(instance),
        SAMTYCKE_BANKID="https://appapi2.test.bankid.com/rp/v6.0/",
        SAMTYCKE_TSA_URL="https://tsa.invalid/rfc3161",
        **{f"SAMTYCKE_{key}": str(path) for key, path in files.items()},
        # This checkout's code, whichever checkout the shared virtualenv was installed from
        # (its editable finder comes after the path entries).
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    # Several workers in production need shared rate-limit counters (no measured route is limited).
    env.setdefault("SAMTYCKE_RATELIMIT_STORAGE", "redis://127.0.0.1:6379/0")
    env.pop("SAMTYCKE_ACCESS_LOG", None)
    return env


def start_server(url: str, port: int, workers: int, instance: Path, threads: int = 1) -> subprocess.Popen[bytes]:
    """``samtycke serve`` on ``port``, returned once ``/healthz`` answers.

    Its log goes to ``server.log`` next to ``instance``.
    """
    samtycke = shutil.which("samtycke", path=str(Path(sys.executable).parent)) or "samtycke"
    cmd = [samtycke, "serve", "--port", str(port), "--workers", str(workers)]
    if threads > 1:
        cmd += ["--threads", str(threads)]
    env = server_environment(url, instance)
    # The server's log goes to a file: a pipe nobody reads would stall it once full (every 503 logs).
    errors = instance.parent / "server.log"
    with errors.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    proc.wait()
    raise RuntimeError("the server did not start: " + errors.read_text(errors="replace")[-4000:])


def get_token(port: int, client_id: str, secret: str) -> str:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/oauth/token", data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return str(json.load(resp)["access_token"])


# --- wrk ----------------------------------------------------------------------------

# Appended to every script: wrk's summary as one JSON line, which run_wrk reads.
DONE_LUA = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"seconds\\": %f, \\"p50_us\\": %d, \\"p99_us\\": %d, \\"non2xx\\": %d, "
    .. "\\"socket_errors\\": %d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def write_wrk_script(path: Path, script: str) -> Path:
    """``script`` (which must not define ``done``) with the ``done`` that run_wrk reads."""
    path.write_text(script + DONE_LUA)
    return path


def run_wrk(
    url: str, script: Path, *, seconds: int, threads: int, connections: int, timeout: int, verbose: bool
) -> dict[str, float]:
    """One wrk run: requests, seconds, rps (every answer), p50_ms, p99_ms, non2xx and socket_errors."""
    cmd = ["wrk", "-d", f"{seconds}s", "-t", str(threads), "-c", str(connections), "--timeout", f"{timeout}s",
           "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(match.group(1))
    if verbose:
        log(out)
    return {
        "requests": raw["requests"],
        "seconds": raw["seconds"],
        "rps": raw["requests"] / raw["seconds"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "non2xx": raw["non2xx"],
        "socket_errors": raw["socket_errors"],
    }


def combine(results: list[dict[str, float]], medians: Iterable[str], totals: Iterable[str]) -> dict[str, float]:
    """Several rounds of one measurement: the median of each of ``medians``, the sum of each of ``totals``."""
    return {key: statistics.median(r[key] for r in results) for key in medians} | {
        key: sum(r[key] for r in results) for key in totals
    }
