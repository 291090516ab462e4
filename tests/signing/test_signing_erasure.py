"""Erasure (Art. 17) against the whole database, and the export (Art. 15) as its mirror.

People sign through the real pages with the simulated BankID app, each from their own
address, so every table a signature touches holds their data: persons, signatures
(encrypted evidence with the signature XML), signature orders (the text shown, the
address), the simulator's orders (numbers, names, the text in base64), sealed PDF
records. The walk below reads every column of every table (decrypting what is
encrypted, decoding base64 and JSON, opening PDFs) and looks for the person's values.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from signing_helpers import GUARDIAN2_PN, GUARDIAN_PN, Clock, Phone, World, poll_until, start, status, token_of
from stored_text import export_strings, hits, walk

from app.db import utcnow
from consent.gdpr import ERASED_SIGNER_REASON
from consent.personal_numbers import written_forms
from signing.bankid.personnummer import with_check_digit

ADULT = {"name": "Vendela Quisling", "given": "Vendela", "surname": "Quisling",
         "pn": with_check_digit("19811123123"), "ip": "198.51.100.31"}
CHILD = {"name": "Tindra Sjödahl", "pn": with_check_digit("20160412123")}
GUARDIAN_1 = {"name": "Margareta Lindqvist", "given": "Margareta", "surname": "Lindqvist",
              "pn": GUARDIAN_PN, "ip": "203.0.113.41"}
GUARDIAN_2 = {"name": "Gustavo Ekbergh", "given": "Gustavo", "surname": "Ekbergh",
              "pn": GUARDIAN2_PN, "ip": "203.0.113.42"}

# Where the export shows what each table holds on a person. A table found holding the
# person's data that is missing here (a new one, say) fails the test until the export
# and the erasure both cover it.
SECTIONS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "persons": lambda e: [e["person"]],
    "person_guardians": lambda e: e["guardians"] + e["wards"],
    "asset_links": lambda e: e["asset_links"],
    "consents": lambda e: e["consents"],
    "signatures": lambda e: [s for c in e["consents"] for s in c["signatures"]] + e["signatures_given"],
    "signature_orders": lambda e: e["signing_attempts"],
    "records": lambda e: e["records"],
    "objections": lambda e: e["objections"],
}
# Scrubbed by erasure but not ours to export: the simulator plays BankID's own servers, and what
# BankID holds is BankID's to disclose. It lives in our database, so erasure forgets it all the same.
NOT_EXPORTED = {"bankid_sim_orders"}


# --- arranging ----------------------------------------------------------------------------


@dataclass
class Family:
    child: str
    guardians: list[str]
    consent_id: str


def sign(app: Flask, clock: Clock, token: str, who: dict[str, str]) -> None:
    """Sign one link with BankID from this person's own address and phone."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = who["ip"]
    started = start(client, token, "other")
    assert started.status_code == 200, started.get_data(as_text=True)
    Phone(client, who["pn"], who["given"], who["surname"]).sign_qr(status(client, token)["qr_data"])
    poll_until(client, clock, token, "complete")


def adult(app: Flask, api: Any, world: World, clock: Clock) -> str:
    body = {"name": ADULT["name"], "personal_number": ADULT["pn"], "email": "vendela.quisling@example.se",
            "phone": "+46705550199", "external_ref": "hr-4711"}
    person = api.post("/api/v1/persons", json=body).get_json()["id"]
    api.put(f"/api/v1/assets/IMG-A1/persons/{person}", json={"region": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}})
    request = world.ask(person)
    sign(app, clock, token_of(request["signers"][0]["signing_url"]), ADULT)
    return str(person)


def family(app: Flask, api: Any, world: World, clock: Clock, *, signing: int = 2) -> tuple[Family, list[str]]:
    g1 = api.post("/api/v1/persons", json={"name": GUARDIAN_1["name"], "personal_number": GUARDIAN_1["pn"],
                                           "email": "margareta.lindqvist@example.se"}).get_json()["id"]
    g2 = api.post(
        "/api/v1/persons", json={"name": GUARDIAN_2["name"], "personal_number": GUARDIAN_2["pn"]}
    ).get_json()["id"]
    child = api.post("/api/v1/persons", json={"name": CHILD["name"], "personal_number": CHILD["pn"],
                                              "external_ref": "elev-8812", "guardian_ids": [g1, g2]}).get_json()["id"]
    api.put(f"/api/v1/assets/IMG-C1/persons/{child}", json={})
    request = world.ask(child)
    tokens = [token_of(s["signing_url"]) for s in request["signers"]]
    for token, who in list(zip(tokens, (GUARDIAN_1, GUARDIAN_2), strict=True))[:signing]:
        sign(app, clock, token, who)
    return Family(child, [g1, g2], request["consent_id"]), tokens


def values(export: dict[str, Any], ips: list[str]) -> set[str]:
    """The person's values as the export shows them: name, number (and masked), birth date, e-mail,
    phone, external reference, and the addresses they signed from."""
    person = export["person"]
    found = {person["name"], person["personal_number"], person["personal_number_masked"], person["birth_date"],
             person["email"], person["phone"], person["external_ref"], *ips}
    return {v for v in found if v}


def needles(export: dict[str, Any], ips: list[str]) -> set[str]:
    """What to look for: the values, each part of the name, the number in every written form."""
    found = values(export, ips) | set(export["person"]["name"].split())
    return found | written_forms(export["person"]["personal_number"])


