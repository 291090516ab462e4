"""Background work with real parts: `samtycke worker` processes on Redis and RabbitMQ, a worker
killed mid-task, a broker that is down at commit time, two beats, and `samtycke serve` alone.

Each test takes ``app`` and so runs on SQLite and PostgreSQL; the workers are separate processes
on the same database.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit import AuditEvent
from app.db import transaction, utcnow
from app.models import JobRun
from consent import signatures, signed_text
from consent.models import Signer
from consent.webhook_models import WebhookDelivery
from reports.models import Record
from tests.jobs.conftest import AMQP, REDIS, ROOT, Jobs, TcpProxy, api_for, free_port, wait_for
from tests.signing.signing_helpers import ADULT_PN, LABELS, TEMPLATE, Clock, Phone, poll_until, start, status, token_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def arrange(api: Any) -> dict[str, Any]:
    """Purposes, a template, a person and a request to sign."""
    for key, label in LABELS.items():
        assert api.post("/api/v1/purposes", json={"key": key, "label": label}).status_code == 201
    assert api.post("/api/v1/consent-templates", json=TEMPLATE).status_code == 201
    person = api.post("/api/v1/persons", json={"name": "Anna Andersson", "personal_number": ADULT_PN}).get_json()
    request = api.post("/api/v1/consent-requests", json={"person_id": person["id"], "template": "photo"}).get_json()
    return {"person": person, "request": request, "consent_id": request["consent_id"],
            "token": token_of(request["signers"][0]["signing_url"]), "signer_id": request["signers"][0]["id"]}


def sign(web: Flask, signer_id: str) -> None:
    """A BankID signature recorded by ``web`` (its commit queues the record and the webhooks)."""
    identity = signatures.VerifiedIdentity(
        method="bankid", personal_number=ADULT_PN, name="Anna Andersson",
        evidence={"orderRef": "o-1", "device": {"ipAddress": "192.0.2.5"}},
    )
    with web.app_context(), transaction(web.extensions["samtycke.sessionmaker"]) as s:
        signer = s.get(Signer, signer_id)
        view = signatures.signing_view(s, signer, locale="sv", now=utcnow())
        signatures.record_signature(
            s, web.extensions["samtycke.keyring"], signer_id=signer_id, identity=identity, purposes=["web"],
            visible_text=signed_text.visible_text(view, ["web"]), at=utcnow(),
        )


def records(app: Flask) -> list[Record]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return list(s.scalars(sa.select(Record).options(sa.orm.undefer(Record.pdf)).order_by(Record.created_at)))


def sealed(app: Flask) -> list[Record]:
    return [r for r in records(app) if r.status == "sealed"]


class Receiver:
    """A DAM endpoint counting what it receives."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    r = Receiver()
    yield r
    r.close()


def test_the_subjects_poll_answers_before_the_pdf_and_a_redis_worker_seals_it(
    app: Flask, jobs: Jobs, redis_db: int
) -> None:
    broker = f"{REDIS}/{redis_db}"
    web = jobs.web(broker)
    clock = Clock()
    web.config.update(SIGNING_CLOCK=clock, BANKID_SIM_CLOCK=clock)
    api = api_for(web)
    world = arrange(api)
    client = web.test_client()
    assert start(client, world["token"]).status_code == 200
    Phone(client).sign_qr(status(client, world["token"])["qr_data"])

    began = time.monotonic()
    done = poll_until(client, clock, world["token"], "complete")
    assert done["status"] == "complete"
    # No worker runs yet: the completing poll answered with the consent given and the PDF not made.
    assert time.monotonic() - began < 5
    assert api.get(f"/api/v1/consents/{world['consent_id']}").get_json()["status"] == "given"
    [waiting] = records(app)
    assert waiting.status == "pending" and waiting.pdf is None
    assert client.get(f"/s/{world['token']}/record.pdf").status_code == 404

    worker = jobs.worker(broker, "--concurrency=1")
    worker.wait_ready()
    [record] = wait_for(lambda: sealed(app), 60, "the worker to seal the record")
    assert record.attempts == 1 and record.pdf and hashlib.sha256(record.pdf).hexdigest() == record.sha256
    pdf = client.get(f"/s/{world['token']}/record.pdf")
    assert pdf.status_code == 200 and pdf.get_data() == record.pdf


@pytest.mark.parametrize("broker_kind", ["redis", "amqp"])
def test_a_worker_killed_mid_seal_is_replaced_and_the_record_is_sealed_once(
    app: Flask, jobs: Jobs, redis_db: int, broker_kind: str
) -> None:
    broker = f"{REDIS}/{redis_db}" if broker_kind == "redis" else AMQP
    web = jobs.web(broker)
    world = arrange(api_for(web))
    slow = jobs.worker(broker, "--concurrency=1", name="slow", JOBS_TEST_SEAL_DELAY=30)
    slow.wait_ready()
    sign(web, world["signer_id"])

    # The slow worker has claimed the record and sits in the middle of the task: kill it.
    wait_for(lambda: records(app) and records(app)[0].claimed_until is not None, 30, "the slow worker's claim")
    slow.kill()
    [record] = records(app)
    assert record.status == "pending" and record.attempts == 0

    other = jobs.worker(broker, "--concurrency=1", name="other")
    other.wait_ready()
    [done] = wait_for(lambda: sealed(app), 90, "another worker to seal the record")
    assert len(records(app)) == 1 and done.attempts == 1  # sealed once, by the second worker
    assert done.pdf and hashlib.sha256(done.pdf).hexdigest() == done.sha256
    time.sleep(2)  # any duplicate message would have been worked by now
    assert [(r.id, r.attempts, r.sha256) for r in records(app)] == [(done.id, 1, done.sha256)]


