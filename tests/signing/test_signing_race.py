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
