"""Background-work benchmark: records sealed per minute by `samtycke worker` processes on Redis,
memory per worker, and what the subject's completing status poll costs now that it only enqueues.

    .venv/bin/python bench/bench_jobs.py [--signings 25] [--records 500] [--single 60]

Prints each figure next to its target:
* records sealed per minute with 1 worker and with 2 (same run; one pool process each), and
  the ratio (goal >= 1.7 on 2 cores);
* peak RSS of each worker's pool process over --records records: while the first 50 were
  sealed against the last 50 (goal: flat, under 10 % growth);
* the p50 of the subject's completing status poll (records the signature, queues the record
  and its webhooks after the commit) against a pending poll (asks BankID, nothing to record),
  both against `samtycke serve` with a Redis broker and no worker (goal: <= 1.5x).

Uses a fresh PostgreSQL database next to SAMTYCKE_TEST_PG and Redis database 9 on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import common
import sqlalchemy as sa

REDIS = "redis://127.0.0.1:6379/9"
RATIO_TARGET = 1.7
POLL_TARGET = 1.5
MEMORY_GROWTH_TARGET = 0.10
SCOPES = "persons:write consents:write consents:read"


def http(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any, float]:
    """One JSON request: (status, answer, milliseconds)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, headers=headers,
        data=json.dumps(body).encode() if body is not None else None,
    )
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - our own server
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    elapsed = (time.perf_counter() - began) * 1000
    return status, json.loads(raw) if raw else None, elapsed


def ok(answer: tuple[int, Any, float], expected: int = 200) -> Any:
    status, body, _ms = answer
    if status != expected:
        raise RuntimeError(f"HTTP {status}: {body}")
    return body


def environment(url: str, instance: Path, queue: str) -> dict[str, str]:
    """Development mode (the BankID simulator signs), a real broker: the web process only enqueues."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMTYCKE_")}
    env.update(
        SAMTYCKE_ENV="development", SAMTYCKE_DATABASE_URL=url, SAMTYCKE_INSTANCE_PATH=str(instance),
        SAMTYCKE_SECRET_KEY="bench-secret-key-for-a-throwaway-database", SAMTYCKE_DATA_KEY=common.DATA_KEY,  # noqa: S106
        SAMTYCKE_BROKER_URL=REDIS, SAMTYCKE_JOBS_QUEUE=queue, SAMTYCKE_RATELIMIT_STORAGE="redis://127.0.0.1:6379/9",
        PYTHONPATH=str(common.ROOT),
    )
    return env


# --- the subject's polls ----------------------------------------------------------------


def measure_polls(
    url: str, instance: Path, queue: str, signings: int, args_port: int | None
) -> tuple[list[float], list[float]]:
    from signing.bankid.personnummer import with_check_digit

    port = args_port or common.free_port()
    env = environment(url, instance, queue)
    log = (instance.parent / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while not _answers(port):
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start; see server.log")
            time.sleep(0.3)
        app = common.bench_app(url)
        from app.auth import create_client, create_tenant
        from app.db import transaction

        with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
            tenant = create_tenant(s, "bench", "Bench")
            client, secret = create_client(s, tenant, [*SCOPES.split(), "persons:read"])
            client_id = client.client_id
        token = common.get_token(port, client_id, secret)
        web = {"key": "web", "label": {"sv": "Webb", "nb": "Nett", "en": "Web"}}
        ok(http(port, "POST", "/api/v1/purposes", web, token), 201)
        ok(http(port, "POST", "/api/v1/consent-templates", {
            "key": "photo", "title": {"sv": "Bilder", "nb": "Bilder", "en": "Photos"},
            "body": {"sv": "Jag samtycker.", "nb": "Jeg samtykker.", "en": "I consent."}, "purposes": ["web"],
            "validity_days": 365}, token), 201)
        pending: list[float] = []
        completing: list[float] = []
        for i in range(signings):
            pn = with_check_digit(f"19800101{i:03d}")
            person = ok(http(port, "POST", "/api/v1/persons", {"name": f"Person {i}", "personal_number": pn}, token),
                        201)
            req = ok(http(port, "POST", "/api/v1/consent-requests", {"person_id": person["id"], "template": "photo"},
                          token), 201)
            link = req["signers"][0]["signing_url"].rsplit("/s/", 1)[1]
            ok(http(port, "POST", f"/s/{link}/bankid/start", {"device": "other"}))
            time.sleep(2.1)  # BankID is asked at most every 2 s: this poll asks it
            status, seen, ms = http(port, "GET", f"/s/{link}/bankid/status")
            assert status == 200 and seen["status"] == "pending", seen
            pending.append(ms)
            scanned = ok(http(port, "POST", "/bankid-sim/app/scan", {
                "qr_data": seen["qr_data"], "personal_number": pn, "given_name": "Person", "surname": str(i)}))
            ok(http(port, "POST", "/bankid-sim/app/confirm", {"order_ref": scanned["order_ref"], "approve": True}))
            time.sleep(2.1)
            status, done, ms = http(port, "GET", f"/s/{link}/bankid/status")
            assert status == 200 and done["status"] == "complete", done
            completing.append(ms)
        return pending, completing
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
            return True
    except OSError:
        return False


# --- workers ------------------------------------------------------------------------


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.handle = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--concurrency=1"],
            env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.log = log

    def wait_ready(self) -> None:
        deadline = time.time() + 60
        while " ready." not in self.log.read_text(errors="replace"):
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError(self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)

    def pool_rss_kib(self) -> int:
        """RSS of the pool process(es) doing the work (the worker's children)."""
        import psutil

        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss // 1024
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.handle.close()


def add_records(app: Any, count: int) -> list[str]:
    """``count`` pending records, each a copy of a signed consent's record (each sealed on its own)."""
    from app.db import transaction
    from reports.models import Record

    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        templates = list(s.scalars(sa.select(Record).where(Record.kind == "consent_given").limit(50)))
        rows = [
            Record(tenant_id=t.tenant_id, kind=t.kind, consent_id=t.consent_id, audit_event_id=t.audit_event_id,
                   audit_event_hash=t.audit_event_hash)
            for t in (templates[i % len(templates)] for i in range(count))
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def sealed_count(app: Any, ids: list[str]) -> int:
    from reports.models import Record

    with app.extensions["samtycke.sessionmaker"]() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(Record).where(
            Record.id.in_(ids), Record.status == "sealed")) or 0)


