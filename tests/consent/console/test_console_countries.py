"""Persons of other Nordic countries on console pages: a country choice on the person form and the
searches, the number's own word in each language, per-country errors and search."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from consent.models import Person
from tests.consent.test_national_numbers import no_numbers
from tests.console_world import ANNA_PN, Seed, csrf_of, token_for

NORWEGIAN = no_numbers("150786")[0]


def _register(editor: Any, **data: str) -> Any:
    page = editor.get("/console/persons/new").get_data(as_text=True)
    return editor.post("/console/persons/new", data={**data, "csrf_token": csrf_of(page)})


def test_register_a_norwegian_and_read_the_word_in_each_language(app: Flask, seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    form = editor.get("/console/persons/new?lang=en").get_data(as_text=True)
    assert '<select id="country" name="country">' in form and '<option selected value="SE">Sweden</option>' in form
    assert '<option value="NO">Norway</option>' in form
    response = _register(editor, name="Ola Nordmann", country="NO", personal_number=NORWEGIAN[:6] + " " + NORWEGIAN[6:])
    assert response.status_code == 302
    ola = response.headers["Location"].rsplit("/", 1)[1]
    with app.extensions["samtycke.sessionmaker"]() as session:
        person = session.get(Person, ola)
        assert person is not None and person.country == "NO" and person.pn_masked == "150786 *****"
    for lang, word in (("en", "Norwegian fødselsnummer"), ("sv", "Norskt fødselsnummer"), ("nb", "Fødselsnummer")):
        html = editor.get(f"/console/persons/{ola}?lang={lang}").get_data(as_text=True)
        assert f"<dt>{word}</dt><dd>150786 *****</dd>" in html, lang
        assert NORWEGIAN not in html
    sv_swede = editor.get(f"/console/persons/{seed.anna}?lang=sv").get_data(as_text=True)
    assert "<dt>Personnummer</dt>" in sv_swede
    nb_swede = editor.get(f"/console/persons/{seed.anna}?lang=nb").get_data(as_text=True)
    assert "<dt>Svensk personnummer</dt>" in nb_swede


def test_a_number_invalid_for_the_chosen_country_is_refused_in_its_words(app: Flask, seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    editor.get("/console/persons/new?lang=nb")
    wrong = NORWEGIAN[:-1] + str((int(NORWEGIAN[-1]) + 1) % 10)
    response = _register(editor, name="Feil", country="NO", personal_number=wrong)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Skriv inn et gyldig fødselsnummer (11 sifre)" in html
    assert "svensk" not in html.split('id="personal_number-error"')[1].split("</p>")[0]
    # A Swedish number is no Norwegian number.
    response = _register(editor, name="Svensk", country="NO", personal_number="19800101-1231")
    assert response.status_code == 422 and "Skriv inn et gyldig fødselsnummer" in response.get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.scalar(sa.select(Person.id).where(Person.name.in_(("Feil", "Svensk")))) is None


def test_search_by_a_norwegian_number_with_and_without_a_country(seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    ola = _register(editor, name="Ola Nordmann", country="NO", personal_number=NORWEGIAN)
    ola_id = ola.headers["Location"].rsplit("/", 1)[1]
    token = token_for(editor, "/console/persons")
    for country, found in (("", True), ("NO", True), ("SE", False)):
        page = editor.post("/console/persons", data={"q": NORWEGIAN, "country": country, "csrf_token": token})
        assert page.status_code == 200, country
        assert (f"/console/persons/{ola_id}" in page.get_data(as_text=True)) is found, country
    # The list filtered by country shows only that country's persons.
    listed = editor.get("/console/persons?country=NO").get_data(as_text=True)
    assert f"/console/persons/{ola_id}" in listed and f"/console/persons/{seed.anna}\"" not in listed


def test_a_norwegian_childs_guardians_are_found_by_their_own_countrys_number(
    app: Flask, seed: Seed, as_role: Any
) -> None:
    editor = as_role("editor")
    father = _register(editor, name="Ola Nordmann", country="NO", personal_number=NORWEGIAN)
    father_id = father.headers["Location"].rsplit("/", 1)[1]
    child_number = no_numbers("010215", start=500)[0]
    # One Norwegian guardian by fødselsnummer, one Swedish (Anna, seeded) by personnummer.
    child = _register(editor, name="Kari Nordmann", country="NO", personal_number=child_number,
                      guardians=f"{NORWEGIAN}\n{ANNA_PN}\n")
    assert child.status_code == 302, child.get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        kari = session.get(Person, child.headers["Location"].rsplit("/", 1)[1])
        assert kari is not None and kari.country == "NO"
        assert [g.id for g in kari.guardians] == [father_id, seed.anna]
