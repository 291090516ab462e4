"""BankID signing end to end over HTTP: the subject's JSON endpoints and pages, the
simulator's RP API behind them, and the simulated phone app driving the user's side."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from signing_helpers import (
    ADULT_PN,
    GUARDIAN2_PN,
    GUARDIAN_PN,
    STRANGER_PN,
    Clock,
    Phone,
    World,
    poll_until,
    start,
    status,
)
from signxml import XMLVerifier
from signxml.verifier import VerifyResult

from app.audit import AuditEvent
from app.db import transaction
from consent.models import Signature
from signing.bankid.qr import parse_qr_data, qr_auth_code
from signing.bankid.simulator.evidence import BANKID_TYPES_NS
from signing.bankid.simulator.http import sim_keys
from signing.bankid.simulator.models import SimOrder
from signing.models import SignatureOrder

CATALOGS = Path(__file__).resolve().parents[2] / "app" / "translations"


def _orders(app: Any) -> list[SignatureOrder]:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        return list(s.scalars(sa.select(SignatureOrder).order_by(SignatureOrder.started_at)))


def _sim_order(app: Any, order_ref: str) -> SimOrder:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        order = s.get(SimOrder, order_ref)
        assert order is not None
        return order


def _signatures(app: Any) -> list[Signature]:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        return list(s.scalars(sa.select(Signature)))


def test_qr_flow_signs_and_records_the_signature_with_bankid_evidence(
    app: Any, client: Any, world: World, clock: Clock, phone: Phone
) -> None:
    token = world.adult()
    started = start(client, token, "other", purposes=["print", "web"])
    assert started.status_code == 200, started.get_data(as_text=True)
    assert started.get_json() == {"status": "pending"}  # no start token for another device

    first = status(client, token)
    assert first["status"] == "pending" and first["hint_code"] == "outstandingTransaction"
    assert first["message"]  # BankID's RFA1 text, translated
    order = _orders(app)[0]
    sim = _sim_order(app, order.order_ref or "")
    # The QR text follows BankID's algorithm with the secret only the server holds.
    token_part, seconds, code = parse_qr_data(first["qr_data"]) or ("", -1, "")
    assert token_part == sim.qr_start_token and seconds == 0
    assert code == qr_auth_code(sim.qr_start_secret or "", 0)
    assert sim.qr_start_secret not in json.dumps(first) and "qrStartSecret" not in json.dumps(first)

    # A second later the QR code has moved on.
    clock.advance(1)
    assert parse_qr_data(status(client, token)["qr_data"])[1] == 1  # type: ignore[index]

    # The order asks BankID for exactly what the page showed, bound to the subject's number.
    visible = base64.b64decode(sim.user_visible_data or "").decode()
    assert visible == order.visible_text and "Trycksaker" in visible and "Webbplats" in visible
    assert "Sociala medier" not in visible
    assert sim.requirement == {"personalNumber": ADULT_PN}
    assert sim.user_visible_data_format == "simpleMarkdownV1" and sim.end_user_ip == "127.0.0.1"
    non_visible = json.loads(base64.b64decode(sim.user_non_visible_data or ""))
    assert non_visible["signer_id"] == order.signer_id and len(non_visible["text_sha256"]) == 64

    order_ref = phone.scan(status(client, token)["qr_data"]).get_json()["order_ref"]
    assert poll_until(client, clock, token, "pending")["hint_code"] == "started"
    phone.confirm(order_ref, approve=True)
    done = poll_until(client, clock, token, "complete")
    assert done["hint_code"] is None and "qr_data" not in done
    assert done["receipt_url"] == f"/s/{token}/receipt"

    sigs = _signatures(app)
    assert len(sigs) == 1
    sig = sigs[0]
    assert sig.method == "bankid" and sig.purposes == ["web", "print"] and sig.signer_name == "Anna Andersson"
    assert sig.visible_text == visible
    evidence = sig.evidence
    assert evidence["orderRef"] == order_ref
    assert evidence["user"]["personalNumber"] == ADULT_PN and evidence["user"]["givenName"] == "Anna"
    assert {"ipAddress", "uhi"} <= set(evidence["device"])
    assert evidence["bankIdIssueDate"] and evidence["stepUp"] == {"mrtd": False}
    # The kept signature is BankID's signed XML over exactly the text shown, by the subject's number.
    with app.app_context():
        cert_pem = sim_keys().cert_pem
    verified = XMLVerifier().verify(base64.b64decode(evidence["signature"]), x509_cert=cert_pem)
    assert isinstance(verified, VerifyResult) and verified.signed_xml is not None
    signed = verified.signed_xml
    types = {"b": BANKID_TYPES_NS}
    assert base64.b64decode(signed.findtext("b:usrVisibleData", namespaces=types) or "").decode() == visible
    assert signed.findtext("b:userInfo/b:personalNumber", namespaces=types) == ADULT_PN
    assert signed.findtext("b:userInfo/b:orderRef", namespaces=types) == order_ref
    assert base64.b64decode(evidence["ocspResponse"])
    consent = world.consent_of(token)
    assert consent["status"] == "given" and consent["purposes"] == ["web", "print"]
    assert _orders(app)[0].status == "complete" and _orders(app)[0].signature_id == sig.id

    receipt = client.get(f"/s/{token}/receipt", headers={"Accept": "application/json"}).get_json()
    assert receipt["status"] == "given" and receipt["signed_by"] == "Anna Andersson"
    assert [p["key"] for p in receipt["purposes"]] == ["web", "print"]
    assert receipt["method"] == "bankid" and receipt["visible_sha256"] == sig.visible_sha256
    assert receipt["valid_until"] is not None and receipt["can_withdraw"] is True


def test_same_device_flow_opens_the_autostart_token(
    app: Any, client: Any, world: World, clock: Clock, phone: Phone
) -> None:
    token = world.adult()
    started = start(client, token, "same").get_json()
    assert started["status"] == "pending"
    assert started["autostart_url"] == f"bankid:///?autostarttoken={started['auto_start_token']}&redirect=null"
    pending = status(client, token)
    assert pending["hint_code"] == "outstandingTransaction" and "qr_data" not in pending

    order_ref = phone.open(started["auto_start_token"]).get_json()["order_ref"]
    phone.confirm(order_ref)
    assert poll_until(client, clock, token, "complete")["status"] == "complete"
    assert world.consent_of(token)["status"] == "given"
    # Default purposes: every one requested.
    assert _signatures(app)[0].purposes == ["web", "print", "social"]


def test_mobile_browsers_get_the_universal_link(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    started = client.post(f"/s/{token}/bankid/start", json={"device": "same"}, headers={"User-Agent": ua})
    body = started.get_json()
    assert body["autostart_url"] == f"https://app.bankid.com/?autostarttoken={body['auto_start_token']}&redirect=null"


def test_collect_is_throttled_while_the_page_polls_every_second(
    app: Any, client: Any, world: World, clock: Clock, phone: Phone, monkeypatch: Any
) -> None:
    token = world.adult()
    start(client, token, "other")
    calls: list[str] = []
    from signing.bankid import client as bankid_client

    original = bankid_client.BankIdClient.collect

    def counting(self: Any, order_ref: str) -> Any:
        calls.append(order_ref)
        return original(self, order_ref)

    monkeypatch.setattr(bankid_client.BankIdClient, "collect", counting)
    for _ in range(4):  # the page's one-second QR refresh
        status(client, token)
        clock.advance(0.5)
    assert len(calls) == 1
    clock.advance(2)
    status(client, token)
    assert len(calls) == 2


def test_the_wrong_person_cannot_complete_a_bound_order(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    token = world.adult()
    start(client, token, "other")
    stranger = Phone(client, pn=STRANGER_PN, given_name="Sven", surname="Svensson")
    refused = stranger.scan(status(client, token)["qr_data"])
    assert 400 <= refused.status_code < 500
    assert refused.get_json()["errorCode"] == "personalNumberMismatch"
    same_device = start(client, token, "same").get_json()
    refused_open = stranger.open(same_device["auto_start_token"])
    assert 400 <= refused_open.status_code < 500
    # Nothing completes for the stranger: the order just waits, then times out.
    assert poll_until(client, clock, token, "pending")["hint_code"] == "outstandingTransaction"
    clock.advance(31)
    failed = poll_until(client, clock, token, "failed")
    assert failed["hint_code"] == "startFailed"
    assert _signatures(app) == []
    assert world.consent_of(token)["status"] == "pending"


def test_start_failed_after_thirty_seconds_shows_bankid_message(
    client: Any, world: World, clock: Clock
) -> None:
    token = world.adult()
    start(client, token, "other")
    clock.advance(29)
    assert status(client, token)["status"] == "pending"
    clock.advance(2)
    failed = status(client, token)
    assert failed["status"] == "failed" and failed["hint_code"] == "startFailed"
    assert "QR" in failed["message"]  # RFA17B: failed to scan the QR code (page locale sv)
    assert "qr_data" not in failed
    en = client.get(f"/s/{token}/bankid/status?lang=en").get_json()
    assert en["message"].startswith("Failed to scan the QR code.")
    # The progress page says the same, as an alert.
    page = client.get(f"/s/{token}/bankid?lang=en").get_data(as_text=True)
    assert 'role="alert"' in page and "Failed to scan the QR code." in page


def test_user_cancel_in_the_app_shows_rfa6_in_every_language(
    client: Any, world: World, clock: Clock, phone: Phone
) -> None:
    token = world.adult()
    start(client, token, "other")
    phone.sign_qr(status(client, token)["qr_data"], approve=False)
    failed = poll_until(client, clock, token, "failed")
    assert failed["hint_code"] == "userCancel"
    messages = {
        lang: client.get(f"/s/{token}/bankid/status?lang={lang}").get_json()["message"] for lang in ("sv", "nb", "en")
    }
    assert messages["en"] == "Action cancelled."
    assert all(messages.values())
    if CATALOGS.joinpath("sv", "LC_MESSAGES", "messages.mo").exists():  # compiled by `make i18n`
        assert messages["sv"] == "Åtgärden avbruten."
        assert messages["nb"] == "Handlingen ble avbrutt."


def test_a_new_start_cancels_the_previous_live_order(
    app: Any, client: Any, world: World, clock: Clock, phone: Phone
) -> None:
    token = world.adult()
    start(client, token, "other")
    first_ref = _orders(app)[0].order_ref
    start(client, token, "same")
    # Both orders started at the same instant of the test's clock: tell them apart by reference.
    statuses = {o.order_ref: o.status for o in _orders(app)}
    assert statuses.pop(first_ref) == "cancelled" and list(statuses.values()) == ["pending"]
    assert _sim_order(app, first_ref or "").cancelled is True
    # The cancelled attempt can no longer be scanned into a signature.
    assert status(client, token)["status"] == "pending"


def test_cancel_button_ends_the_attempt(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    start(client, token, "other")
    cancelled = client.post(f"/s/{token}/bankid/cancel", json={})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "failed"
    assert status(client, token)["hint_code"] == "cancelled"


def test_guardians_all_gives_consent_only_after_both(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    req, (t1, t2) = world.family("all")
    start(client, t1, "other")
    Phone(client, GUARDIAN_PN, "Greta", "Gran").sign_qr(status(client, t1)["qr_data"])
    poll_until(client, clock, t1, "complete")
    assert world.consent(req["consent_id"])["status"] == "pending"
    waiting = client.get(f"/s/{t1}/receipt?lang=en").get_data(as_text=True)
    assert "applies when the other guardian has signed too" in waiting

    start(client, t2, "other")
    Phone(client, GUARDIAN2_PN, "Gustav", "Gran").sign_qr(status(client, t2)["qr_data"])
    poll_until(client, clock, t2, "complete")
    assert world.consent(req["consent_id"])["status"] == "given"
    assert len(_signatures(app)) == 2


def test_guardians_one_is_enough_and_only_that_guardian_may_use_the_link(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    req, (t1, t2) = world.family("one")
    start(client, t1, "other")
    # The other guardian cannot use the first guardian's link.
    wrong = Phone(client, GUARDIAN2_PN, "Gustav", "Gran").scan(status(client, t1)["qr_data"])
    assert wrong.get_json()["errorCode"] == "personalNumberMismatch"
    Phone(client, GUARDIAN_PN, "Greta", "Gran").sign_qr(status(client, t1)["qr_data"])
    poll_until(client, clock, t1, "complete")
    assert world.consent(req["consent_id"])["status"] == "given"
    # The second guardian's link now says there is nothing left to sign.
    page = client.get(f"/s/{t2}?lang=en").get_data(as_text=True)
    assert "The other guardian has already given the consent" in page
    assert start(client, t2, "other").status_code == 409


def test_poll_of_an_unknown_or_unstarted_link(client: Any, world: World) -> None:
    token = world.adult()
    assert client.get(f"/s/{token}/bankid/status").status_code == 404
    assert client.get("/s/nope/bankid/status").status_code == 404
    assert client.get("/s/nope/bankid/status").mimetype == "application/problem+json"


def test_simulator_outage_at_start_is_a_clear_problem(
    app: Any, client: Any, world: World, clock: Clock, monkeypatch: Any
) -> None:
    token = world.adult()
    monkeypatch.setitem(app.config, "BANKID_SIM_FAULT", "maintenance")
    resp = start(client, token, "other")
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["hint_code"] == "maintenance" and body["message"]
    assert _orders(app) == []


def test_audit_trail_has_one_signature_event_per_signature(
    app: Any, client: Any, world: World, clock: Clock, phone: Phone
) -> None:
    token = world.adult()
    start(client, token, "other")
    phone.sign_qr(status(client, token)["qr_data"])
    poll_until(client, clock, token, "complete")
    for _ in range(3):
        clock.advance(3)
        assert status(client, token)["status"] == "complete"
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        types = list(s.scalars(sa.select(AuditEvent.type).order_by(AuditEvent.seq)))
        refs = list(s.scalars(sa.select(AuditEvent.refs)))
    assert types.count("signature.recorded") == 1 and "signing.started" in types
    assert ADULT_PN not in json.dumps(refs) and "Anna" not in json.dumps(refs)


def test_a_signature_through_the_pages_leaves_a_sealed_record_the_subject_can_fetch(
    app: Any, client: Any, world: World, clock: Clock, phone: Phone
) -> None:
    from reports.models import Record

    token = world.adult()
    started = start(client, token, "same").get_json()
    order_ref = phone.open(started["auto_start_token"]).get_json()["order_ref"]
    phone.confirm(order_ref)
    assert poll_until(client, clock, token, "complete")["status"] == "complete"
    consent_id = world.consent_of(token)["id"]
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        records = s.execute(sa.select(Record.kind, Record.status).where(Record.consent_id == consent_id)).all()
    # Recorded inside a savepoint, sealed only after the request's real commit.
    assert [tuple(r) for r in records] == [("consent_given", "sealed")]
    pdf = client.get(f"/s/{token}/record.pdf")
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF")
