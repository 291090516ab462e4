"""What a national identity number is called on pages, forms and records, by its country and the
reader's language: a Swede reads "Personnummer", a Norwegian "Fødselsnummer" for their own and
"Svensk personnummer" for a Swede's. Country names come from Babel's locale data."""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from consent.personal_numbers import COUNTRIES, example

NUMBER_LABELS: dict[str, LazyString] = {
    "SE": _l("Swedish personnummer"),
    "NO": _l("Norwegian fødselsnummer"),
    "DK": _l("Danish CPR-nummer"),
    "FI": _l("Finnish henkilötunnus"),
}

# Said on a form when the number does not follow its country's rules.
INVALID_MESSAGES: dict[str, LazyString] = {
    "SE": _l("Enter a valid Swedish personnummer, like %(example)s."),
    "NO": _l("Enter a valid Norwegian fødselsnummer (11 digits), like %(example)s."),
    "DK": _l("Enter a valid Danish CPR-nummer, like %(example)s."),
    "FI": _l("Enter a valid Finnish henkilötunnus, like %(example)s."),
}


def invalid_message(country: str | None) -> str:
    code = country if country in INVALID_MESSAGES else "SE"
    return str(INVALID_MESSAGES[code]) % {"example": example(code)}


def number_label(country: str | None) -> str:
    return str(NUMBER_LABELS.get(country or "SE", NUMBER_LABELS["SE"]))


def country_name(country: str) -> str:
    locale = get_locale()
    return str(locale.territories.get(country, country)) if locale is not None else country


def country_choices() -> list[tuple[str, str]]:
    return [(code, country_name(code)) for code in COUNTRIES]


