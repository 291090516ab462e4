"""National identity numbers of the Nordic countries a person may have: Swedish personnummer
and samordningsnummer, Norwegian fødselsnummer (D- and H-nummer), Danish CPR-nummer and
Finnish henkilötunnus, through python-stdnum with the rules it lacks added per country.

Every function takes the country (default ``"SE"``, what a number was before countries).
A number is stored in its country's normalised form (see each module); masks keep the birth
date, which the number says anyway, and hide the rest. Test numbers (Norwegian synthetic,
Finnish temporary) are refused unless the caller says they are allowed (never in production).

Error messages name the rule and never repeat the number: they may end up in logs or answers.
"""

from __future__ import annotations

from datetime import date
from types import ModuleType
from typing import Final

from consent.personal_numbers import dk, fi, no, se
from consent.personal_numbers.errors import InvalidPersonalNumber
from consent.personal_numbers.se import COORDINATION_OFFSET, OLDEST_YEAR, luhn_check_digit, luhn_ok

__all__ = [
    "COORDINATION_OFFSET", "COUNTRIES", "DEFAULT_COUNTRY", "FORMAT_HINT", "OLDEST_YEAR", "InvalidPersonalNumber",
    "birth_date_of", "country_of", "example", "format_hint", "is_coordination_number", "is_valid", "luhn_check_digit",
    "luhn_ok", "mask", "normalise", "word", "written_forms",
]

DEFAULT_COUNTRY: Final = "SE"
_RULES: dict[str, ModuleType] = {"SE": se, "NO": no, "DK": dk, "FI": fi}
COUNTRIES: Final = tuple(_RULES)
FORMAT_HINT: Final = se.FORMAT_HINT


def _rules(country: str) -> ModuleType:
    try:
        return _RULES[country]
    except KeyError:
        raise InvalidPersonalNumber(f"unknown country; use one of {', '.join(COUNTRIES)}") from None


def _normalised(pn: str, country: str) -> ModuleType:
    rules = _rules(country)
    if not isinstance(pn, str) or not rules.is_normalised(pn):
        raise InvalidPersonalNumber(f"expected a normalised {rules.WORD}")
    return rules


def normalise(value: str, today: date | None = None, *, country: str = DEFAULT_COUNTRY,
              test_numbers: bool = False) -> str:
    """The normalised form of a valid number of ``country``, or :class:`InvalidPersonalNumber`
    naming the rule it breaks."""
    rules = _rules(country)
    if not isinstance(value, str):
        raise InvalidPersonalNumber("a personal number is a string")
    text = value.strip()
    if not text.isascii():
        raise InvalidPersonalNumber(f"not a personal number; {rules.FORMAT_HINT}")
    return str(rules.normalise(text, today or date.today(), test_numbers))


def is_valid(value: str, today: date | None = None, *, country: str = DEFAULT_COUNTRY,
             test_numbers: bool = False) -> bool:
    try:
        normalise(value, today, country=country, test_numbers=test_numbers)
    except InvalidPersonalNumber:
        return False
    return True


def birth_date_of(pn: str, country: str = DEFAULT_COUNTRY) -> date:
    """The birth date a normalised number says (Swedish coordination numbers minus 60 days,
    Norwegian D-, H- and synthetic numbers without their offsets)."""
    result: date = _normalised(pn, country).birth_date_of(pn)
    return result


def is_coordination_number(pn: str) -> bool:
    return se.is_coordination_number(pn)


def mask(pn: str, country: str = DEFAULT_COUNTRY) -> str:
    """The number as it is shown: its date part, the rest hidden, in the country's layout."""
    return str(_normalised(pn, country).mask(pn))


def written_forms(pn: str, country: str = DEFAULT_COUNTRY) -> set[str]:
    """Every way a normalised number may be written: what must not appear where only the mask may."""
    forms: set[str] = _normalised(pn, country).written_forms(pn)
    return forms


def country_of(pn: str) -> str | None:
    """The country whose normalised form ``pn`` has (the forms differ: 12, 11 or 10 digits, or a
    century sign), or None."""
    return next((code for code, rules in _RULES.items() if isinstance(pn, str) and rules.is_normalised(pn)), None)


def word(country: str = DEFAULT_COUNTRY) -> str:
    """What the country calls the number (personnummer, fødselsnummer, CPR-nummer, henkilötunnus)."""
    return str(_rules(country).WORD)


def format_hint(country: str = DEFAULT_COUNTRY) -> str:
    return str(_rules(country).FORMAT_HINT)


def example(country: str = DEFAULT_COUNTRY) -> str:
    return str(_rules(country).EXAMPLE)
