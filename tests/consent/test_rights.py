"""Usage rights (DESIGN.md "Usage rights"): every reason, precedence, time travel,
minors, erasure, the batch (order, duplicates, the 10,000 limit) and query counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app.db import utcnow
from consent import signatures
from consent.models import Consent
from tests.consent.arrange import (
    ADULT_PN,
    GUARDIAN2_PN,
    GUARDIAN_PN,
    add_person,
    erase,
    give,
    link,
    make_template,
    request_consent,
    sign,
    tx,
    years_ago,
)


def rights(api: Any, asset_id: str, purpose: str = "web", at: datetime | None = None) -> dict[str, Any]:
    query = f"?purpose={purpose}" + (f"&at={quote(at.isoformat())}" if at else "")
    resp = api.get(f"/api/v1/assets/{asset_id}/usage-rights{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def person_reason(api: Any, asset_id: str, **kw: Any) -> tuple[str, str | None]:
    [person] = rights(api, asset_id, **kw)["persons"]
    return person["reason"], person["consent_id"]


def adult(app: Any, acme: Any, asset_id: str, name: str = "Anna") -> str:
    # Only Anna has a personal number on file (numbers are unique in a tenant).
    pn = ADULT_PN if name == "Anna" else None
    person = add_person(app, acme.tenant_id, name, birth_date=years_ago(30), pn=pn)
    link(app, acme.tenant_id, asset_id, person)
    return person


def consent_row(app: Any, consent_id: str) -> Consent:
    with tx(app) as s:
        return s.get(Consent, consent_id)


# --- each reason -----------------------------------------------------------------------

def test_an_asset_never_seen_is_not_allowed(acme: Any) -> None:
    body = rights(acme, "img_0003")  # a typo, or an id the DAM never registered
    assert body == {
        "asset_id": "img_0003", "purpose": "web", "at": body["at"], "allowed": False,
        "reason": "unknown_asset", "valid_until": None, "persons": [],
    }


def test_no_linked_persons_is_allowed_for_a_known_asset(acme: Any) -> None:
    assert acme.put("/api/v1/assets/lonely", json={"no_persons": True}).status_code == 201
    body = rights(acme, "lonely")
    assert body == {
        "asset_id": "lonely", "purpose": "web", "at": body["at"], "allowed": True,
        "reason": "no_linked_persons", "valid_until": None, "persons": [],
    }
    assert "+00:00" in body["at"]


def test_consent_given_is_allowed_until_its_end(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    consent_id = give(app, acme, person)
    body = rights(acme, "a1")
    valid_until = consent_row(app, consent_id).valid_until.isoformat()
    assert body["allowed"] is True and body["reason"] == "consent_given" and body["valid_until"] == valid_until
    assert body["persons"] == [
        {"person_id": person, "allowed": True, "reason": "consent_given", "consent_id": consent_id,
         "valid_until": valid_until}
    ]


def test_withdrawn(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    consent_id = give(app, acme, person)
    withdrawn = acme.post(f"/api/v1/consents/{consent_id}/withdraw", json={})
    assert withdrawn.status_code == 200, withdrawn.get_data(as_text=True)
    assert withdrawn.get_json()["status"] == "withdrawn"
    body = rights(acme, "a1")
    assert body["allowed"] is False and body["reason"] == "withdrawn" and body["valid_until"] is None
    assert body["persons"] == [{"person_id": person, "allowed": False, "reason": "withdrawn",
                                "consent_id": consent_id, "valid_until": None}]


def test_revoked(app: Any, acme: Any) -> None:
    consent_id = give(app, acme, adult(app, acme, "a1"))
    acme.post(f"/api/v1/consents/{consent_id}/revoke", json={"reason": "ended"})
    assert person_reason(acme, "a1") == ("revoked", consent_id)


def test_expired(app: Any, acme: Any) -> None:
    consent_id = give(app, acme, adult(app, acme, "a1"), at=utcnow() - timedelta(days=366))
    assert person_reason(acme, "a1") == ("expired", consent_id)
    assert rights(acme, "a1")["allowed"] is False


def test_not_yet_valid(app: Any, acme: Any) -> None:
    # A consent whose validity starts after its signature (e.g. imported with a start date).
    consent_id = give(app, acme, adult(app, acme, "a1"))
    with tx(app) as s:
        s.get(Consent, consent_id).valid_from = utcnow() + timedelta(days=2)
    assert person_reason(acme, "a1") == ("not_yet_valid", consent_id)
    assert person_reason(acme, "a1", at=utcnow() + timedelta(days=3)) == ("consent_given", consent_id)


def test_purpose_not_covered(app: Any, acme: Any) -> None:
    consent_id = give(app, acme, adult(app, acme, "a1"), purposes=["web"])
    assert person_reason(acme, "a1", purpose="print") == ("purpose_not_covered", consent_id)
    assert person_reason(acme, "a1", purpose="social") == ("purpose_not_covered", consent_id)
    assert person_reason(acme, "a1", purpose="web") == ("consent_given", consent_id)


def test_asset_not_covered(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    link(app, acme.tenant_id, "a2", person)
    consent_id = give(app, acme, person, asset_ids=["a2"])
    assert person_reason(acme, "a1") == ("asset_not_covered", consent_id)
    assert person_reason(acme, "a2") == ("consent_given", consent_id)


def test_signature_missing(app: Any, acme: Any) -> None:
    consent_id = request_consent(acme, adult(app, acme, "a1"))["consent_id"]
    assert person_reason(acme, "a1") == ("signature_missing", consent_id)


def test_refused(app: Any, acme: Any) -> None:
    req = request_consent(acme, adult(app, acme, "a1"))
    with tx(app) as s:
        signatures.decline(s, signer_id=req["signers"][0]["id"], at=utcnow())
    assert person_reason(acme, "a1") == ("refused", req["consent_id"])


def test_no_consent(app: Any, acme: Any) -> None:
    adult(app, acme, "a1")
    body = rights(acme, "a1")
    assert body["allowed"] is False and body["reason"] == "no_consent"
    assert body["persons"][0]["consent_id"] is None and body["persons"][0]["valid_until"] is None


def test_erased_person_is_never_allowed_even_with_a_given_consent(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    give(app, acme, person)
    erase(app, person)
    body = rights(acme, "a1")
    assert body["allowed"] is False and body["reason"] == "erased"
    assert body["persons"] == [
        {"person_id": person, "allowed": False, "reason": "erased", "consent_id": None, "valid_until": None}
    ]


# --- precedence ----------------------------------------------------------------------------

def test_a_given_consent_beats_older_withdrawn_and_refused_ones(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    old = give(app, acme, person)
    acme.post(f"/api/v1/consents/{old}/withdraw", json={})
    refused = request_consent(acme, person)
    with tx(app) as s:
        signatures.decline(s, signer_id=refused["signers"][0]["id"], at=utcnow())
    assert person_reason(acme, "a1") == ("withdrawn", old)
    new = give(app, acme, person)
    assert person_reason(acme, "a1") == ("consent_given", new)


def test_reason_order_picks_the_best_consent_of_a_person(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    pending = request_consent(acme, person)["consent_id"]
    assert person_reason(acme, "a1") == ("signature_missing", pending)
    narrow = give(app, acme, person, purposes=["print"])
    assert person_reason(acme, "a1") == ("purpose_not_covered", narrow)
    expired = give(app, acme, person, at=utcnow() - timedelta(days=400))
    assert person_reason(acme, "a1") == ("expired", expired)
    revoked = give(app, acme, person)
    acme.post(f"/api/v1/consents/{revoked}/revoke", json={"reason": "x"})
    assert person_reason(acme, "a1") == ("revoked", revoked)


def test_the_longest_lasting_given_consent_is_the_one_relied_on(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    short = give(app, acme, person, valid_until=(utcnow() + timedelta(days=3)).isoformat())
    long = give(app, acme, person)
    body = rights(acme, "a1")
    assert body["persons"][0]["consent_id"] == long != short
    assert body["valid_until"] == consent_row(app, long).valid_until.isoformat()


def test_every_person_must_be_allowed_and_the_worst_reason_names_the_asset(app: Any, acme: Any) -> None:
    anna = adult(app, acme, "group", "Anna")
    bo = adult(app, acme, "group", "Bo")
    give(app, acme, anna)
    body = rights(acme, "group")
    assert body["allowed"] is False and body["reason"] == "no_consent"
    assert {p["person_id"]: p["allowed"] for p in body["persons"]} == {anna: True, bo: False}
    assert [p["person_id"] for p in body["persons"]] == sorted([anna, bo])
    bo_consent = give(app, acme, bo)
    acme.post(f"/api/v1/consents/{bo_consent}/withdraw", json={})
    assert rights(acme, "group")["reason"] == "withdrawn"
    carl = adult(app, acme, "group", "Carl")
    erase(app, carl)
    assert rights(acme, "group")["reason"] == "erased"


def test_valid_until_is_the_earliest_among_the_relied_on_consents(app: Any, acme: Any) -> None:
    anna = adult(app, acme, "pair", "Anna")
    bo = adult(app, acme, "pair", "Bo")
    give(app, acme, anna)
    soon = give(app, acme, bo, valid_until=(utcnow() + timedelta(days=10)).isoformat())
    body = rights(acme, "pair")
    assert body["allowed"] is True and body["valid_until"] == consent_row(app, soon).valid_until.isoformat()


# --- the instant T ------------------------------------------------------------------------

def test_at_before_signing_after_withdrawal_and_after_expiry(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    signed = utcnow() - timedelta(days=10)
    consent_id = give(app, acme, person, at=signed)
    assert person_reason(acme, "a1", at=signed - timedelta(seconds=1))[0] == "signature_missing"
    assert person_reason(acme, "a1", at=signed)[0] == "consent_given"
    assert person_reason(acme, "a1", at=signed + timedelta(days=365) - timedelta(seconds=1))[0] == "consent_given"
    assert person_reason(acme, "a1", at=signed + timedelta(days=365))[0] == "expired"
    acme.post(f"/api/v1/consents/{consent_id}/withdraw", json={})
    withdrawn_at = consent_row(app, consent_id).withdrawn_at
    assert person_reason(acme, "a1", at=withdrawn_at - timedelta(seconds=1))[0] == "consent_given"
    assert person_reason(acme, "a1", at=withdrawn_at)[0] == "withdrawn"
    assert person_reason(acme, "a1", at=utcnow() + timedelta(days=30))[0] == "withdrawn"


def test_at_with_another_offset_and_an_unencoded_plus(app: Any, acme: Any) -> None:
    person = adult(app, acme, "a1")
    give(app, acme, person, at=utcnow() - timedelta(hours=5))
    local = (utcnow() - timedelta(hours=6)).astimezone().isoformat()
    ok = acme.get(f"/api/v1/assets/a1/usage-rights?purpose=web&at={quote(local)}").get_json()
    assert ok["persons"][0]["reason"] == "signature_missing"
    raw = "2999-01-01T10:00:00+02:00"  # "+" not encoded arrives as a space
    resp = acme.get(f"/api/v1/assets/a1/usage-rights?purpose=web&at={raw}")
    assert resp.status_code == 200 and resp.get_json()["at"] == "2999-01-01T08:00:00+00:00"


# --- minors and guardians ----------------------------------------------------------------------

@pytest.mark.parametrize("rule", ["all", "one"])
def test_minor_allowed_only_when_the_required_guardians_signed(app: Any, acme: Any, rule: str) -> None:
    make_template(acme, guardians_required=rule)
    g1 = add_person(app, acme.tenant_id, "Greta", birth_date=years_ago(45), pn=GUARDIAN_PN)
    g2 = add_person(app, acme.tenant_id, "Gustav", birth_date=years_ago(46), pn=GUARDIAN2_PN)
    child = add_person(app, acme.tenant_id, "Kid", birth_date=years_ago(8), guardian_ids=(g1, g2))
    link(app, acme.tenant_id, "school", child)
    req = request_consent(acme, child)
    sign(app, req["signers"][0]["id"], pn=GUARDIAN_PN)
    first = rights(acme, "school")
    if rule == "one":
        assert first["allowed"] is True and first["reason"] == "consent_given"
        return
    assert first["allowed"] is False and first["persons"][0]["reason"] == "signature_missing"
    sign(app, req["signers"][1]["id"], pn=GUARDIAN2_PN)
    assert rights(acme, "school")["allowed"] is True


# --- input ----------------------------------------------------------------------------------

def test_unknown_purpose_is_400_problem(acme: Any) -> None:
    for resp in (
        acme.get("/api/v1/assets/a1/usage-rights?purpose=nope"),
        acme.post("/api/v1/usage-rights/query", json={"asset_ids": ["a1"], "purpose": "nope"}),
    ):
        assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
        assert "nope" in resp.get_json()["detail"]


@pytest.mark.parametrize("query", ["", "?at=2025-01-01T00:00:00Z", "?purpose=web&at=yesterday",
                                   "?purpose=web&at=2025-01-01T00:00:00"])
def test_bad_single_query_is_422_problem(acme: Any, query: str) -> None:
    resp = acme.get(f"/api/v1/assets/a1/usage-rights{query}")
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


def test_rights_need_the_rights_scope(app: Any, make_api: Any, acme: Any) -> None:
    no_rights = make_api("acme", scopes="consents:read")
    assert no_rights.get("/api/v1/assets/a1/usage-rights?purpose=web").status_code == 403
    assert no_rights.post("/api/v1/usage-rights/query", json={"asset_ids": ["a1"], "purpose": "web"}).status_code == 403
    only = make_api("acme", scopes="rights:read")
    assert only.get("/api/v1/assets/a1/usage-rights?purpose=web").status_code == 200
    assert acme.http.get("/api/v1/assets/a1/usage-rights?purpose=web").status_code == 401


# --- the batch --------------------------------------------------------------------------------

def batch(api: Any, asset_ids: Any, purpose: str = "web", **extra: Any) -> Any:
    return api.post("/api/v1/usage-rights/query", json={"asset_ids": asset_ids, "purpose": purpose, **extra})


def test_batch_answers_in_request_order_with_duplicates_in_place(app: Any, acme: Any) -> None:
    anna = adult(app, acme, "given")
    give(app, acme, anna)
    adult(app, acme, "none", "Bo")
    assert acme.put("/api/v1/assets/free", json={}).status_code == 201
    order = ["none", "given", "free", "given", "typo", "none"]
    resp = batch(acme, order)
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [r["asset_id"] for r in results] == order
    assert [r["reason"] for r in results] == ["no_consent", "consent_given", "no_linked_persons",
                                             "consent_given", "unknown_asset", "no_consent"]
    for result in results:
        assert result == rights(acme, result["asset_id"]) | {"at": result["at"]}


def test_batch_answers_match_single_answers_at_a_given_instant(app: Any, acme: Any) -> None:
    at = utcnow() + timedelta(days=1)
    anna = adult(app, acme, "a1")
    link(app, acme.tenant_id, "a2", anna)
    give(app, acme, anna, asset_ids=["a1"], purposes=["web"])
    results = batch(acme, ["a1", "a2", "a3"], at=at.isoformat()).get_json()["results"]
    assert [r["persons"][0]["reason"] if r["persons"] else r["reason"] for r in results] == [
        "consent_given", "asset_not_covered", "unknown_asset"
    ]
    for result in results:
        assert result == rights(acme, result["asset_id"], at=at)


def test_batch_of_10000_is_answered_and_10001_is_413_before_anything_else(app: Any, acme: Any) -> None:
    ids = [f"asset-{i}" for i in range(10_000)]
    resp = batch(acme, ids)
    assert resp.status_code == 200 and len(resp.get_json()["results"]) == 10_000
    too_many = batch(acme, [*ids, "one-more"])
    assert too_many.status_code == 413 and too_many.mimetype == "application/problem+json"
    # Counted on the raw list: invalid items, a missing or unknown purpose still give 413.
    garbage = acme.post("/api/v1/usage-rights/query", json={"asset_ids": [1] * 10_001})
    assert garbage.status_code == 413
    assert batch(acme, [*ids, "x"], purpose="nope").status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        {"asset_ids": [], "purpose": "web"},
        {"asset_ids": "a1", "purpose": "web"},
        {"asset_ids": [1], "purpose": "web"},
        {"asset_ids": ["a/1"], "purpose": "web"},
        {"asset_ids": ["a1"]},
        {"asset_ids": ["a1"], "purpose": "web", "at": "soon"},
        {"asset_ids": ["a1"], "purpose": "web", "at": "2025-01-01T00:00:00"},
        {"asset_ids": ["a1"], "purpose": "web", "extra": 1},
    ],
)
def test_bad_batch_is_422_problem(acme: Any, body: dict[str, Any]) -> None:
    resp = acme.post("/api/v1/usage-rights/query", json=body)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


@contextmanager
def count_queries(app: Any) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.extensions["samtycke.engine"]

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "asset_links" in statement or "consents" in statement or "purposes" in statement:
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def test_batch_makes_a_constant_number_of_queries(app: Any, acme: Any) -> None:
    people = [add_person(app, acme.tenant_id, f"P{i}", birth_date=years_ago(30)) for i in range(3)]
    for i in range(30):
        link(app, acme.tenant_id, f"x{i}", people[i % 3])
    give(app, acme, people[0], pn=None)
    with count_queries(app) as small:
        assert batch(acme, [f"x{i}" for i in range(10)]).status_code == 200
    with count_queries(app) as large:
        assert batch(acme, [f"x{i}" for i in range(2_500)]).status_code == 200
    # links: one query per 1,000 ids; consents: one per 1,000 persons; the purpose check at most once.
    assert len(large) <= 3 + 1 + 1
    assert len(small) <= 1 + 1 + 1


def test_single_asset_is_one_query_for_links_persons_and_consents(app: Any, acme: Any) -> None:
    give(app, acme, adult(app, acme, "a1"))
    rights(acme, "a1")  # the purpose is now known
    with count_queries(app) as statements:
        rights(acme, "a1")
    assert len(statements) == 1
