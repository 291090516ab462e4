"""Norway: fødselsnummer, D-nummer (day + 40) and H-nummer (month + 40), normalised to 11 digits.

python-stdnum holds the weights and the individual-number century table; what it lacks is
added here:

* the check-digit rule for numbers issued from 2032 (Skatteetaten, "Nytt fødselsnummer fra
  2032"): the first control sum may leave a remainder of 0, 1, 2 or 3 instead of only 0, and
  the individual number no longer says the century;
* synthetic test numbers (month + 80, Skatteetaten's Tenor and the BankID test environment),
  accepted only where test numbers are allowed (never in production).
"""

from __future__ import annotations

import re
from datetime import date

from stdnum.exceptions import ValidationError
from stdnum.no import fodselsnummer as stdnum_no

from consent.personal_numbers.errors import InvalidPersonalNumber

WORD = "fødselsnummer"
FORMAT_HINT = "use DDMMYYNNNNN or DDMMYY NNNNN"
EXAMPLE = "010190 10046"
_WRITTEN = re.compile(r"[0-9]{6}[ -]?[0-9]{5}")
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
# Remainders of the first control sum allowed from 2032; before, only 0.
_K1_REMAINDERS_2032 = frozenset({0, 1, 2, 3})
D_OFFSET = 40
H_OFFSET = 40
SYNTHETIC_OFFSET = 80


def _weighted(weights: tuple[int, ...], digits: str) -> int:
    return sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11


def k1_remainder(pn: str) -> int:
    """The remainder of the first control sum over the first ten digits (0 for numbers issued before 2032)."""
    return _weighted(_K1_WEIGHTS, pn[:10])


def checks_ok(pn: str) -> bool:
    return k1_remainder(pn) in _K1_REMAINDERS_2032 and _weighted(_K2_WEIGHTS, pn) == 0


def is_2032_rule_only(pn: str) -> bool:
    """Valid only under the rule of 2032 (its individual number then says nothing about the century)."""
    return k1_remainder(pn) != 0


def is_synthetic(pn: str) -> bool:
    return int(pn[2:4]) > SYNTHETIC_OFFSET


def is_d_number(pn: str) -> bool:
    return int(pn[0]) >= 4


def is_h_number(pn: str) -> bool:
    return H_OFFSET < int(pn[2:4]) <= H_OFFSET + 12


def _date_parts(pn: str) -> tuple[int, int, int]:
    day, month, yy = int(pn[:2]), int(pn[2:4]), int(pn[4:6])
    if day > D_OFFSET:
        day -= D_OFFSET
    if month > SYNTHETIC_OFFSET:
        month -= SYNTHETIC_OFFSET
    elif month > H_OFFSET:
        month -= H_OFFSET
    return day, month, yy


def birth_date_of(pn: str, today: date | None = None) -> date:
    today = today or date.today()
    if int(pn[0]) >= 8:
        raise InvalidPersonalNumber("FH numbers carry no birth date and are not accepted")
    day, month, yy = _date_parts(pn)
    year = None
    if not is_2032_rule_only(pn):
        # stdnum's century table from the individual number, on the number with offsets removed.
        try:
            year = stdnum_no.get_birth_date(f"{day:02d}{month:02d}{pn[4:]}").year
        except ValidationError:
            year = None
    if year is None:
        year = (today.year // 100) * 100 + yy
        if (year, month, day) > (today.year, today.month, today.day):
            year -= 100
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidPersonalNumber("the birth date does not exist") from None


def normalise(text: str, today: date, test_numbers: bool) -> str:
    if not _WRITTEN.fullmatch(text):
        raise InvalidPersonalNumber(f"not a personal number in a Norwegian form; {FORMAT_HINT}")
    pn = stdnum_no.compact(text)
    if not checks_ok(pn):
        raise InvalidPersonalNumber("the check digits are wrong")
    if is_synthetic(pn) and not test_numbers:
        raise InvalidPersonalNumber("synthetic test numbers (month + 80) are not accepted in production")
    if birth_date_of(pn, today) > today:
        raise InvalidPersonalNumber("the birth date is in the future")
    return pn


def is_normalised(pn: str) -> bool:
    return len(pn) == 11 and pn.isascii() and pn.isdigit()


def mask(pn: str) -> str:
    return f"{pn[:6]} *****"


def written_forms(pn: str) -> set[str]:
    return {pn, f"{pn[:6]} {pn[6:]}", f"{pn[:6]}-{pn[6:]}"}