def test_a_broker_down_at_commit_delays_the_work_and_loses_none(
    app: Flask, jobs: Jobs, redis_db: int, receiver: Receiver
) -> None:
    proxy = TcpProxy(("127.0.0.1", 6379))
    broker = f"redis://127.0.0.1:{proxy.port}/{redis_db}"
    web = jobs.web(broker)
    api = api_for(web)
    world = arrange(api)
    assert api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["consent.given"]}).status_code == 201

    began = time.monotonic()
    sign(web, world["signer_id"])  # the broker is down: the publish fails after its short timeout
    assert time.monotonic() - began < 8
    assert api.get(f"/api/v1/consents/{world['consent_id']}").get_json()["status"] == "given"
    [waiting] = records(app)
    assert waiting.status == "pending"
    with app.extensions["samtycke.sessionmaker"]() as s:
        [delivery] = s.scalars(sa.select(WebhookDelivery)).all()
    assert delivery.status == "pending" and delivery.attempts == 0

    proxy.up()  # the broker is back; the sweep (beat) finds the rows nobody picked up
    try:
        worker = jobs.worker(broker, "--concurrency=2", "--beat")
        worker.wait_ready()
        wait_for(lambda: sealed(app) and receiver.bodies, 90, "the sweep to get the work done")
        time.sleep(5)  # two more sweeps: nothing is done twice
        [record] = records(app)
        assert record.status == "sealed" and record.attempts == 1
        assert [b["type"] for b in receiver.bodies] == ["consent.given"]
        with app.extensions["samtycke.sessionmaker"]() as s:
            [delivery] = s.scalars(sa.select(WebhookDelivery)).all()
        assert delivery.status == "delivered" and delivery.attempts == 1
    finally:
        proxy.down()


def test_two_workers_with_a_beat_each_run_each_periodic_job_once_per_period(
    app: Flask, jobs: Jobs, redis_db: int
) -> None:
    broker = f"{REDIS}/{redis_db}"
    extra = {"JOBS_SWEEP_SECONDS": 2, "JOBS_NOTIFY_EXPIRED_SECONDS": 2, "AUDIT_CHECKPOINT_SECONDS": 2}
    first = jobs.worker(broker, "--concurrency=1", "--beat", name="a", **extra)
    second = jobs.worker(broker, "--concurrency=1", "--beat", name="b", **extra)
    first.wait_ready()
    second.wait_ready()
    time.sleep(13)
    first.stop()
    second.stop()

    logs = first.output() + second.output()
    with app.extensions["samtycke.sessionmaker"]() as s:
        runs = s.execute(sa.select(JobRun.job, JobRun.period_start, JobRun.outcome)).all()
    for job in ("reports.sweep_records", "consent.sweep_webhooks", "consent.notify_expired",
                "reports.audit_checkpoint"):
        # Both beats sent the job each period ...
        assert first.output().count(f"Sending due task {job}") >= 3, first.output()[-2000:]
        assert second.output().count(f"Sending due task {job}") >= 3
        sent = logs.count(f"Sending due task {job} ")
        ran = [r for r in runs if r.job == job]
        skipped = sum(1 for line in logs.splitlines() if f"Task {job}[" in line and "already run this period" in line)
        # ... and it ran once per period: the other message of each period found the claim.
        assert 3 <= len(ran) <= 8
        assert len({r.period_start for r in ran}) == len(ran)
        assert all(r.outcome and not r.outcome.startswith("failed") for r in ran), ran
        assert skipped >= sent - len(ran) - 2  # the last period's messages may still be in flight at the stop
        assert len(ran) + skipped <= sent


def test_samtycke_serve_alone_seals_a_record_after_a_signing(
    app: Flask, jobs: Jobs, make_app: Any, tmp_path: Path
) -> None:
    """No broker: `samtycke serve` starts its own worker on the instance folder's queue."""
    instance = tmp_path / "instance"
    instance.mkdir()
    env = jobs.env(None)
    env["SAMTYCKE_INSTANCE_PATH"] = str(instance)
    env.pop("SAMTYCKE_JOBS_QUEUE", None)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        wait_for(answers, 60, "serve to answer")
        # A web process of the same installation: it only writes the queue's files after its commit.
        web = make_app(INSTANCE_PATH=str(instance), JOBS_EAGER=False, BROKER_URL=None)
        world = arrange(api_for(web))
        sign(web, world["signer_id"])
        assert list((instance / "broker" / "queue").iterdir()) or sealed(app)
        [record] = wait_for(lambda: sealed(app), 90, "serve's worker to seal the record")
        assert record.attempts == 1 and record.pdf and record.pdf.startswith(b"%PDF")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/queue", timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["broker"] == "embedded"
        assert {q["kind"]: q["pending"] for q in body["queues"]}["records"] == 0
    finally:
        os.killpg(server.pid, 15)
        server.wait(40)
        log.close()
    # The embedded worker went with the server.
    assert "background work: embedded worker" in (tmp_path / "serve.log").read_text()


def test_each_periodic_job_claims_its_period_once(app: Flask) -> None:
    from app import jobs as service

    now = utcnow()
    assert service.claim_period(app, "x.job", 60, now) is not None
    assert service.claim_period(app, "x.job", 60, now) is None  # another beat's message, same period
    assert service.claim_period(app, "x.job", 60, now.replace(year=now.year + 1)) is not None
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
