"""Usage-rights benchmark: seed a realistic tenant into PostgreSQL, serve it, measure with wrk.

    .venv/bin/python bench/bench_rights.py            # 100k persons, 300k assets, 500k links, 150k consents
    .venv/bin/python bench/bench_rights.py --small    # 5k / 15k / 25k / 7.5k, a quick run
    .venv/bin/python bench/bench_rights.py --reuse    # skip seeding, measure the existing samtycke_bench

One command: (re)creates the database ``samtycke_bench`` next to SAMTYCKE_TEST_PG
(default postgres@127.0.0.1:5432), migrates it, bulk-loads it with COPY, starts
``samtycke serve --workers N`` against it in production mode, and runs wrk
(/usr/bin/wrk) for (a) GET /healthz, (b) single-asset usage rights on random
assets, (c) POST /usage-rights/query with 1,000 random assets. Prints RPS and
p50/p99 latency of each, and the ratios against their targets:
(b)/(a) RPS >= 0.5, (c)/(b) p50 latency <= 20, (b) p99 < 20 ms. The three runs are
interleaved over several rounds and the medians reported, so that other load on
the machine skews them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from common import (
    ROOT,
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

DB_NAME = "samtycke_bench"
PURPOSES = ("web", "print", "social")
TARGET_RPS_RATIO = 0.5
TARGET_BATCH_RATIO = 20.0
TARGET_P99_MS = 20.0


@dataclass(frozen=True)
class Sizes:
    persons: int
    assets: int
    links: int
    consents: int


DEFAULT = Sizes(100_000, 300_000, 500_000, 150_000)
SMALL = Sizes(5_000, 15_000, 25_000, 7_500)


def asset_id(i: int) -> str:
    return f"asset-{i:07d}"


# --- seeding ------------------------------------------------------------------------

def seed_tenant(url: str) -> tuple[str, str, str, str]:
    """Tenant, API client, purposes and one template through the real services."""
    from app.auth import create_client, create_tenant
    from app.db import transaction
    from consent import templates
    from consent.models import Purpose

    app = bench_app(url)
    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
        tenant = create_tenant(s, "bench", "Bench AB")
        client, secret = create_client(s, tenant, ["rights:read", "consents:read"])
        for key in PURPOSES:
            s.add(Purpose(tenant_id=tenant.id, key=key, label={"sv": key, "nb": key, "en": key}))
        s.flush()
        template = templates.create_version(
            s, tenant.id, "bench",
            templates.TemplateInput(
                key="photo", title={"sv": "Samtycke"}, body={"sv": "Bilder på dig."},
                purposes=list(PURPOSES), validity_days=365,
            ),
        )
        ids = (tenant.id, client.client_id, secret, template.id)
    app.extensions["samtycke.engine"].dispose()
    return ids


def _copy(conn: psycopg.Connection[Any], table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed_bulk(url: str, tenant_id: str, template_id: str, sizes: Sizes, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    person_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(sizes.persons)]
    erased = set(rng.sample(range(sizes.persons), k=max(1, sizes.persons // 100)))
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()

        def persons() -> Iterator[tuple[Any, ...]]:
            for i, pid in enumerate(person_ids):
                born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
                gone = i in erased
                yield (pid, tenant_id, None if gone else f"Person {i}", born, now, now, now if gone else None)

        n = _copy(conn, "persons",
                  ["id", "tenant_id", "name", "birth_date", "created_at", "updated_at", "erased_at"], persons())
        log(f"  persons   {n:>9,}")

        # Every asset gets one person; the remaining links land on random assets (groups).
        links_by_person: dict[int, list[int]] = {}

        def links() -> Iterator[tuple[Any, ...]]:
            seen: set[tuple[int, int]] = set()
            i = 0
            while len(seen) < sizes.links:
                asset = i if i < sizes.assets else rng.randrange(sizes.assets)
                person = rng.randrange(sizes.persons)
                i += 1
                if (asset, person) in seen:
                    continue
                seen.add((asset, person))
                links_by_person.setdefault(person, []).append(asset)
                yield (tenant_id, asset_id(asset), person_ids[person], now)

        n = _copy(conn, "asset_links", ["tenant_id", "asset_id", "person_id", "created_at"], links())
        log(f"  links     {n:>9,}")

        # Linking registers an asset (an unregistered one answers unknown_asset): every asset is linked.
        def assets() -> Iterator[tuple[Any, ...]]:
            for i in range(sizes.assets):
                yield (tenant_id, asset_id(i), False, "[]", now, now)

        n = _copy(conn, "assets", ["tenant_id", "asset_id", "no_persons", "legal_bases", "created_at", "updated_at"],
                  assets())
        log(f"  assets    {n:>9,}")

        def consents() -> Iterator[tuple[Any, ...]]:
            for _ in range(sizes.consents):
                person = rng.randrange(sizes.persons)
                roll = rng.random()
                given_at: datetime | None = now - timedelta(days=rng.randrange(1, 300))
                valid_until: datetime | None = now + timedelta(days=rng.randrange(65, 364))
                status = "given"
                withdrawn: datetime | None = None
                revoked: datetime | None = None
                refused: datetime | None = None
                if roll < 0.05:
                    status, given_at, valid_until = "pending", None, None
                elif roll < 0.08:
                    status, refused, given_at, valid_until = "refused", now - timedelta(days=3), None, None
                elif roll < 0.15:
                    status, withdrawn = "withdrawn", now - timedelta(days=rng.randrange(0, 30))
                elif roll < 0.18:
                    status, revoked = "revoked", now - timedelta(days=rng.randrange(0, 30))
                elif roll < 0.25:
                    given_at = now - timedelta(days=400)
                    valid_until = now - timedelta(days=35)  # expired
                purposes = ["web", "print"] if rng.random() < 0.8 else ["web"]
                assets = None
                if rng.random() < 0.1 and links_by_person.get(person):
                    assets = json.dumps([asset_id(a) for a in links_by_person[person][:3]])
                yield (
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)), tenant_id, person_ids[person], template_id,
                    "photo", 1, "sv", "0" * 64, json.dumps(["web", "print"]), json.dumps(purposes), assets,
                    365, status, given_at, given_at, valid_until, refused, withdrawn, revoked, given_at or now,
                )

        columns = [
            "id", "tenant_id", "person_id", "template_id", "template_key", "template_version", "locale",
            "text_sha256", "requested_purposes", "purposes", "asset_ids", "validity_days", "status", "given_at",
            "valid_from", "valid_until", "refused_at", "withdrawn_at", "revoked_at", "created_at",
        ]
        n = _copy(conn, "consents", columns, consents())
        log(f"  consents  {n:>9,}")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        log(f"  loaded in {time.perf_counter() - started:.1f} s")


# --- serving and measuring ----------------------------------------------------------

SINGLE_LUA = """
math.randomseed(os.time())
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  return wrk.format("GET", string.format("/api/v1/assets/asset-%07d/usage-rights?purpose=web",
                                         math.random(0, {assets} - 1)))
