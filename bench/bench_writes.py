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
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from common import (
    bench_app,
    combine,
    free_port,
    get_token,
    log,
    recreate_database,
    run_wrk,
    start_server,
    write_wrk_script,
)

DB_NAME = "samtycke_bench_writes"


def seed_tenants(url: str, count: int) -> list[tuple[str, str, str]]:
    """``count`` tenants, each with an API client that may write persons: (slug, client_id, secret)."""
    from app.auth import create_client, create_tenant
    from app.db import transaction

    app = bench_app(url)
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
    from app import audit_verify
    from app.db import transaction
    from app.models import Tenant
    from consent.models import Person

    app = bench_app(url)
    found = []
    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
        for tenant in s.scalars(sa.select(Tenant).order_by(Tenant.slug)):
            check = audit_verify.verify(s, tenant.id)
            persons = s.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.tenant_id == tenant.id))
            found.append((tenant.slug, check.ok, check.events, int(persons or 0)))
    app.extensions["samtycke.engine"].dispose()
    return found


# --- serving and measuring ----------------------------------------------------------

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
"""


def write_round(root: str, script: Path, writers: int, seconds: int, verbose: bool) -> dict[str, float]:
    """One wrk thread and connection per writer."""
    r = run_wrk(root, script, seconds=seconds, threads=writers, connections=writers, timeout=30, verbose=verbose)
    return {
        "requests": r["requests"],
        # Only the writes that were made (201) count; a failed one is counted apart.
        "wps": (r["requests"] - r["non2xx"]) / r["seconds"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "failures": r["non2xx"] + r["socket_errors"],
    }


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    return combine(results, medians=("wps", "p50_ms", "p99_ms"), totals=("requests", "failures"))


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
    url = recreate_database(DB_NAME)
    clients = seed_tenants(url, args.writers)
    port = args.port or free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = start_server(url, port, workers, workdir / "instance")
        try:
            tokens = [get_token(port, client_id, secret) for _, client_id, secret in clients]
            root = f"http://127.0.0.1:{port}"
            log(f"serving on :{port} with {workers} workers; {args.writers} writers, "
                f"{args.rounds} rounds of {args.duration} s per case, on {os.cpu_count()} CPUs")
            cases = {"tenants": tokens, "one": tokens[:1]}
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in cases}

            def measure(name: str, tag: str, seconds: int) -> dict[str, float]:
                quoted = ", ".join(f'"{t}"' for t in cases[name])
                script = write_wrk_script(workdir / f"{name}-{tag}.lua", WRITERS_LUA.format(tokens=quoted, tag=tag))
                return write_round(root, script, args.writers, seconds, args.verbose)

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
