"""Two status polls racing at the moment BankID says "complete" record one signature
and one ``signature.recorded`` event (threads, on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from signing_helpers import ADULT_PN, Clock, Phone, World, poll_until, start, status

from app.audit import AuditEvent
from app.db import transaction
from consent.models import Signature, Signer
from signing import bankid_flow
from signing.bankid.client import parse_collect
from signing.models import SignatureOrder


def _counts(app: Any) -> tuple[int, int]:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        signatures = s.scalar(sa.select(sa.func.count()).select_from(Signature)) or 0
        recorded = s.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.type == "signature.recorded")
        ) or 0
        return signatures, recorded


def _race(app: Any, token: str) -> list[dict[str, Any]]:
    """Two pollers, each with its own client, released at the same instant."""
    barrier = threading.Barrier(2)
    answers: list[dict[str, Any]] = []
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            own = app.test_client()
            barrier.wait(timeout=10)
            resp = own.get(f"/s/{token}/bankid/status")
            assert resp.status_code == 200, resp.get_data(as_text=True)
            answers.append(resp.get_json())
        except BaseException as exc:  # reported in the test's own thread
            failures.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return answers


def test_two_status_polls_at_completion_record_one_signature(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    for round_ in range(3):
        token = world.adult(pn=None) if round_ else world.adult()
        assert start(client, token, "other").status_code == 200
        Phone(client).sign_qr(status(client, token)["qr_data"])
        clock.advance(3)
        answers = _race(app, token)
        assert len(answers) == 2 and "complete" in {a["status"] for a in answers}
        # The poll that lost the race learns the outcome on its next look.
        assert poll_until(client, clock, token, "complete")["status"] == "complete"
        assert _counts(app) == (round_ + 1, round_ + 1)


class _TwiceComplete:
    """A BankID that answers "complete" to every collect (as a retried collect may see),
    holding both pollers until each has read the order as pending."""

    def __init__(self, order_ref: str, barrier: threading.Barrier) -> None:
        self.order_ref = order_ref
        self.barrier = barrier

    def collect(self, order_ref: str) -> Any:
        self.barrier.wait(timeout=10)
        return parse_collect(
            {
                "orderRef": order_ref,
                "status": "complete",
                "completionData": {
                    "user": {
                        "personalNumber": ADULT_PN, "name": "Anna Andersson", "givenName": "Anna",
                        "surname": "Andersson",
                    },
                    "device": {"ipAddress": "192.0.2.1", "uhi": "uhi"},
                    "bankIdIssueDate": "2024-01-01",
                    "stepUp": {"mrtd": False},
                    "signature": "PFhNTD4=",
                    "ocspResponse": "MIIB",
                },
            }
        )

    def cancel(self, order_ref: str) -> None:
        return None


def test_idempotent_completion_when_bankid_answers_complete_twice(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    token = world.adult()
    assert start(client, token, "other").status_code == 200
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        order = s.scalars(sa.select(SignatureOrder)).one()
        signer_id, order_ref = order.signer_id, order.order_ref or ""
    stub = _TwiceComplete(order_ref, threading.Barrier(2))
    states: list[str] = []
    failures: list[BaseException] = []
    keyring = app.extensions["samtycke.keyring"]

    def poll() -> None:
        try:
            with app.test_request_context(), transaction(app.extensions["samtycke.sessionmaker"]) as s:
                signer = s.get(Signer, signer_id)
                state = bankid_flow.poll(
                    s, keyring, stub, signer=signer, locale="sv",  # type: ignore[arg-type]
                    now=clock.now + timedelta(seconds=5),
                )
                states.append(state.status)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert states == ["complete", "complete"]
    assert _counts(app) == (1, 1)
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        order = s.scalars(sa.select(SignatureOrder)).one()
        assert order.status == "complete" and order.signature_id is not None


# --- decline racing the status polls that complete the signature ------------------------------

DECLINES = 3
POLLS = 3
ROUNDS = 8


def _decline_or_poll(app: Any, token: str) -> list[tuple[str, int, dict[str, Any]]]:
    """``DECLINES`` declines and ``POLLS`` status polls on one link, released at the same instant."""
    barrier = threading.Barrier(DECLINES + POLLS)
    answers: list[tuple[str, int, dict[str, Any]]] = []
    failures: list[BaseException] = []

    def act(kind: str) -> None:
        try:
            own = app.test_client()
            barrier.wait(timeout=10)
            if kind == "decline":
                resp = own.post(f"/s/{token}/decline", json={})
            else:
                resp = own.get(f"/s/{token}/bankid/status")
            answers.append((kind, resp.status_code, resp.get_json(silent=True) or {}))
        except BaseException as exc:  # reported in the test's own thread
            failures.append(exc)

    threads = [threading.Thread(target=act, args=("decline",)) for _ in range(DECLINES)]
    threads += [threading.Thread(target=act, args=("poll",)) for _ in range(POLLS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return answers


def _outcome(app: Any, consent_id: str) -> dict[str, Any]:
    """What a DPO would find about one consent: its status, signatures, events, records, webhooks."""
    from consent.models import Consent
    from consent.webhook_models import WebhookDelivery
    from reports.models import Record

    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        consent = s.get(Consent, consent_id)
        assert consent is not None
        signers = list(s.scalars(sa.select(Signer.status).where(Signer.consent_id == consent_id)))
        signatures = s.scalar(
            sa.select(sa.func.count()).select_from(Signature).where(Signature.consent_id == consent_id)
        )
        events = [
            e.type for e in s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq))
            if e.refs.get("consent_id") == consent_id and e.type.startswith(("consent.", "signature."))
        ]
        records = list(s.scalars(sa.select(Record.kind).where(Record.consent_id == consent_id)))
        hooks = [
            d.event_type for d in s.scalars(sa.select(WebhookDelivery))
            if f'"consent_id":"{consent_id}"' in d.payload
        ]
        return {
            "status": consent.status, "signers": signers, "signatures": signatures, "events": events,
            "records": records, "webhooks": hooks,
        }


def test_declines_racing_status_polls_leave_one_outcome_per_consent(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    """Right after the phone confirmed, declines and status polls on the same link race: each
    consent ends given with its signature or refused without one, never both, with one record,
    one webhook, and never a 5xx (no deadlock on PostgreSQL, no lost check on SQLite)."""
    hook = world.api.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["consent.given", "consent.refused"]}
    )
    assert hook.status_code == 201, hook.get_data(as_text=True)
    outcomes: list[dict[str, Any]] = []
    errors: list[tuple[str, int, dict[str, Any]]] = []
    for _ in range(ROUNDS):
        token = world.adult(pn=None)
        consent_id = world.consent_of(token)["id"]
        assert start(client, token, "other").status_code == 200
        Phone(client).sign_qr(status(client, token)["qr_data"])
        clock.advance(3)
        answers = _decline_or_poll(app, token)
        errors += [a for a in answers if a[1] >= 500 or (a[0] == "poll" and a[1] != 200)]
        errors += [a for a in answers if a[0] == "decline" and a[1] not in (200, 409)]
        outcomes.append(_outcome(app, consent_id))
    given = {
        "status": "given", "signers": ["signed"], "signatures": 1,
        "events": ["consent.requested", "signature.recorded", "consent.given"],
        "records": ["consent_given"], "webhooks": ["consent.given"],
    }
    refused = {
        "status": "refused", "signers": ["declined"], "signatures": 0,
        "events": ["consent.requested", "consent.refused"],
        "records": ["consent_refused"], "webhooks": ["consent.refused"],
    }
    wrong = [found for found in outcomes if found not in (given, refused)]
    assert (errors, wrong) == ([], []), f"{len(errors)} bad answers, {len(wrong)} of {ROUNDS} consents wrong"
