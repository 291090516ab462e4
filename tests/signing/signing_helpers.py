"""Helpers for the subject-page tests: people and requests made over the API, a clock the
tests move by hand, and the simulated BankID app driven over its JSON API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from signing.bankid.personnummer import with_check_digit

ADULT_PN = with_check_digit("19800101123")
GUARDIAN_PN = with_check_digit("19750505456")
GUARDIAN2_PN = with_check_digit("19760606789")
STRANGER_PN = with_check_digit("19900202321")
REP_PN = with_check_digit("19700303234")

TEMPLATE = {
    "key": "photo",
    "title": {"sv": "Samtycke till bilder", "nb": "Samtykke til bilder", "en": "Consent to photos"},
    "body": {
        "sv": "Vi vill använda **bilder** där du syns.\n\n<script>alert(1)</script>\n\n"
        "## Dina rättigheter\n\n- Du kan ångra dig",
        "nb": "Vi vil bruke **bilder** der du er med.\n\n## Dine rettigheter\n\n- Du kan trekke samtykket",
        "en": "We want to use **photos** you appear in.\n\n<script>alert(1)</script>\n\n"
        "## Your rights\n\n- You may withdraw",
    },
    "purposes": ["web", "print", "social"],
    "validity_days": 365,
}
LABELS = {
    "web": {"sv": "Webbplats", "nb": "Nettsted", "en": "Website"},
    "print": {"sv": "Trycksaker", "nb": "Trykksaker", "en": "Print"},
    "social": {"sv": "Sociala medier", "nb": "Sosiale medier", "en": "Social media"},
}


class Clock:
    """A clock tests move by hand; the pages and the simulator read the same one."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, **kw: float) -> None:
        self.now += timedelta(seconds=seconds, **kw)




def years_ago(years: int) -> str:
    today = datetime.now(UTC).date()
    return date(today.year - years, today.month, min(today.day, 28)).isoformat()


@dataclass
class World:
    app: Flask
    api: Any
    client: FlaskClient

    def person(self, name: str, pn: str | None = None, *, age: int = 30, guardians: list[str] | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if pn:
            body["personal_number"] = pn  # the birth date follows from it
        else:
            body["birth_date"] = years_ago(age)
        if guardians:
            body["guardian_ids"] = guardians
        resp = self.api.post("/api/v1/persons", json=body)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return str(resp.get_json()["id"])

    def template(self, **overrides: Any) -> dict[str, Any]:
        resp = self.api.post("/api/v1/consent-templates", json={**TEMPLATE, **overrides})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return dict(resp.get_json())

    def ask(self, person_id: str, **overrides: Any) -> dict[str, Any]:
        body = {"person_id": person_id, "template": "photo", **overrides}
        resp = self.api.post("/api/v1/consent-requests", json=body)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return dict(resp.get_json())

    def adult(self, pn: str | None = ADULT_PN, **overrides: Any) -> str:
        """A request to an adult; the token of their link."""
        req = self.ask(self.person("Anna Andersson", pn), **overrides)
        return token_of(req["signers"][0]["signing_url"])

    def family(self, guardians_required: str = "all") -> tuple[dict[str, Any], list[str]]:
        self.template(guardians_required=guardians_required)
        g1 = self.person("Greta Gran", GUARDIAN_PN, age=45)
        g2 = self.person("Gustav Gran", GUARDIAN2_PN, age=46)
        child = self.person("Kim Gran", age=9, guardians=[g1, g2])
        req = self.ask(child)
        return req, [token_of(s["signing_url"]) for s in req["signers"]]

    def consent(self, consent_id: str) -> dict[str, Any]:
        resp = self.api.get(f"/api/v1/consents/{consent_id}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return dict(resp.get_json())

    def consent_of(self, token: str) -> dict[str, Any]:
        receipt = self.client.get(f"/s/{token}/receipt", headers={"Accept": "application/json"})
        assert receipt.status_code == 200, receipt.get_data(as_text=True)
        return self.consent(receipt.get_json()["object_id"])


def token_of(url: str) -> str:
    match = re.search(r"/s/([^/?#]+)", url)
    assert match, url
    return match.group(1)




@dataclass
class Phone:
    """The simulated BankID app, driven over the simulator's JSON API."""

    client: FlaskClient
    pn: str = ADULT_PN
    given_name: str = "Anna"
    surname: str = "Andersson"

    def _who(self) -> dict[str, str]:
        return {"personal_number": self.pn, "given_name": self.given_name, "surname": self.surname}

    def scan(self, qr_data: str) -> Any:
        return self.client.post("/bankid-sim/app/scan", json={"qr_data": qr_data, **self._who()})

    def open(self, autostart_token: str) -> Any:
        return self.client.post("/bankid-sim/app/open", json={"autostart_token": autostart_token, **self._who()})

    def confirm(self, order_ref: str, approve: bool = True) -> Any:
        return self.client.post("/bankid-sim/app/confirm", json={"order_ref": order_ref, "approve": approve})

    def sign_qr(self, qr_data: str, approve: bool = True) -> str:
        scanned = self.scan(qr_data)
        assert scanned.status_code == 200, scanned.get_data(as_text=True)
        order_ref = str(scanned.get_json()["order_ref"])
        confirmed = self.confirm(order_ref, approve)
        assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
        return order_ref




def start(client: FlaskClient, token: str, device: str = "other", **body: Any) -> Any:
    return client.post(f"/s/{token}/bankid/start", json={"device": device, **body})


def status(client: FlaskClient, token: str) -> dict[str, Any]:
    resp = client.get(f"/s/{token}/bankid/status")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def poll_until(client: FlaskClient, clock: Clock, token: str, wanted: str, tries: int = 10) -> dict[str, Any]:
    """Ask for the status as the page would, moving the clock past the collect interval each time."""
    seen = {}
    for _ in range(tries):
        clock.advance(2)
        seen = status(client, token)
        if seen["status"] == wanted:
            return seen
    raise AssertionError(f"status never became {wanted}: {seen}")


