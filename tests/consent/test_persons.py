"""Persons API: create, search, read, change; personal numbers encrypted, indexed, masked."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit import AuditEvent
from consent import personal_numbers as pn
from consent.models import Person, PersonGuardian

ADULT = "198507099805"  # Luhn-valid test numbers
TOLVAN = "191212121212"
CHILD = "201503129981"
OTHER_ADULT = "198001010019"
LEAP_DAY_1970 = "197002291230"  # Luhn-valid, but 1970-02-29 does not exist
COORDINATION = "199001611236"  # day 61 = 1 January


def luhn_ok(ten: str) -> bool:
    """Independent Luhn check for the test data itself."""
    total = 0
    for i, ch in enumerate(reversed(ten)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def counts(app: Flask) -> dict[str, int]:
    with app.extensions["samtycke.sessionmaker"]() as s:
        return {
            "persons": s.scalar(sa.select(sa.func.count()).select_from(Person)) or 0,
            "guardians": s.scalar(sa.select(sa.func.count()).select_from(PersonGuardian)) or 0,
            "audit": s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0,
        }


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def create(api: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Anna Andersson")
    resp = api.post("/api/v1/persons", json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    data: dict[str, Any] = resp.get_json()
    return data


# --- personal number rules (no database) ------------------------------------------

def test_test_data_is_luhn_valid() -> None:
    for number in (ADULT, TOLVAN, CHILD, OTHER_ADULT, LEAP_DAY_1970, COORDINATION):
        assert luhn_ok(number[2:])


@pytest.mark.parametrize(
    "given",
    ["198507099805", "19850709-9805", "850709-9805", "8507099805", " 850709-9805 "],
)
def test_accepted_forms_normalise_to_twelve_digits(given: str) -> None:
    assert pn.normalise(given, today=date(2026, 1, 1)) == ADULT


def test_century_of_short_forms_follows_today_and_plus_sign() -> None:
    today = date(2026, 6, 1)
    assert pn.normalise("121212-1212", today) == "201212121212"
    assert pn.normalise("121212+1212", today) == "191212121212"
    assert pn.normalise("1212121212", today) == "201212121212"
    assert pn.normalise(CHILD[2:8] + "-" + CHILD[8:], today) == CHILD
    # A short-form date later in the year than today belongs to the previous century.
    from signing.bankid.personnummer import with_check_digit

    late = with_check_digit("19261231123")
    assert pn.normalise(late[2:8] + "-" + late[8:], today) == late
    early = with_check_digit("20260101123")
    assert pn.normalise(early[2:8] + early[8:], today) == early


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("198507099806", "check digit"),
        (LEAP_DAY_1970, "does not exist"),
        ("19851301" + "0000", "check digit"),  # whichever check fails first, it fails
        ("abc", "not a personal number"),
        ("19850709 9805", "not a personal number"),
        ("1985070998055", "not a personal number"),
        ("١٩٨٥٠٧٠٩٩٨٠٥", "not a personal number"),  # non-ASCII digits
    ],
)
def test_invalid_numbers_are_refused(given: str, reason: str) -> None:
    with pytest.raises(pn.InvalidPersonalNumber) as info:
        pn.normalise(given, today=date(2026, 1, 1))
    assert reason in str(info.value)
    assert given.strip() not in str(info.value)


def test_impossible_month_with_valid_luhn_is_refused() -> None:
    from signing.bankid.personnummer import with_check_digit

    number = with_check_digit("19851301123")
    with pytest.raises(pn.InvalidPersonalNumber, match="does not exist"):
        pn.normalise(number)


def test_future_birth_date_is_refused() -> None:
    from signing.bankid.personnummer import with_check_digit

    with pytest.raises(pn.InvalidPersonalNumber, match="future"):
        pn.normalise(with_check_digit("20991231123"), today=date(2026, 1, 1))


def test_coordination_number_birth_date_and_mask() -> None:
    assert pn.normalise(COORDINATION) == COORDINATION
    assert pn.is_coordination_number(COORDINATION)
    assert pn.birth_date_of(COORDINATION) == date(1990, 1, 1)
    assert pn.birth_date_of(TOLVAN) == date(1912, 12, 12)
    assert pn.mask(ADULT) == "19850709-****"


# --- API -----------------------------------------------------------------------------

def test_create_person_with_personal_number(api: Any) -> None:
    resp = api.post(
        "/api/v1/persons",
        json={"name": "Anna Andersson", "personal_number": "850709-9805", "email": "anna@example.se",
              "phone": "+46 70-123 45 67", "external_ref": "dam-1"},
    )
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["name"] == "Anna Andersson"
    assert body["personal_number_masked"] == "19850709-****"
    assert body["birth_date"] == "1985-07-09"
    assert body["is_minor"] is False
    assert body["guardian_ids"] == []
    assert body["external_ref"] == "dam-1"
    assert body["email"] == "anna@example.se" and body["phone"] == "+46 70-123 45 67"
    assert body["created_at"].endswith("+00:00")
    assert "personal_number" not in body and ADULT not in resp.get_data(as_text=True)
    got = api.get(f"/api/v1/persons/{body['id']}")
    assert got.status_code == 200 and got.get_json()["id"] == body["id"]


def test_minor_with_guardians(api: Any) -> None:
    mother = create(api, name="Mor", personal_number=ADULT)
    father = create(api, name="Far", personal_number=OTHER_ADULT)
    child = create(api, name="Barn", personal_number=CHILD, guardian_ids=[father["id"], mother["id"]])
    assert child["is_minor"] is True
    assert child["birth_date"] == "2015-03-12"
    assert child["guardian_ids"] == [father["id"], mother["id"]]


def test_person_without_birth_date_has_unknown_minority(api: Any) -> None:
    body = create(api, name="Okänd")
    assert body["birth_date"] is None and body["is_minor"] is None and body["personal_number_masked"] is None
    dated = create(api, name="Datum", birth_date="2016-05-01")
    assert dated["is_minor"] is True


def test_personal_number_is_encrypted_indexed_and_never_in_audit(app: Flask, api: Any) -> None:
    body = create(api, personal_number="19121212-1212")
    with app.extensions["samtycke.sessionmaker"]() as s:
        row = s.execute(sa.select(Person.__table__).where(Person.id == body["id"])).mappings().one()
        raw = " ".join(str(v) for v in row.values())
        audit_rows = " ".join(
            str(tuple(r)) for r in s.execute(sa.select(AuditEvent.__table__)).all()
        )
    assert row["pn_encrypted"] and row["pn_index"]
    for form in (TOLVAN, TOLVAN[2:], "19121212-1212", "121212-1212"):
        assert form not in raw
        assert form not in audit_rows
    keyring = app.extensions["samtycke.keyring"]
    assert keyring.decrypt(row["pn_encrypted"], context=api.tenant_id) == TOLVAN


@pytest.mark.parametrize("form", [ADULT, "19850709-9805", "850709-9805", "8507099805"])
def test_search_by_personal_number_in_any_form(api: Any, form: str) -> None:
    wanted = create(api, name="Anna", personal_number=ADULT)
    create(api, name="Bertil", personal_number=OTHER_ADULT)
    resp = api.get("/api/v1/persons", query_string={"personal_number": form})
    assert resp.status_code == 200
    assert [p["id"] for p in resp.get_json()["items"]] == [wanted["id"]]


def test_search_with_plus_form_finds_centenarian(api: Any) -> None:
    old = create(api, name="Tolvan", personal_number=TOLVAN)
    found = api.get("/api/v1/persons", query_string={"personal_number": "121212+1212"}).get_json()["items"]
    assert [p["id"] for p in found] == [old["id"]]
    # Without "+" the short form means someone born in 2012: nobody here.
    assert api.get("/api/v1/persons", query_string={"personal_number": "121212-1212"}).get_json()["items"] == []


def test_search_by_invalid_personal_number_is_422(api: Any) -> None:
    body = assert_problem(api.get("/api/v1/persons?personal_number=198507099806"), 422)
    assert "personal_number" in body["errors"]
    assert "198507099806" not in str(body)


def test_search_by_name_is_case_insensitive_with_swedish_letters(api: Any) -> None:
    asa = create(api, name="Åsa Öberg")
    create(api, name="Bo Ek")
    for q in ("åsa", "ÅSA", "öBERG", "sa Ö"):
        items = api.get("/api/v1/persons", query_string={"q": q}).get_json()["items"]
        assert [p["id"] for p in items] == [asa["id"]], q
    assert api.get("/api/v1/persons?q=%25").get_json()["items"] == []  # % is literal, not a wildcard


def test_list_items_leave_out_email_and_phone(api: Any) -> None:
    create(api, name="Anna", email="anna@example.se", phone="+46701234567", external_ref="x-1")
    create(api, name="Bo", external_ref="x-2")
    items = api.get("/api/v1/persons?external_ref=x-1").get_json()["items"]
    assert len(items) == 1 and items[0]["name"] == "Anna"
    assert "email" not in items[0] and "phone" not in items[0]
    assert {"id", "name", "birth_date", "is_minor", "personal_number_masked", "guardian_ids", "external_ref",
            "created_at"} <= set(items[0])


def test_keyset_pagination_visits_everyone_once(api: Any) -> None:
    ids = [create(api, name=f"P{i}")["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": 3}
        if cursor:
            query["cursor"] = cursor
        body = api.get("/api/v1/persons", query_string=query).get_json()
        seen += [p["id"] for p in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "cursor=not-a-cursor", "cursor=e30"])
def test_bad_list_arguments_are_422(api: Any, query: str) -> None:
    assert_problem(api.get(f"/api/v1/persons?{query}"), 422)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "personal_number": "198507099806"}, "personal_number"),  # bad Luhn
        ({"name": "A", "personal_number": LEAP_DAY_1970}, "personal_number"),  # impossible date
        ({"name": "A", "personal_number": "85070998"}, "personal_number"),
        ({"name": "A", "personal_number": 198507099805}, "personal_number"),  # wrong type
        ({"name": "A", "personal_number": ADULT, "birth_date": "1985-07-10"}, "birth_date"),
        ({"name": "A", "birth_date": "2015-02-30"}, "birth_date"),
        ({"name": "A", "birth_date": "2999-01-01"}, "birth_date"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "A\u0000B"}, "name"),
        ({}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "phone": "call me"}, "phone"),
        ({"name": "A", "phone": "123"}, "phone"),
        ({"name": "A", "guardian_ids": "abc"}, "guardian_ids"),
        ({"name": "A", "guardian_ids": ["no-such-person"]}, "guardian_ids"),
        ({"name": "A", "nickname": "x"}, "nickname"),
    ],
)
def test_invalid_create_is_422_and_writes_nothing(app: Flask, api: Any, body: dict[str, Any], field: str) -> None:
    before = counts(app)
    problem = assert_problem(api.post("/api/v1/persons", json=body), 422)
    assert field in problem.get("errors", {}), problem
    assert counts(app) == before
    if isinstance(body.get("personal_number"), str):
        assert body["personal_number"] not in str(problem)


def test_malformed_json_and_non_object_bodies(app: Flask, api: Any) -> None:
    before = counts(app)
    assert_problem(
        api.post("/api/v1/persons", data="{bad json", headers={"Content-Type": "application/json"}), 400
    )
    assert_problem(api.post("/api/v1/persons", json=["Anna"]), 422)
    assert_problem(api.post("/api/v1/persons", json=None), 422)
    assert counts(app) == before


def test_duplicate_personal_number_is_409_in_any_form(app: Flask, api: Any) -> None:
    create(api, name="Anna", personal_number=ADULT)
    before = counts(app)
    body = assert_problem(api.post("/api/v1/persons", json={"name": "Again", "personal_number": "850709-9805"}), 409)
    assert ADULT not in str(body) and "850709" not in str(body)
    assert counts(app) == before


def test_same_personal_number_in_two_tenants_is_fine(api: Any, other_api: Any) -> None:
    create(api, personal_number=ADULT)
    create(other_api, personal_number=ADULT)


def test_guardian_rules(app: Flask, api: Any) -> None:
    parents = [create(api, name=f"Parent {i}")["id"] for i in range(5)]
    child = create(api, name="Child", guardian_ids=parents[:1])
    before = counts(app)
    too_many = assert_problem(api.post("/api/v1/persons", json={"name": "X", "guardian_ids": parents}), 422)
    assert "guardian_ids" in too_many["errors"]
    dup = assert_problem(api.post("/api/v1/persons", json={"name": "X", "guardian_ids": parents[:1] * 2}), 422)
    assert "guardian_ids" in dup["errors"]
    own = assert_problem(api.patch(f"/api/v1/persons/{child['id']}", json={"guardian_ids": [child["id"]]}), 422)
    assert "guardian_ids" in own["errors"]
    # The parent cannot get its own ward as guardian.
    cycle = assert_problem(api.patch(f"/api/v1/persons/{parents[0]}", json={"guardian_ids": [child["id"]]}), 422)
    assert "guardian_ids" in cycle["errors"]
    assert counts(app) == before


def test_patch_changes_and_clears_fields_and_audits_field_names(app: Flask, api: Any) -> None:
    guardian = create(api, name="G")
    person = create(api, name="Anna", email="anna@example.se", phone="+46701234567", external_ref="r1")
    resp = api.patch(
        f"/api/v1/persons/{person['id']}",
        json={"name": "Anna B", "email": None, "personal_number": "19850709-9805", "guardian_ids": [guardian["id"]]},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["name"] == "Anna B" and body["email"] is None and body["phone"] == "+46701234567"
    assert body["birth_date"] == "1985-07-09" and body["personal_number_masked"] == "19850709-****"
    assert body["guardian_ids"] == [guardian["id"]]
    with app.extensions["samtycke.sessionmaker"]() as s:
        event = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None and event.type == "person.updated"
    assert event.refs == {
        "person_id": person["id"],
        "fields": ["birth_date", "email", "guardian_ids", "name", "personal_number"],
    }
    # Clearing: the personal number goes, guardians are replaced by none.
    cleared = api.patch(f"/api/v1/persons/{person['id']}", json={"personal_number": None, "guardian_ids": []})
    assert cleared.get_json()["personal_number_masked"] is None and cleared.get_json()["guardian_ids"] == []
    assert api.get("/api/v1/persons", query_string={"personal_number": ADULT}).get_json()["items"] == []


def test_patch_without_change_writes_no_audit_event(app: Flask, api: Any) -> None:
    person = create(api, name="Anna")
    before = counts(app)
    assert api.patch(f"/api/v1/persons/{person['id']}", json={}).status_code == 200
    assert api.patch(f"/api/v1/persons/{person['id']}", json={"name": "Anna"}).status_code == 200
    assert counts(app) == before


def test_patch_errors_write_nothing(app: Flask, api: Any) -> None:
    create(api, name="Taken", personal_number=ADULT)
    person = create(api, name="Anna", personal_number=OTHER_ADULT)
    before = counts(app)
    url = f"/api/v1/persons/{person['id']}"
    assert_problem(api.patch(url, json={"name": None}), 422)
    assert_problem(api.patch(url, json={"personal_number": "850709-9805"}), 409)
    assert_problem(api.patch(url, json={"birth_date": "2001-01-01"}), 422)  # contradicts the stored number
    assert_problem(api.patch(url, json={"birth_date": None}), 422)  # the stored number fixes it
    assert_problem(api.patch(url, json={"name": "New", "personal_number": "198507099806"}), 422)
    assert_problem(api.patch(url, json={"id": "x"}), 422)
    assert_problem(api.patch(url, data="nope", headers={"Content-Type": "application/json"}), 400)
    assert counts(app) == before
    assert api.get(url).get_json()["name"] == "Anna"


def test_unknown_person_is_404(api: Any) -> None:
    assert_problem(api.get("/api/v1/persons/no-such-id"), 404)
    assert_problem(api.patch("/api/v1/persons/no-such-id", json={"name": "x"}), 404)
    assert_problem(api.delete("/api/v1/persons/no-such-id"), 404)
    assert_problem(api.get("/api/v1/persons/no-such-id/export"), 404)


def test_scopes(make_api: Any) -> None:
    reader = make_api("acme", scopes="persons:read")
    assert_problem(reader.post("/api/v1/persons", json={"name": "A"}), 403)
    assert reader.get("/api/v1/persons").status_code == 200
    writer = make_api("acme", scopes="persons:write")
    assert_problem(writer.get("/api/v1/persons"), 403)
    person = writer.post("/api/v1/persons", json={"name": "A"}).get_json()
    assert_problem(writer.get(f"/api/v1/persons/{person['id']}/export"), 403)
    assert reader.http.get("/api/v1/persons").status_code == 401


def test_hostile_strings_are_refused_not_500(app: Flask, api: Any) -> None:
    person = create(api, name="Anna")
    before = counts(app)
    for resp, status in [
        (api.get("/api/v1/persons/a%00b"), 404),
        (api.patch("/api/v1/persons/a%00b", json={"name": "B"}), 404),
        (api.delete("/api/v1/persons/a%00b"), 404),
        (api.get("/api/v1/persons/a%00b/export"), 404),
        (api.get(f"/api/v1/persons/{'x' * 5000}"), 404),
        (api.get("/api/v1/persons?q=a%00b"), 422),
        (api.get("/api/v1/persons?external_ref=a%00b"), 422),
        (api.get("/api/v1/persons?personal_number=%00"), 422),
        (api.post("/api/v1/persons", json={"name": "A", "guardian_ids": ["a\u0000b"]}), 422),
        (api.post("/api/v1/persons", json={"name": "A\ud800"}), 422),
        (api.post("/api/v1/persons", json={"name": "A", "email": "a\ud800@b.se"}), 422),
        (api.post("/api/v1/persons", json={"name": "A", "external_ref": "\u0000"}), 422),
        (api.patch(f"/api/v1/persons/{person['id']}", json={"external_ref": "a\ud800"}), 422),
        (api.post("/api/v1/persons", json={"name": "A", "birth_date": 20150101}), 422),
        (api.post("/api/v1/persons", json={"name": {"first": "A"}}), 422),
    ]:
        assert resp.status_code == status, resp.get_data(as_text=True)
        assert resp.mimetype == "application/problem+json"
    assert counts(app) == before