# --- the test -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["adult", "child", "guardian"])
def test_erasure_leaves_nothing_of_the_person_in_any_table_and_mirrors_the_export(
    app: Flask, api: Any, world: World, clock: Clock, who: str
) -> None:
    adult_id = adult(app, api, world, clock)
    fam, _ = family(app, api, world, clock)
    person_id, ips = {
        "adult": (adult_id, [ADULT["ip"]]),
        "child": (fam.child, []),
        "guardian": (fam.guardians[0], [GUARDIAN_1["ip"]]),
    }[who]

    export = api.get(f"/api/v1/persons/{person_id}/export").get_json()
    wanted = needles(export, ips)
    shown = export_strings(app, export)
    assert hits(shown, values(export, ips)) == values(export, ips), "the export shows every value of the person"

    before = walk(app, wanted)
    # The walk finds the person where a signature puts them (so it can find anything at all).
    assert {"persons", "records"} <= set(before)
    if who != "child":
        assert {"signatures", "signature_orders", "bankid_sim_orders"} <= set(before)
    for table, found in before.items():
        assert table in SECTIONS or table in NOT_EXPORTED, f"{table} holds {found} but the export has no part for it"
        if table in SECTIONS:
            assert SECTIONS[table](export), f"{table} holds {found} but the export's part for it is empty"
        assert found <= hits(shown, wanted), f"{table} holds values the export does not show"

    assert api.delete(f"/api/v1/persons/{person_id}").status_code == 204

    after = walk(app, wanted)
    assert after == {}, f"left after erasure: {after}"
    # What stays is ids and state: the links still answer "no".
    asset = {"adult": "IMG-A1", "child": "IMG-C1", "guardian": None}[who]
    if asset:
        rights = api.get(f"/api/v1/assets/{asset}/usage-rights?purpose=web").get_json()
        assert rights["allowed"] is False and rights["reason"] == "erased"
    assert api.get("/api/v1/audit/verify").get_json()["ok"] is True


# --- an erased guardian's signature never completes a consent ------------------------------


def _rights(api: Any, clock: Clock) -> dict[str, Any]:
    """The asset's answer a minute after both the pages' clock and the service's real one."""
    clock.now = max(clock.now, utcnow().replace(microsecond=0)) + timedelta(minutes=1)
    query = {"purpose": "web", "at": clock.now.isoformat()}
    body: dict[str, Any] = api.get("/api/v1/assets/IMG-C1/usage-rights", query_string=query).get_json()
    return body


def test_erasing_a_guardian_who_signed_a_pending_consent_ends_it_for_the_other_guardian(
    app: Flask, api: Any, world: World, clock: Clock
) -> None:
    fam, (t1, t2) = family(app, api, world, clock, signing=1)
    assert world.consent(fam.consent_id)["status"] == "pending"
    assert api.delete(f"/api/v1/persons/{fam.guardians[0]}").status_code == 204

    # The consent can never be completed honestly: it is revoked, with the reason, and audited.
    assert world.consent(fam.consent_id)["status"] == "revoked"
    [consent] = api.get(f"/api/v1/persons/{fam.child}/export").get_json()["consents"]
    assert consent["revoke_reason"] == ERASED_SIGNER_REASON
    rights = _rights(api, clock)
    assert rights["allowed"] is False and rights["reason"] == "revoked"

    # The other guardian's link no longer signs anything, on the page or over JSON.
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = GUARDIAN_2["ip"]
    assert client.get(f"/s/{t2}?lang=en").status_code == 410
    refused = start(client, t2, "other")
    assert refused.status_code == 410 and refused.mimetype == "application/problem+json"
    # Nor does the erased guardian's own (signed) link show anything.
    assert client.get(f"/s/{t1}/receipt", headers={"Accept": "application/json"}).status_code == 410
    assert world.consent(fam.consent_id)["status"] == "revoked"
    events = [e for e in api.get("/api/v1/audit?limit=500").get_json()["items"] if e["type"] == "consent.revoked"]
    assert [e["refs"] for e in events] == [{"consent_id": fam.consent_id}]


def test_erasing_a_guardian_who_signed_a_given_consent_revokes_it(
    app: Flask, api: Any, world: World, clock: Clock
) -> None:
    fam, (_, t2) = family(app, api, world, clock)
    assert _rights(api, clock)["allowed"] is True
    assert api.delete(f"/api/v1/persons/{fam.guardians[0]}").status_code == 204

    # Without the guardian's signature nobody can show who consented: "no", never a nameless "yes".
    rights = _rights(api, clock)
    assert rights["allowed"] is False and rights["reason"] == "revoked"
    receipt = app.test_client().get(f"/s/{t2}/receipt", headers={"Accept": "application/json"}).get_json()
    assert receipt["status"] == "revoked" and receipt["can_withdraw"] is False
    kinds = [r["kind"] for r in api.get(f"/api/v1/persons/{fam.child}/export").get_json()["records"]]
    assert sorted(kinds) == ["consent_given", "consent_revoked"]
    revoked = api.get(f"/api/v1/consents/{fam.consent_id}/record.pdf?kind=revoked")
    assert revoked.status_code == 200
    shown = subprocess.run(
        ["pdftotext", "-", "-"], input=revoked.get_data(), capture_output=True, check=True, timeout=60
    ).stdout.decode()
    # The reason, in the record's language (the consent's: sv).
    assert "raderats (GDPR art. 17)" in " ".join(shown.split()) and GUARDIAN_1["surname"] not in shown
