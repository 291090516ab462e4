"""Persons of SE, NO, DK and FI through the API: the number is checked, indexed, searched, unique
and masked within its country; an invalid one is a 422 naming the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import config
from app.errors import Unprocessable
from consent import persons
from consent.models import Person
from tests.consent.test_national_numbers import fi_number, no_numbers, se_number

SWEDE = se_number("19850709", "980")
NORWEGIAN = no_numbers("150786")[0]
NORWEGIAN_CHILD = no_numbers("010215", start=500)[0]
SYNTHETIC = no_numbers("158786")[0]
DANE = "2110621629"
FINN = next(n for i in range(2, 900) if (n := fi_number("010785", "-", f"{i:03d}"))[-1].isalpha())
TEMPORARY_FINN = fi_number("010785", "-", "923")


def create(api: Any, status: int = 201, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Test")
    resp = api.post("/api/v1/persons", json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    result: dict[str, Any] = resp.get_json()
    return result


def search(api: Any, **query: str) -> list[str]:
    resp = api.get("/api/v1/persons", query_string=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [p["id"] for p in resp.get_json()["items"]]


@pytest.mark.parametrize(
    ("country", "number", "masked", "birth"),
    [
        ("NO", NORWEGIAN[:6] + " " + NORWEGIAN[6:], "150786 *****", "1986-07-15"),
        ("DK", "211062-1629", "211062-****", "1962-10-21"),
        ("FI", FINN.lower(), "010785-****", "1985-07-01"),
        ("SE", SWEDE[2:8] + "-" + SWEDE[8:], "19850709-****", "1985-07-09"),
    ],
)
def test_a_person_of_each_country(app: Flask, api: Any, country: str, number: str, masked: str, birth: str) -> None:
    body = create(api, country=country, personal_number=number)
    assert body["country"] == country
    assert body["personal_number_masked"] == masked
    assert body["birth_date"] == birth
    assert api.get(f"/api/v1/persons/{body['id']}").get_json()["country"] == country
    with app.extensions["samtycke.sessionmaker"]() as s:
        row = s.execute(sa.select(Person.__table__).where(Person.id == body["id"])).mappings().one()
    assert row["country"] == country
    assert number not in " ".join(str(v) for v in row.values())


def test_country_defaults_to_sweden(api: Any) -> None:
    assert create(api, personal_number=SWEDE)["country"] == "SE"
    assert create(api, name="Utan nummer")["country"] == "SE"


def test_invalid_number_for_its_country_is_422_naming_field_and_rule(api: Any) -> None:
    wrong = NORWEGIAN[:-1] + str((int(NORWEGIAN[-1]) + 1) % 10)
    resp = api.post("/api/v1/persons", json={"name": "N", "country": "NO", "personal_number": wrong})
    assert resp.status_code == 422
    problem = resp.get_json()
    assert resp.content_type == "application/problem+json"
    assert "fødselsnummer" in problem["errors"]["personal_number"][0]
    assert "check digits" in problem["errors"]["personal_number"][0]
    assert wrong not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    ("country", "number"),
    [("NO", SWEDE), ("SE", NORWEGIAN), ("FI", NORWEGIAN), ("DK", FINN), ("SE", FINN)],
)
def test_a_number_of_one_country_is_refused_for_another(api: Any, country: str, number: str) -> None:
    resp = api.post("/api/v1/persons", json={"name": "X", "country": country, "personal_number": number})
    assert resp.status_code == 422
    assert "personal_number" in resp.get_json()["errors"]
    assert number not in resp.get_data(as_text=True)


def test_unknown_country_is_422(api: Any) -> None:
    resp = api.post("/api/v1/persons", json={"name": "X", "country": "IS", "personal_number": SWEDE})
    assert resp.status_code == 422 and "country" in resp.get_json()["errors"]


def test_search_and_uniqueness_are_per_country(api: Any) -> None:
    dane = create(api, country="DK", personal_number=DANE, name="Dansk")
    norwegian = create(api, country="NO", personal_number=NORWEGIAN, name="Norsk")
    assert search(api, personal_number=DANE, country="DK") == [dane["id"]]
    assert search(api, personal_number=NORWEGIAN[:6] + " " + NORWEGIAN[6:], country="NO") == [norwegian["id"]]
    assert search(api, country="NO") == [norwegian["id"]]
    # Read as a Swedish number (no country), the CPR-nummer is not a valid one, or not this person.
    resp = api.get("/api/v1/persons", query_string={"personal_number": DANE})
    assert resp.status_code == 422 or dane["id"] not in [p["id"] for p in resp.get_json()["items"]]
    again = api.post("/api/v1/persons", json={"name": "Igen", "country": "DK", "personal_number": "211062-1629"})
    assert again.status_code == 409


def test_equal_digits_in_two_countries_are_two_people(api: Any) -> None:
    # A 10-digit CPR-nummer whose digits also pass Swedish Luhn as YYMMDDNNNN.
    from consent import personal_numbers

    digits = next(
        f"150786{i:04d}" for i in range(1000, 3000) if personal_numbers.is_valid(f"150786{i:04d}")
    )
    dane = create(api, country="DK", personal_number=digits, name="Dansk")
    swede = create(api, country="SE", personal_number=digits, name="Svensk")
    assert dane["id"] != swede["id"]
    assert search(api, personal_number=digits, country="DK") == [dane["id"]]
    assert search(api, personal_number=digits, country="SE") == [swede["id"]]
    assert search(api, personal_number=digits) == [swede["id"]]


def test_test_numbers_pass_outside_production_only(app: Flask, api: Any) -> None:
    # The test app runs in development: synthetic Norwegian and temporary Finnish numbers pass.
    assert app.config["ENV"] == "development"
    assert create(api, country="NO", personal_number=SYNTHETIC)["birth_date"] == "1986-07-15"
    assert create(api, country="FI", personal_number=TEMPORARY_FINN)["birth_date"] == "1985-07-01"
    # Production says no test numbers, and the service then refuses them naming the rule.
    assert config.test_numbers_allowed({"ENV": "production"}) is False
    with app.app_context(), app.extensions["samtycke.sessionmaker"]() as s:
        for country, number, rule in (("NO", SYNTHETIC, "synthetic"), ("FI", TEMPORARY_FINN, "temporary")):
            with pytest.raises(Unprocessable) as info:
                persons.create_person(
                    s, app.extensions["samtycke.keyring"], api.tenant_id, "test", name="P",
                    country=country, personal_number=number, test_numbers=False,
                )
            assert rule in info.value.errors["personal_number"][0]


def test_patch_country_needs_the_new_countrys_number(app: Flask, api: Any) -> None:
    person = create(api, personal_number=SWEDE)
    resp = api.patch(f"/api/v1/persons/{person['id']}", json={"country": "NO"})
    assert resp.status_code == 422 and "personal_number" in resp.get_json()["errors"]
    resp = api.patch(f"/api/v1/persons/{person['id']}", json={"country": "NO", "personal_number": NORWEGIAN_CHILD})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["country"] == "NO" and body["birth_date"] == "2015-02-01" and body["is_minor"] is True
    assert search(api, personal_number=NORWEGIAN_CHILD, country="NO") == [person["id"]]
    assert search(api, personal_number=SWEDE) == []
