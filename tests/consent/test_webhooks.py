"""Webhooks: subscriptions over the API, the outbox filled by consent events, signed delivery
to a real local HTTP receiver, back-off and the cron commands (deliver, notify-expired)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from app.audit import AuditEvent
from app.cli import main
from app.db import utcnow
from app.errors import Unprocessable
from consent import personal_numbers, webhook_sending, webhooks
from consent.models import Consent
from consent.webhook_models import Webhook, WebhookDelivery, WebhookExpiryMark
from consent.webhook_sending import BACKOFF, Sender, attempt, is_public_address
from tests.conftest import CliEnv
from tests.consent.arrange import ADULT_PN, add_person, add_purposes, audit_types, give, make_template, tx, years_ago

EVENT_FIELDS = {"id", "type", "occurred_at", "tenant_id", "data"}
CONSENT_DATA_FIELDS = {"consent_id", "person_id", "asset_ids", "purposes", "status"}


# --- a real HTTP receiver ---------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        self.hold: threading.Event | None = None  # when set, answer only once the test releases it
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                if owner.delay:
                    time.sleep(owner.delay)
                if owner.hold is not None:
                    owner.hold.wait(15)
                try:
                    self.send_response(owner.status)
                    if 300 <= owner.status < 400:
                        self.send_header("Location", owner.url + "/elsewhere")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up waiting (timeout tests)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/samtycke"
        # shutdown() waits for serve_forever's next poll: 0.5 s by default, at the end of every test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()




def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


# --- arranging ----------------------------------------------------------------------


@pytest.fixture
def acme(app: Flask, api: Any) -> Any:
    add_purposes(app, api.tenant_id, "web", "print")
    make_template(api)
    return api


def adult(app: Flask, api: Any) -> str:
    return add_person(app, api.tenant_id, "Anna Andersson", birth_date=years_ago(30), pn=ADULT_PN)


def subscribe(api: Any, url: str, *events: str, **extra: Any) -> dict[str, Any]:
    resp = api.post("/api/v1/webhooks", json={"url": url, "events": list(events), **extra})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.get_json())


def withdraw(api: Any, consent_id: str) -> None:
    resp = api.post(f"/api/v1/consents/{consent_id}/withdraw", json={"reason": "changed my mind"})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def deliveries(app: Flask, webhook_id: str | None = None) -> list[WebhookDelivery]:
    with tx(app) as s:
        query = sa.select(WebhookDelivery).order_by(WebhookDelivery.created_at)
        if webhook_id:
            query = query.where(WebhookDelivery.webhook_id == webhook_id)
        return list(s.scalars(query))


def verify_signature(secret: str, header: str, body: bytes) -> None:
    """What a receiver does: recompute HMAC-SHA256(secret, "<t>.<body>") and check the age."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    t = int(fields["t"])
    assert abs(time.time() - t) < 300
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"])


# --- delivery -----------------------------------------------------------------------


