"""Write benchmark: 8 writers in one tenant against 8 writers in 8 tenants, on PostgreSQL.

    .venv/bin/python bench/bench_writes.py                 # 8 writers, 3 rounds of 5 s each way
    .venv/bin/python bench/bench_writes.py --writers 4 --duration 10 --port 5141

One command: (re)creates the database ``samtycke_bench_writes`` next to SAMTYCKE_TEST_PG
(default postgres@127.0.0.1:5432), migrates it, creates 8 tenants with an API client each
through the real services, starts ``samtycke serve --workers N`` (gunicorn, production
mode, this checkout's code) and drives it with wrk (/usr/bin/wrk): every wrk thread is
one writer on one keep-alive connection, sending ``POST /api/v1/persons`` back to back.

* baseline: each writer in a tenant of its own (nothing shared but the database);
* measured: all writers in one tenant, so every write queues on that tenant's row (the
  audit chain's head, the first lock of every writing transaction).

The two runs are interleaved over ``--rounds`` and the medians reported, so other load on
the machine skews them alike. Printed: writes/s (answered 201), p50/p99 latency and the
failures (any other answer, and socket errors) of each, the ratio one tenant / 8 tenants, and whether
every tenant's audit chain still verifies with one event per person written. A real
server rather than threads in this process: the writers must be separate processes with
their own connections, as in production, or the GIL and one connection pool would be
measured instead of the database locks.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

DB_NAME = "samtycke_bench_writes"
PG_ADMIN = os.environ.get("SAMTYCKE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATA_KEY = "bench-data-key-not-for-production"


def log(message: str) -> None:
    print(message, flush=True)


def _urls() -> tuple[str, str]:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return base + "/postgres", base + f"/{DB_NAME}"


def recreate_database() -> str:
    admin_url, url = _urls()
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    engine.dispose()
    from migrations.runner import upgrade

    upgrade(url)
    return url


def _app(url: str) -> Any:
    from app import create_app

    return create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "bench", "DATA_KEY": DATA_KEY, "INSTANCE_PATH": tempfile.mkdtemp()}
    )


def seed_tenants(url: str, count: int) -> list[tuple[str, str, str]]:
    """``count`` tenants, each with an API client that may write persons: (slug, client_id, secret)."""
    from app.auth import create_client, create_tenant
    from app.db import transaction

    app = _app(url)
    clients = []
    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
        for i in range(count):
            tenant = create_tenant(s, f"bench-{i}", f"Bench {i} AB")
            client, secret = create_client(s, tenant, ["persons:write", "persons:read"])
            clients.append((tenant.slug, client.client_id, secret))
    app.extensions["samtycke.engine"].dispose()
    return clients


def verify_chains(url: str) -> list[tuple[str, bool, int, int]]:
    """Per tenant: (slug, chain intact, events, persons)."""
    from app import audit
    from app.db import transaction
    from app.models import Tenant
    from consent.models import Person

    app = _app(url)
    found = []
    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
        for tenant in s.scalars(sa.select(Tenant).order_by(Tenant.slug)):
            check = audit.verify(s, tenant.id)
            persons = s.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.tenant_id == tenant.id))
            found.append((tenant.slug, check.ok, check.events, int(persons or 0)))
    app.extensions["samtycke.engine"].dispose()
    return found


# --- serving and measuring ----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int, workers: int, instance: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        SAMTYCKE_ENV="production",
        SAMTYCKE_DATABASE_URL=url,
        SAMTYCKE_SECRET_KEY="bench-secret-key",  # noqa: S106 - a throwaway benchmark database
        SAMTYCKE_DATA_KEY=DATA_KEY,
        SAMTYCKE_BASE_URL=f"http://127.0.0.1:{port}",
        SAMTYCKE_INSTANCE_PATH=instance,
        # This checkout's code, whichever checkout the shared virtualenv was installed from.
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    env.pop("SAMTYCKE_ACCESS_LOG", None)
    samtycke = shutil.which("samtycke", path=str(Path(sys.executable).parent)) or "samtycke"
    cmd = [samtycke, "serve", "--port", str(port), "--workers", str(workers)]
    # The server's log goes to a file: a pipe nobody reads would stall it once full (every 503 logs).
    errors = Path(instance).parent / "server.log"
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
    raise RuntimeError("the server did not start: " + errors.read_text(errors="replace")[-4000:])


def get_token(port: int, client_id: str, secret: str) -> str:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/oauth/token", data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return str(json.load(resp)["access_token"])


# One writer per wrk thread (and connection); ``tokens`` cycles over the threads, so one
# token means one tenant for all, eight tokens a tenant each. ``tag`` keeps names apart.
WRITERS_LUA = """
local tokens = {{{tokens}}}
local started = 0
setup = function(thread)
  started = started + 1
  thread:set("token", tokens[(started - 1) % #tokens + 1])
  thread:set("writer", started)
end
init = function(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  written = 0
end
request = function()
  written = written + 1
  return wrk.format(nil, "/api/v1/persons", nil,
    string.format('{{"name": "Writer %d-%s person %d"}}', writer, "{tag}", written))
end
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT {{\\"requests\\": %d, \\"seconds\\": %f, \\"p50_us\\": %d, \\"p99_us\\": %d, \\"non2xx\\": %d, "
    .. "\\"socket_errors\\": %d}}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def run_wrk(root: str, script: Path, writers: int, seconds: int, verbose: bool) -> dict[str, float]:
    cmd = ["wrk", "-d", f"{seconds}s", "-t", str(writers), "-c", str(writers), "--timeout", "30s",
           "--latency", "-s", str(script), root]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(match.group(1))
    if verbose:
        log(out)
    return {
        "requests": raw["requests"],
        # Only the writes that were made (201) count; a failed one is counted apart.
        "wps": (raw["requests"] - raw["non2xx"]) / raw["seconds"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "failures": raw["non2xx"] + raw["socket_errors"],
    }


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in ("wps", "p50_ms", "p99_ms")} | {
        key: sum(r[key] for r in results) for key in ("requests", "failures")
    }


def _line(label: str, r: dict[str, float]) -> str:
    return (f"  {label:<24} {r['wps']:>8,.1f} writes/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:8.2f} ms"
            f"   failures {int(r['failures'])} of {int(r['requests'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: one per writer)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each case")
    parser.add_argument("--port", type=int, help="port for the server (default: any free one)")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own report too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install wrk)")
        return 2
    workers = args.workers or args.writers

    log(f"creating {DB_NAME} with {args.writers} tenants")
    url = recreate_database()
    clients = seed_tenants(url, args.writers)
    port = args.port or free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = start_server(url, port, workers, str(workdir / "instance"))
        try:
            tokens = [get_token(port, client_id, secret) for _, client_id, secret in clients]
            root = f"http://127.0.0.1:{port}"
            log(f"serving on :{port} with {workers} workers; {args.writers} writers, "
                f"{args.rounds} rounds of {args.duration} s per case, on {os.cpu_count()} CPUs")
            cases = {"tenants": tokens, "one": tokens[:1]}
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in cases}

            def measure(name: str, tag: str, seconds: int) -> dict[str, float]:
                quoted = ", ".join(f'"{t}"' for t in cases[name])
                script = workdir / f"{name}-{tag}.lua"
                script.write_text(WRITERS_LUA.format(tokens=quoted, tag=tag))
                return run_wrk(root, script, args.writers, seconds, args.verbose)

            for name in cases:  # warm-up: every worker connects and prepares its statements
                measure(name, "warm", 2)
            # Interleaved, so that a burst of other load on the machine hits both cases alike.
            for i in range(args.rounds):
                for name in cases:
                    rounds[name].append(measure(name, f"r{i}", args.duration))
        finally:
            server.terminate()
            server.wait(timeout=30)

    spread, one = _median(rounds["tenants"]), _median(rounds["one"])
    log("")
    log(_line(f"{args.writers} writers, {args.writers} tenants", spread))
    log(_line(f"{args.writers} writers, 1 tenant", one))
    ratio = statistics.median(o["wps"] / t["wps"] for t, o in zip(rounds["tenants"], rounds["one"], strict=True))
    log(f"  one tenant / {args.writers} tenants: {ratio:.2f} of the throughput")
    chains = verify_chains(url)
    broken = [slug for slug, ok, _, _ in chains if not ok]
    # Each tenant's chain: tenant.created, client.created, then one person.created per person.
    mismatched = [slug for slug, _, events, persons in chains if events != persons + 2]
    log(f"  audit chains: {len(chains) - len(broken)} of {len(chains)} intact"
        + (f"; broken: {', '.join(broken)}" if broken else "")
        + (f"; events not one per person: {', '.join(mismatched)}" if mismatched else "; one event per person"))
    failures = int(spread["failures"] + one["failures"])
    return 1 if failures or broken or mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