end
"""

BATCH_LUA = """
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{}}
for b = 1, 32 do
  local ids = {{}}
  for i = 1, {batch} do ids[i] = string.format("\\"asset-%07d\\"", math.random(0, {assets} - 1)) end
  bodies[b] = "{{\\"purpose\\": \\"web\\", \\"asset_ids\\": [" .. table.concat(ids, ",") .. "]}}"
end
request = function()
  return wrk.format(nil, "/api/v1/usage-rights/query", nil, bodies[math.random(1, 32)])
end
"""


def measure(url: str, script: Path, args: argparse.Namespace, seconds: int) -> dict[str, float]:
    return run_wrk(url, script, seconds=seconds, threads=min(args.wrk_threads, args.connections),
                   connections=args.connections, timeout=10, verbose=args.verbose)


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    return combine(results, medians=("rps", "p50_ms", "p99_ms"), totals=("non2xx", "socket_errors"))


def _line(label: str, r: dict[str, float]) -> str:
    errors = "" if not (r["non2xx"] or r["socket_errors"]) else f"  non-2xx {r['non2xx']}, errors {r['socket_errors']}"
    return f"  {label:<38} {r['rps']:>9,.0f} req/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms{errors}"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="5k persons, 15k assets, 25k links, 7.5k consents")
    parser.add_argument("--reuse", action="store_true", help="measure the existing database (see --db-name)")
    parser.add_argument("--db-name", default=DB_NAME, help=f"the PostgreSQL database to seed (default {DB_NAME})")
    parser.add_argument("--seed-only", action="store_true", help="seed the database and stop")
    parser.add_argument("--persons", type=int)
    parser.add_argument("--assets", type=int)
    parser.add_argument("--links", type=int)
    parser.add_argument("--consents", type=int)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--connections", type=int, help="wrk connections (default: one per worker)")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (a), (b), (c)")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--port", type=int, help="port for the server (default: any free one)")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own report too")
    args = parser.parse_args()
    args.connections = args.connections or args.workers
    if shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install wrk)")
        return 2

    base = SMALL if args.small else DEFAULT
    sizes = Sizes(args.persons or base.persons, args.assets or base.assets, args.links or base.links,
                  args.consents or base.consents)
    if sizes.links < sizes.assets:
        parser.error("--links must be at least --assets (every asset gets a person)")
    state = ROOT / "instance" / "bench_rights.json"
    if args.reuse:
        saved = json.loads(state.read_text())
        url, client_id, secret, sizes = saved["url"], saved["client_id"], saved["secret"], Sizes(**saved["sizes"])
        log(f"reusing {args.db_name}: {sizes}")
    else:
        log(f"seeding {args.db_name}: {sizes.persons:,} persons, {sizes.assets:,} assets, {sizes.links:,} links, "
            f"{sizes.consents:,} consents")
        url = recreate_database(args.db_name)
        tenant_id, client_id, secret, template_id = seed_tenant(url)
        seed_bulk(url, tenant_id, template_id, sizes)
        state.parent.mkdir(exist_ok=True)
        state.write_text(json.dumps({"url": url, "client_id": client_id, "secret": secret,
                                     "sizes": sizes.__dict__}))
    if args.seed_only:
        return 0

    port = args.port or free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = start_server(url, port, args.workers, workdir / "instance", threads=args.threads)
        try:
            token = get_token(port, client_id, secret)
            root = f"http://127.0.0.1:{port}"
            log(f"serving on :{port} with {args.workers} workers x {args.threads} threads; "
                f"wrk -c{args.connections}, {args.rounds} rounds of {args.duration} s, on {os.cpu_count()} CPUs")
            scripts = {}
            for name, script in (
                ("healthz", ""),
                ("single", SINGLE_LUA.format(token=token, assets=sizes.assets)),
                ("batch", BATCH_LUA.format(token=token, assets=sizes.assets, batch=args.batch)),
            ):
                scripts[name] = write_wrk_script(workdir / f"{name}.lua", script)
            urls = {"healthz": f"{root}/healthz", "single": root, "batch": root}
            for name in urls:  # warm-up: every worker connects and prepares its statements
                measure(urls[name], scripts[name], args, 2)
            # Interleaved rounds, so that a burst of other load on the machine hits every
            # measurement alike; the figures are the medians over the rounds.
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
            for _ in range(args.rounds):
                for name in urls:
                    rounds[name].append(measure(urls[name], scripts[name], args, args.duration))
        finally:
            server.terminate()
            server.wait(timeout=30)

    health, single, batch = (_median(rounds[name]) for name in ("healthz", "single", "batch"))
    log("")
    log(_line("(a) GET /healthz", health))
    log(_line("(b) GET usage-rights, random asset", single))
    log(_line(f"(c) POST usage-rights/query, {args.batch:,} ids", batch))
    rps_ratio = statistics.median(b["rps"] / a["rps"] for a, b in zip(rounds["healthz"], rounds["single"], strict=True))
    latency_ratio = statistics.median(
        c["p50_ms"] / b["p50_ms"] for b, c in zip(rounds["single"], rounds["batch"], strict=True)
    )
    log("")
    log(f"  (b)/(a) RPS            {rps_ratio:6.2f}   target >= {TARGET_RPS_RATIO}   {_verdict(rps_ratio >= 0.5)}")
    log(f"  (c)/(b) p50 latency    {latency_ratio:6.2f}   target <= {TARGET_BATCH_RATIO:.0f}    "
        f"{_verdict(latency_ratio <= TARGET_BATCH_RATIO)}")
    log(f"  (b) p99                {single['p99_ms']:6.2f}   target <  {TARGET_P99_MS:.0f} ms "
        f"{_verdict(single['p99_ms'] < TARGET_P99_MS)}")
    log(f"  (medians of {args.rounds} interleaved rounds of {args.duration} s; ratios per round, then median)")
    failed = any(r["non2xx"] or r["socket_errors"] for r in (health, single, batch))
    if failed:
        log("  some requests failed (see non-2xx / errors above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