def test_withdrawal_reaches_the_receiver_signed_and_without_personal_data(
    app: Flask, acme: Any, receiver: Receiver
) -> None:
    hook = subscribe(acme, receiver.url, "consent.withdrawn")
    person = adult(app, acme)
    consent_id = give(app, acme, person, purposes=["web"])
    withdraw(acme, consent_id)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers, body = request["headers"], request["body"]
    assert request["path"] == "/hooks/samtycke"
    assert headers["content-type"] == "application/json"
    assert headers["samtycke-event"] == "consent.withdrawn"
    verify_signature(hook["secret"], headers["samtycke-signature"], body)
    with pytest.raises(AssertionError):
        verify_signature("whsec_wrong", headers["samtycke-signature"], body)

    event = json.loads(body)
    assert set(event) == EVENT_FIELDS
    assert event["id"] == headers["samtycke-delivery"]
    assert event["type"] == "consent.withdrawn" and event["tenant_id"] == acme.tenant_id
    assert event["occurred_at"].endswith("+00:00")
    assert event["data"] == {
        "consent_id": consent_id, "person_id": person, "asset_ids": None, "purposes": ["web"], "status": "withdrawn",
    }
    text = body.decode()
    for personal in ("Anna", "Andersson", ADULT_PN, ADULT_PN[2:], personal_numbers.mask(ADULT_PN), "changed my mind"):
        assert personal not in text

    listed = acme.get(f"/api/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert len(listed) == 1
    assert listed[0]["id"] == event["id"]
    assert listed[0]["event"] == "consent.withdrawn"
    assert listed[0]["status"] == "delivered" and listed[0]["attempts"] == 1
    assert listed[0]["last_status_code"] == 200 and listed[0]["last_error"] is None
    assert listed[0]["next_attempt_at"] is None


def test_failing_receiver_backs_off_and_cron_delivers_later(
    app: Flask, acme: Any, receiver: Receiver, cli_env: CliEnv
) -> None:
    hook = subscribe(acme, receiver.url, "consent.withdrawn")
    consent_id = give(app, acme, adult(app, acme))
    receiver.status = 500
    before = utcnow()
    withdraw(acme, consent_id)

    [delivery] = deliveries(app)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"
    assert delivery.next_attempt_at is not None
    assert before + timedelta(seconds=55) < delivery.next_attempt_at < utcnow() + timedelta(seconds=65)

    # Not due yet: the cron run leaves it alone.
    assert "0 deliveries tried" in cli("webhooks", "deliver").output
    assert len(receiver.requests) == 1

    receiver.status = 204
    with tx(app) as s:
        s.get(WebhookDelivery, delivery.id).next_attempt_at = utcnow() - timedelta(seconds=1)
    output = cli("webhooks", "deliver").output
    assert "1 deliveries tried: 1 delivered" in output

    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first["body"] == second["body"]  # the same event, byte for byte
    assert second["headers"]["samtycke-delivery"] == delivery.id
    verify_signature(hook["secret"], second["headers"]["samtycke-signature"], second["body"])
    [done] = deliveries(app)
    assert done.status == "delivered" and done.attempts == 2 and done.last_status_code == 204
    assert done.next_attempt_at is None and done.delivered_at is not None


def test_back_off_schedule_then_failed(app: Flask, acme: Any, receiver: Receiver) -> None:
    subscribe(acme, receiver.url, "consent.withdrawn")
    consent_id = give(app, acme, adult(app, acme))
    receiver.status = 503
    withdraw(acme, consent_id)
    [delivery] = deliveries(app)
    sender = Sender.from_app(app)

    # Not due: nothing is sent.
    assert attempt(sender, delivery.id, now=delivery.last_attempt_at).status == "skipped"
    assert len(receiver.requests) == 1

    due = delivery.next_attempt_at
    assert due is not None and delivery.last_attempt_at is not None
    assert due == delivery.last_attempt_at + BACKOFF[0]
    for wait in BACKOFF[1:]:
        result = attempt(sender, delivery.id, now=due)
        assert result.status == "pending" and result.status_code == 503
        [row] = deliveries(app)
        assert row.next_attempt_at == due + wait
        due = row.next_attempt_at
    final = attempt(sender, delivery.id, now=due)
    assert final.status == "failed"
    [row] = deliveries(app)
    assert row.status == "failed" and row.attempts == len(BACKOFF) + 1 and row.next_attempt_at is None
    assert len(receiver.requests) == len(BACKOFF) + 1
    assert attempt(sender, delivery.id, now=due + timedelta(days=1)).status == "skipped"


def test_redeliver_queues_a_failed_delivery_again(app: Flask, acme: Any, receiver: Receiver) -> None:
    hook = subscribe(acme, receiver.url, "consent.withdrawn")
    consent_id = give(app, acme, adult(app, acme))
    receiver.status = 500
    withdraw(acme, consent_id)
    [delivery] = deliveries(app)
    with tx(app) as s:
        row = s.get(WebhookDelivery, delivery.id)
        row.status, row.next_attempt_at = "failed", None

    receiver.status = 200
    resp = acme.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery.id}/redeliver")
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "pending"
    [row] = deliveries(app)
    assert row.status == "delivered" and len(receiver.requests) == 2
    assert "webhook.redelivery" in audit_types(app, acme.tenant_id)
    assert acme.post(f"/api/v1/webhooks/{hook['id']}/deliveries/nope/redeliver").status_code == 404


def test_redirects_are_not_followed(app: Flask, acme: Any, receiver: Receiver) -> None:
    subscribe(acme, receiver.url, "consent.withdrawn")
    consent_id = give(app, acme, adult(app, acme))
    receiver.status = 302
    withdraw(acme, consent_id)
    assert [r["path"] for r in receiver.requests] == ["/hooks/samtycke"]
    [row] = deliveries(app)
    assert row.status == "pending" and row.last_status_code == 302


