"""Background work in the ordinary suite (tasks run in this process): what the queue shows,
idempotent tasks, back-off, the sweep, and production's need for a broker."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from app import jobs
from app.cli import main as cli
from app.config import ConfigError, check_production
from app.db import utcnow
from reports import services, tasks
from reports.errors import TimestampUnavailable
from reports.models import Record
from tests.conftest import CliEnv, production_settings
from tests.jobs.test_jobs_workers import arrange, sign


def _records(app: Flask) -> list[Record]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return list(s.scalars(sa.select(Record).options(sa.orm.undefer(Record.pdf)).order_by(Record.created_at)))


def _age(app: Flask, seconds: float) -> None:
    """Make every record look ``seconds`` older (its message lost that long ago)."""
    with app.extensions["samtycke.sessionmaker"]() as s, s.begin():
        for record in s.scalars(sa.select(Record)):
            record.created_at -= timedelta(seconds=seconds)


def test_the_queue_shows_what_waits_in_healthz_queue_and_jobs_status(
    app: Flask, api: Any, held_jobs: Any, cli_env: CliEnv
) -> None:
    world = arrange(api)
    sign(app, world["signer_id"])
    assert held_jobs.tasks() == ["reports.seal_record"]
    _age(app, 90)

    body = app.test_client().get("/healthz/queue").get_json()
    records = {q["kind"]: q for q in body["queues"]}["records"]
    assert records["pending"] == 1 and records["failed"] == 0 and 89 < records["oldest_pending_seconds"] < 120
    assert body["broker"] == "embedded"
    assert set(body["periodic"]) == {"reports.sweep_records", "reports.audit_checkpoint", "consent.sweep_webhooks",
                                     "consent.notify_expired"}
    assert body["periodic"]["reports.audit_checkpoint"]["every_seconds"] == app.config["AUDIT_CHECKPOINT_SECONDS"]
    assert world["consent_id"] not in json.dumps(body) and api.tenant_id not in json.dumps(body)

    status = CliRunner().invoke(cli, ["jobs", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert {q["kind"]: q["pending"] for q in json.loads(status.output)["queues"]} == {
        "records": 1, "webhook_deliveries": 0}
    assert "records" in CliRunner().invoke(cli, ["jobs", "status"]).output

    held_jobs.run()
    body = app.test_client().get("/healthz/queue").get_json()
    assert {q["kind"]: q["pending"] for q in body["queues"]}["records"] == 0


def test_a_second_message_for_a_record_changes_nothing(app: Flask, api: Any) -> None:
    world = arrange(api)
    sign(app, world["signer_id"])
    [record] = _records(app)
    assert record.status == "sealed" and record.attempts == 1
    celery = jobs.celery_app(app)
    assert celery.tasks["reports.seal_record"].apply(args=(record.id,)).get() == "sealed"
    [again] = _records(app)
    assert (again.attempts, again.sha256, again.pdf) == (1, record.sha256, record.pdf)


def test_a_record_another_worker_holds_is_left_to_it(app: Flask, api: Any, held_jobs: Any) -> None:
    world = arrange(api)
    sign(app, world["signer_id"])
    [record] = _records(app)
    with app.extensions["samtycke.sessionmaker"]() as s, s.begin():
        s.get(Record, record.id).claimed_until = utcnow() + timedelta(seconds=60)
    result = services.produce(app, record.id)
    assert result.status == "pending" and result.claimed_until is not None
    assert _records(app)[0].attempts == 0
    # The holder died: once its lease has run out the record is claimed and sealed.
    with app.extensions["samtycke.sessionmaker"]() as s, s.begin():
        s.get(Record, record.id).claimed_until = utcnow() - timedelta(seconds=1)
    assert services.produce(app, record.id).status == "sealed"


def test_a_failing_record_backs_off_and_the_sweep_retries_it_when_due(
    app: Flask, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenTsa:
        level = "B-T"

        def seal(self, pdf: bytes, **kw: Any) -> bytes:
            raise TimestampUnavailable("timestamp authority failed: connection refused")

    real = services.sealer(app)
    monkeypatch.setitem(app.extensions, "samtycke.sealer", BrokenTsa())
    world = arrange(api)
    before = utcnow()
    sign(app, world["signer_id"])
    [record] = _records(app)
    assert record.status == "failed" and "timestamp authority failed" in (record.failure_reason or "")
    assert record.next_attempt_at is not None
    assert before + timedelta(seconds=55) < record.next_attempt_at < utcnow() + timedelta(seconds=65)
    assert tasks.sweep(app) == "0 of 0 records re-sent"  # not due yet

    monkeypatch.setitem(app.extensions, "samtycke.sealer", real)
    with app.extensions["samtycke.sessionmaker"]() as s, s.begin():
        s.get(Record, record.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    assert tasks.sweep(app) == "1 of 1 records re-sent"
    [record] = _records(app)
    assert record.status == "sealed" and record.attempts == 2 and record.next_attempt_at is None


def test_after_the_last_automatic_try_a_record_waits_failed_for_a_person(
    app: Flask, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenTsa:
        level = "B-T"

        def seal(self, pdf: bytes, **kw: Any) -> bytes:
            raise TimestampUnavailable("timestamp authority failed")

    monkeypatch.setitem(app.extensions, "samtycke.sealer", BrokenTsa())
    world = arrange(api)
    sign(app, world["signer_id"])
    for _ in range(len(services.BACKOFF)):
        with app.extensions["samtycke.sessionmaker"]() as s, s.begin():
            for r in s.scalars(sa.select(Record)):
                r.next_attempt_at = utcnow() - timedelta(seconds=1)
                r.nudged_at = None
        tasks.sweep(app)
    [record] = _records(app)
    assert record.status == "failed" and record.attempts == len(services.BACKOFF) + 1
    assert record.next_attempt_at is None
    assert tasks.sweep(app) == "0 of 0 records re-sent"
    assert app.test_client().get("/healthz/queue").get_json()["queues"][0] == {
        "kind": "records", "pending": 0, "retrying": 0, "failed": 1, "oldest_pending_seconds": None}


def test_a_lost_message_is_sent_again_by_the_sweep_once(app: Flask, api: Any, held_jobs: Any) -> None:
    world = arrange(api)
    sign(app, world["signer_id"])
    held_jobs.messages.clear()  # the broker lost it
    assert tasks.sweep(app) == "0 of 0 records re-sent"  # younger than the grace: its message may be on its way
    _age(app, app.config["JOBS_SWEEP_GRACE_SECONDS"] + 1)
    assert tasks.sweep(app) == "1 of 1 records re-sent"
    assert tasks.sweep(app) == "0 of 0 records re-sent"  # nudged a moment ago: not again yet
    held_jobs.run()
    [record] = _records(app)
    assert record.status == "sealed" and record.attempts == 1


def test_a_periodic_job_runs_once_per_period_however_many_beats_send_it(app: Flask) -> None:
    ran: list[int] = []
    assert jobs.run_periodic(app, "test.job", 3600, lambda: str(ran.append(1) or "done")) == "done"
    assert jobs.run_periodic(app, "test.job", 3600, lambda: str(ran.append(2) or "done")) == "already run this period"
    assert ran == [1]


def test_production_needs_a_broker(tmp_path: Any) -> None:
    settings = production_settings(tmp_path)
    check_production(settings)
    for broker in (None, "filesystem://", "sqla+sqlite:///x.db"):
        with pytest.raises(ConfigError, match="SAMTYCKE_BROKER_URL"):
            check_production({**settings, "BROKER_URL": broker})
    check_production({**settings, "BROKER_URL": "amqp://guest:guest@mq.internal:5672//"})
    with pytest.raises(ConfigError, match="for tests only"):
        check_production({**settings, "JOBS_EAGER": True})


def test_the_publish_gives_up_quickly_when_the_broker_is_down(make_app: Any, api: Any) -> None:
    import time

    web = make_app(JOBS_EAGER=False, BROKER_URL="redis://127.0.0.1:5799/4", JOBS_PUBLISH_TIMEOUT=1.0)
    began = time.monotonic()
    with web.app_context():
        assert jobs.send(web, "reports.seal_record", "no-such-record") is False
        # The next messages of this commit (and of the next few seconds) do not wait again.
        second = time.monotonic()
        assert jobs.send(web, "consent.deliver_webhook", "no-such-delivery") is False
        assert time.monotonic() - second < 0.1
    assert time.monotonic() - began < 5