Samples = list[tuple[int, list[int]]]


def seal_all(app: Any, ids: list[str], workers: list[Worker] | None = None) -> tuple[float, Samples]:
    """Enqueue ``ids`` and wait until all are sealed: (seconds, [(sealed so far, RSS per worker)])."""
    from app import jobs

    samples: Samples = []
    began = time.perf_counter()
    for record_id in ids:
        if not jobs.send(app, "reports.seal_record", record_id):
            raise RuntimeError("the broker refused a message")
    done = 0
    while done < len(ids):
        time.sleep(0.5)
        done = sealed_count(app, ids)
        if workers:
            samples.append((done, [w.pool_rss_kib() for w in workers]))
    return time.perf_counter() - began, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signings", type=int, default=25)
    parser.add_argument("--single", type=int, default=60, help="records sealed by one worker")
    parser.add_argument("--records", type=int, default=500, help="records sealed by two workers")
    parser.add_argument("--port", type=int, default=None, help="the server's port (default: a free one)")
    args = parser.parse_args()

    url = common.recreate_database("samtycke_bench_jobs")
    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    instance = folder / "instance"
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    common.log(f"database {url.rsplit('/', 1)[1]}, broker {REDIS}, queue {queue}, logs in {folder}")

    pending, completing = measure_polls(url, instance, queue, args.signings, args.port)
    p50_pending, p50_completing = statistics.median(pending), statistics.median(completing)

    from app import create_app

    env = environment(url, instance, queue)
    app = create_app({
        "DATABASE_URL": url, "SECRET_KEY": "bench", "DATA_KEY": common.DATA_KEY, "INSTANCE_PATH": str(instance),
        "BROKER_URL": REDIS, "JOBS_QUEUE": queue,
    })
    from reports.models import Record

    with app.extensions["samtycke.sessionmaker"]() as s:
        waiting = list(s.scalars(sa.select(Record.id).where(Record.status == "pending")))
    first = Worker(env, folder / "worker-1.log")
    first.wait_ready()
    seal_all(app, waiting)  # warm-up: the signings' own records
    ids = add_records(app, args.single)
    one_seconds, _ = seal_all(app, ids)
    one_rate = len(ids) / one_seconds * 60

    second = Worker(env, folder / "worker-2.log")
    second.wait_ready()
    seal_all(app, add_records(app, 4))  # warm-up of the second worker
    ids = add_records(app, args.records)
    two_seconds, samples = seal_all(app, ids, [first, second])
    two_rate = len(ids) / two_seconds * 60
    first.stop()
    second.stop()

    early = [max(s[1][i] for s in samples if s[0] < 50) for i in range(2)]
    late = [max(s[1][i] for s in samples if s[0] >= len(ids) - 50) for i in range(2)]
    ratio = two_rate / one_rate
    poll_ratio = p50_completing / p50_pending
    growth = max((lt - e) / e for e, lt in zip(early, late, strict=True) if e)
    common.log("")
    common.log(f"records sealed per minute: 1 worker {one_rate:.0f} ({len(waiting)} warm-up, {args.single} timed); "
               f"2 workers {two_rate:.0f} ({args.records} records)")
    common.log(f"  2 workers / 1 worker = {ratio:.2f} (target >= {RATIO_TARGET} on 2 cores: "
               f"{'ok' if ratio >= RATIO_TARGET else 'MISSED'}; cores here: {os.cpu_count()})")
    for i in range(2):
        common.log(f"  worker {i + 1} pool RSS: first 50 records {early[i] / 1024:.0f} MiB, "
                   f"last 50 {late[i] / 1024:.0f} MiB")
    common.log(f"  RSS growth {growth * 100:+.1f} % (target < {MEMORY_GROWTH_TARGET * 100:.0f} %: "
               f"{'ok' if growth < MEMORY_GROWTH_TARGET else 'MISSED'}); a pool process is replaced after 200 tasks")
    common.log(f"subject's status poll p50 ({args.signings} signings, no worker running): "
               f"pending {p50_pending:.1f} ms, completing {p50_completing:.1f} ms = {poll_ratio:.2f}x "
               f"(target <= {POLL_TARGET}x: {'ok' if poll_ratio <= POLL_TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