def test_sending_happens_after_the_answer_not_in_it(
    app: Flask, acme: Any, receiver: Receiver, held_jobs: Any
) -> None:
    """The request only queues (one message per delivery, after its commit); a worker sends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    dead = subscribe(acme, f"http://127.0.0.1:{closed_port}/hook", "consent.withdrawn")
    slow = subscribe(acme, receiver.url, "consent.withdrawn")
    consent_id = give(app, acme, adult(app, acme))
    held_jobs.run()

    resp = acme.post(f"/api/v1/consents/{consent_id}/withdraw", json={})
    assert resp.status_code == 200 and resp.get_json()["status"] == "withdrawn"
    # The answer is out and nothing was sent: the deliveries wait for their worker.
    assert receiver.requests == []
    assert {d.status for d in deliveries(app)} == {"pending"} and len(deliveries(app)) == 2
    assert held_jobs.tasks().count("consent.deliver_webhook") == 2
    held_jobs.run()

    [refused] = deliveries(app, dead["id"])
    assert refused.status == "pending" and refused.last_status_code is None and refused.last_error
    [done] = deliveries(app, slow["id"])
    assert done.status == "delivered" and done.attempts == 1
    assert acme.get(f"/api/v1/consents/{consent_id}").get_json()["status"] == "withdrawn"


def test_a_slow_receiver_times_out(app: Flask, acme: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    subscribe(acme, receiver.url, "consent.withdrawn")
    monkeypatch.setattr(webhook_sending, "TIMEOUT_SECONDS", 0.5)
    receiver.delay = 1.5
    withdraw(acme, give(app, acme, adult(app, acme)))
    [row] = deliveries(app)
    assert row.status == "pending" and row.last_status_code is None
    assert row.last_error == "timed out after 0.5 s"


def test_only_subscribed_events_are_queued_and_rollbacks_queue_nothing(
    app: Flask, acme: Any, receiver: Receiver
) -> None:
    subscribe(acme, receiver.url, "consent.revoked")
    person = adult(app, acme)
    first = give(app, acme, person)
    withdraw(acme, first)
    assert receiver.requests == [] and deliveries(app) == []

    # A refused change (409) rolls back: nothing queued, nothing sent.
    assert acme.post(f"/api/v1/consents/{first}/revoke", json={"reason": "x"}).status_code == 409
    assert receiver.requests == [] and deliveries(app) == []

    second = give(app, acme, person)
    assert acme.post(f"/api/v1/consents/{second}/revoke", json={"reason": "photo removed"}).status_code == 200
    assert [e["type"] for e in receiver.events()] == ["consent.revoked"]
    assert receiver.events()[0]["data"]["consent_id"] == second
    assert "photo removed" not in receiver.requests[0]["body"].decode()


def test_consent_given_outside_a_request_waits_for_cron(
    app: Flask, acme: Any, receiver: Receiver, cli_env: CliEnv
) -> None:
    hook = subscribe(acme, receiver.url, "consent.given", "consent.withdrawn")
    person = adult(app, acme)
    consent_id = give(app, acme, person, purposes=["web", "print"])  # signed with no app context
    assert receiver.requests == []
    [queued] = deliveries(app)
    assert queued.status == "pending" and queued.event_type == "consent.given" and queued.attempts == 0

    assert "1 deliveries tried: 1 delivered" in cli("webhooks", "deliver").output
    [event] = receiver.events()
    assert event["type"] == "consent.given"
    assert event["data"]["consent_id"] == consent_id and event["data"]["status"] == "given"
    assert event["data"]["purposes"] == ["web", "print"]
    first = receiver.requests[0]
    verify_signature(hook["secret"], first["headers"]["samtycke-signature"], first["body"])
    assert "0 deliveries tried" in cli("webhooks", "deliver").output
    assert len(receiver.requests) == 1


def test_erasure_is_announced_to_the_right_tenant_only(
    app: Flask, acme: Any, other_api: Any, receiver: Receiver
) -> None:
    subscribe(acme, receiver.url, "person.erased")
    theirs = add_person(app, other_api.tenant_id, "Olle Other", birth_date=years_ago(40))
    assert other_api.delete(f"/api/v1/persons/{theirs}").status_code == 204
    assert receiver.requests == []

    ours = adult(app, acme)
    assert acme.delete(f"/api/v1/persons/{ours}").status_code == 204
    [event] = receiver.events()
    assert event["type"] == "person.erased" and event["tenant_id"] == acme.tenant_id
    assert event["data"]["person_id"] == ours and event["data"]["status"] == "erased"
    assert "Anna" not in receiver.requests[0]["body"].decode()


# --- expiry -------------------------------------------------------------------------


def test_notify_expired_announces_each_expired_consent_once(
    app: Flask, acme: Any, receiver: Receiver, cli_env: CliEnv, held_jobs: Any
) -> None:
    hook = subscribe(acme, receiver.url, "consent.expired")
    person = adult(app, acme)
    expired = give(app, acme, person)
    still_valid = give(app, acme, person)
    withdrawn = give(app, acme, person)
    withdraw(acme, withdrawn)
    with tx(app) as s:
        for consent_id in (expired, withdrawn):
            s.get(Consent, consent_id).valid_until = utcnow() - timedelta(hours=1)

    held_jobs.run()
    assert cli("consents", "notify-expired").output.strip() == "1 expired consents notified"
    # The command queued the delivery for a worker after its commit; here the worker runs it.
    assert receiver.requests == [] and held_jobs.tasks() == ["consent.deliver_webhook"]
    held_jobs.run()
    [event] = receiver.events()
    assert event["type"] == "consent.expired"
    assert event["data"] == {
        "consent_id": expired, "person_id": person, "asset_ids": None, "purposes": ["web", "print"],
        "status": "expired",
    }
    first = receiver.requests[0]
    verify_signature(hook["secret"], first["headers"]["samtycke-signature"], first["body"])

    assert cli("consents", "notify-expired").output.strip() == "0 expired consents notified"
    assert len(receiver.requests) == 1
    with tx(app) as s:
        refs = [
            e.refs for e in s.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.tenant_id == acme.tenant_id, AuditEvent.type == "consent.expired")
            )
        ]
        marks = list(s.scalars(sa.select(WebhookExpiryMark.consent_id)))
    assert refs == [{"consent_id": expired, "person_id": person}]
    assert marks == [expired]
    assert acme.get(f"/api/v1/consents/{still_valid}").get_json()["status"] == "given"
    assert acme.get(f"/api/v1/consents/{expired}").get_json()["status"] == "expired"


# --- the subscription API -------------------------------------------------------------


def test_create_shows_the_secret_once_and_stores_it_encrypted(app: Flask, acme: Any, receiver: Receiver) -> None:
    resp = acme.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["consent.expired", "consent.withdrawn", "consent.withdrawn"],
              "description": "DAM production"},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    created = resp.get_json()
    assert set(created) == {"id", "url", "events", "description", "created_at", "secret"}
    assert created["url"] == receiver.url and created["description"] == "DAM production"
    assert created["events"] == ["consent.withdrawn", "consent.expired"]
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    assert "+00:00" in created["created_at"]

    one = acme.get(f"/api/v1/webhooks/{created['id']}").get_json()
    listed = acme.get("/api/v1/webhooks").get_json()["items"]
    assert "secret" not in one and all("secret" not in item for item in listed)
    assert one == {k: v for k, v in created.items() if k != "secret"}
    assert [item["id"] for item in listed] == [created["id"]]

    with tx(app) as s:
        row = s.get(Webhook, created["id"])
        stored = [str(getattr(row, c.key)) for c in Webhook.__table__.columns]
        assert all(created["secret"] not in value for value in stored)
        keyring = app.extensions["samtycke.keyring"]
        assert keyring.decrypt(row.secret_encrypted, context=acme.tenant_id) == created["secret"]
        with pytest.raises(Exception):  # noqa: B017 - bound to the tenant: another context fails
            keyring.decrypt(row.secret_encrypted, context="another-tenant")
        audit = s.scalar(
            sa.select(AuditEvent).where(AuditEvent.tenant_id == acme.tenant_id, AuditEvent.type == "webhook.created")
        )
        assert audit is not None and audit.refs == {"webhook_id": created["id"]}


def test_delete_unsubscribes(app: Flask, acme: Any, receiver: Receiver) -> None:
    hook = subscribe(acme, receiver.url, "consent.withdrawn")
    resp = acme.delete(f"/api/v1/webhooks/{hook['id']}")
    assert resp.status_code == 204 and resp.get_data() == b""
    assert acme.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert acme.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert acme.get("/api/v1/webhooks").get_json()["items"] == []
    withdraw(acme, give(app, acme, adult(app, acme)))
    assert receiver.requests == [] and deliveries(app) == []
    with tx(app) as s:
        refs = s.scalar(
            sa.select(AuditEvent.refs)
            .where(AuditEvent.tenant_id == acme.tenant_id, AuditEvent.type == "webhook.deleted")
        )
    assert refs == {"webhook_id": hook["id"]}


def test_another_tenants_webhook_is_not_found(app: Flask, acme: Any, other_api: Any, receiver: Receiver) -> None:
    hook = subscribe(acme, receiver.url, "consent.withdrawn")
    for resp in (
        other_api.get(f"/api/v1/webhooks/{hook['id']}"),
        other_api.delete(f"/api/v1/webhooks/{hook['id']}"),
        other_api.get(f"/api/v1/webhooks/{hook['id']}/deliveries"),
        other_api.post(f"/api/v1/webhooks/{hook['id']}/deliveries/x/redeliver"),
    ):
        assert resp.status_code == 404
        assert resp.content_type == "application/problem+json"
        assert hook["url"] not in resp.get_data(as_text=True)
    assert other_api.get("/api/v1/webhooks").get_json()["items"] == []
    assert acme.get(f"/api/v1/webhooks/{hook['id']}").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"url": "RECEIVER", "events": ["consent.exploded"]},
        {"url": "RECEIVER", "events": []},
        {"url": "RECEIVER", "events": "consent.given"},
        {"url": "RECEIVER", "events": [None]},
        {"url": "RECEIVER"},
        {"events": ["consent.given"]},
        {"url": None, "events": ["consent.given"]},
        {"url": "ftp://dam.example/hook", "events": ["consent.given"]},
        {"url": "http://user:secret@dam.example/hook", "events": ["consent.given"]},
        {"url": "https://dam.example/" + "a" * 2000, "events": ["consent.given"]},
        {"url": "not a url", "events": ["consent.given"]},
        {"url": "http://dam.example:99999/hook", "events": ["consent.given"]},
        {"url": "http://dam.example/hook#part", "events": ["consent.given"]},
        {"url": "RECEIVER", "events": ["consent.given"], "description": "   "},
        {"url": "RECEIVER", "events": ["consent.given"], "secret": "mine"},
        [],
    ],
)
def test_bad_input_is_422_and_writes_nothing(app: Flask, acme: Any, receiver: Receiver, body: Any) -> None:
    if isinstance(body, dict) and body.get("url") == "RECEIVER":
        body = {**body, "url": receiver.url}
    resp = acme.post("/api/v1/webhooks", json=body)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    problem = resp.get_json()
    assert resp.content_type == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(problem) and problem["status"] == 422
    assert acme.get("/api/v1/webhooks").get_json()["items"] == []
    assert "webhook.created" not in audit_types(app, acme.tenant_id)


def test_malformed_json_and_bad_limits(app: Flask, acme: Any, receiver: Receiver) -> None:
    resp = acme.post("/api/v1/webhooks", data="{", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.content_type == "application/problem+json"
    hook = subscribe(acme, receiver.url, "consent.withdrawn")
    for limit in ("0", "501", "many"):
        bad = acme.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit={limit}")
        assert bad.status_code == 422 and bad.content_type == "application/problem+json"
    for odd in ("x" * 300, "%F0%9F%92%A5", "%00"):
        resp = acme.get(f"/api/v1/webhooks/{odd}")
        # A NUL may be refused for the whole address (400) before routing; never a 500.
        assert resp.status_code in (404, 400) if odd == "%00" else resp.status_code == 404
        assert resp.content_type == "application/problem+json"

    person = adult(app, acme)
    withdraw(acme, give(app, acme, person))
    withdraw(acme, give(app, acme, person))
    items = acme.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=1").get_json()["items"]
    assert len(items) == 1 and len(deliveries(app)) == 2


def test_at_most_ten_webhooks_per_tenant(app: Flask, acme: Any, other_api: Any, receiver: Receiver) -> None:
    for n in range(10):
        subscribe(acme, f"{receiver.url}/{n}", "consent.given")
    resp = acme.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["consent.given"]})
    assert resp.status_code == 409 and resp.content_type == "application/problem+json"
    assert len(acme.get("/api/v1/webhooks").get_json()["items"]) == 10
    subscribe(other_api, receiver.url, "consent.given")  # the limit is per tenant


def test_every_operation_needs_webhooks_write(app: Flask, make_api: Any, receiver: Receiver) -> None:
    reader = make_api("acme", scopes="consents:read consents:write")
    assert reader.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["consent.given"]}).status_code == 403
    assert reader.get("/api/v1/webhooks").status_code == 403
    assert reader.get("/api/v1/webhooks/any").status_code == 403
    assert reader.delete("/api/v1/webhooks/any").status_code == 403
    assert reader.get("/api/v1/webhooks/any/deliveries").status_code == 403
    assert app.test_client().get("/api/v1/webhooks").status_code == 401
    with tx(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 0


def test_openapi_documents_the_webhook_paths(app: Flask) -> None:
    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/webhooks"])
    assert {"get", "delete"} <= set(paths["/api/v1/webhooks/{webhook_id}"])
    assert "get" in paths["/api/v1/webhooks/{webhook_id}/deliveries"]


# --- production rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://dam.example/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://[2002:a9fe:a9fe::1]/latest/meta-data",  # 6to4 around 169.254.169.254
        "https://[2001:0:4136:e378:8000:63bf:3f57:fef5]/hook",  # Teredo, client 192.168.1.10
        "https://[64:ff9b::a00:8]/hook",  # NAT64 around 10.0.0.8
        "https://[fec0::1]/hook",  # site-local
        "https://192.0.0.8/hook",  # IPv4 dummy address
    ],
)
def test_production_needs_https_to_a_public_host(
    app: Flask, acme: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setitem(app.config, "ENV", "production")
    resp = acme.post("/api/v1/webhooks", json={"url": url, "events": ["consent.given"]})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert "url" in resp.get_json()["errors"]
    assert acme.get("/api/v1/webhooks").get_json()["items"] == []


def test_production_accepts_public_https(app: Flask, acme: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "ENV", "production")
    assert subscribe(acme, "https://dam.example/hooks?tenant=7", "consent.given")["url"] == (
        "https://dam.example/hooks?tenant=7"
    )


def test_production_refuses_to_send_to_private_addresses(
    app: Flask, acme: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe(acme, receiver.url, "consent.withdrawn")  # allowed in development
    consent_id = give(app, acme, adult(app, acme))
    monkeypatch.setitem(app.config, "ENV", "production")
    withdraw(acme, consent_id)
    assert receiver.requests == []
    [row] = deliveries(app)
    assert row.status == "pending" and row.last_status_code is None
    assert row.last_error == "refused: the host resolves to a non-public address"


# Teredo addresses below: server 65.54.227.120; the client part is stored XOR 0xffff...
# so 3f57:fef5 is 192.168.1.10, f7f7:fefe is 8.8.1.1 and ff00:fffe is 0.255.0.1.
@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("224.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test; nothing binds to it
        ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("::", False),
        ("nonsense", False), ("8.8.8.8", True), ("2606:4700:4700::1111", True),
        # IPv4-mapped
        ("::ffff:10.0.0.1", False), ("::ffff:169.254.169.254", False), ("::ffff:8.8.8.8", True),
        # 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD
        ("2002:7f00:1::1", False), ("2002:c0a8:101::1", False), ("2002:a00:1::", False),
        ("2002:a9fe:a9fe::1", False), ("2002:6440:1::1", False), ("2002:e000:1::1", False),
        ("2002:0:0::1", False), ("2002:808:808::1", True),
        # Teredo: the server or the client may be private
        ("2001:0:4136:e378:8000:63bf:3f57:fef5", False), ("2001:0:a00:1:8000:63bf:f7f7:fefe", False),
        ("2001:0:4136:e378:8000:63bf:ff00:fffe", False), ("2001:0:4136:e378:8000:63bf:f7f7:fefe", True),
        # NAT64 (well-known prefix) judged by the IPv4 address it translates to
        ("64:ff9b::7f00:1", False), ("64:ff9b::192.168.1.1", False), ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::8.8.8.8", True),
        # local-use NAT64 and IPv4-compatible addresses are reserved whatever they embed
        ("64:ff9b:1::c0a8:101", False), ("64:ff9b:1::808:808", False),
        ("::192.168.1.1", False), ("::127.0.0.1", False), ("::8.8.8.8", False),
        ("2002:c0a8:101::1%eth0", False),
        # IANA special-purpose IPv4 ranges that are not globally reachable
        ("192.0.0.1", False), ("192.0.0.8", False), ("192.0.0.170", False), ("192.0.0.255", False),
        ("192.0.2.1", False), ("192.88.99.1", False), ("198.18.0.1", False), ("198.19.255.255", False),
        ("198.51.100.7", False), ("203.0.113.9", False), ("240.0.0.1", False), ("255.255.255.255", False),
        ("0.1.2.3", False), ("100.127.255.254", False), ("172.31.255.255", False), ("239.255.255.250", False),
        # ... and their neighbours, which are
        ("192.0.1.1", True), ("192.88.100.1", True), ("198.17.255.255", True), ("198.20.0.1", True),
        ("100.128.0.1", True), ("172.32.0.1", True), ("223.255.255.254", True), ("1.1.1.1", True),
        # IPv6: site-local, documentation (old and RFC 9637), SRv6 SIDs, discard, IETF assignments, ULA,
        # multicast, IPv4-translated
        ("fec0::1", False), ("feff:ffff::1", False), ("2001:db8::1", False), ("3fff::1", False),
        ("3fff:fff::1", False), ("5f00::1", False), ("100::1", False), ("100:0:0:1::1", False),
        ("2001:2::1", False), ("2001:10::1", False), ("2001:20::1", False), ("2001:1::1", False),
        ("fd12:3456::1", False), ("ff02::1", False), ("ff0e::1", False), ("::ffff:0:8.8.8.8", False),
        ("2001:200::1", True), ("2a00:1450:4001::200e", True), ("2c0f:fb50::1", True),
        ("4000::1", False), ("e000::1", False),  # not allocated (outside 2000::/3)
        # embedded IPv4 forms judged by the special-purpose IPv4 they lead to
        ("::ffff:192.0.0.8", False), ("64:ff9b::192.0.0.8", False), ("2002:c000:8::1", False),
        ("::ffff:198.18.0.1", False), ("64:ff9b::203.0.113.1", False),
    ],
)
def test_public_address_rule(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def _resolver(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return getaddrinfo


def test_production_connects_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("93.184.215.14"))
    target = webhook_sending.pin_public_target("https://dam.example:8443/hooks?x=1")
    assert target.url == "https://93.184.215.14:8443/hooks?x=1"
    assert target.headers == {"Host": "dam.example:8443"}
    assert target.extensions == {"sni_hostname": "dam.example"}  # the certificate is checked for the name


@pytest.mark.parametrize("address", ["2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:3f57:fef5", "64:ff9b::a00:5"])
def test_production_refuses_a_name_resolving_to_a_tunnelled_private_address(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(address))
    with pytest.raises(webhook_sending.UnsafeTarget):
        webhook_sending.pin_public_target("https://tunnel.example/hook")


@pytest.mark.parametrize(
    "url",
    ["https://::1/hook", "https://2001:db8::1/hook", "https://::ffff:127.0.0.1:443/hook", "https://fe80::1/x"],
)
@pytest.mark.parametrize("env", ["development", "production"])
def test_an_ipv6_literal_without_brackets_is_refused(
    app: Flask, acme: Any, monkeypatch: pytest.MonkeyPatch, url: str, env: str
) -> None:
    monkeypatch.setitem(app.config, "ENV", env)
    resp = acme.post("/api/v1/webhooks", json={"url": url, "events": ["consent.given"]})
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "url" in resp.get_json()["errors"]
    # The rule itself, whatever the schema in front of it lets through.
    with pytest.raises(Unprocessable, match="must be in brackets"):
        webhooks.check_url(url, production=env == "production")
    with pytest.raises(webhook_sending.UnsafeTarget, match="brackets"):
        webhook_sending.pin_public_target(url)


def test_a_bracketed_ipv6_target_keeps_its_brackets_in_host_and_sends_no_ip_as_sni(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("2a00:1450:4001::200e"))
    target = webhook_sending.pin_public_target("https://[2a00:1450:4001::200e]:8443/hooks")
    assert target.url == "https://[2a00:1450:4001::200e]:8443/hooks"
    assert target.headers == {"Host": "[2a00:1450:4001::200e]:8443"}
    assert target.extensions == {}


def test_production_refuses_a_name_with_any_private_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("93.184.215.14", "10.0.0.5"))
    with pytest.raises(webhook_sending.UnsafeTarget):
        webhook_sending.pin_public_target("https://rebind.example/hook")
