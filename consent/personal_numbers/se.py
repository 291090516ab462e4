"""Sweden: personnummer and samordningsnummer (coordination number, day of birth + 60).

Accepted forms: ``YYYYMMDDNNNN``, ``YYYYMMDD-NNNN``, ``YYMMDD-NNNN``, ``YYMMDDNNNN`` and
``YYMMDD+NNNN`` (``+`` marks a person aged 100 or more), normalised to the 12 digits
``YYYYMMDDNNNN``. python-stdnum parses the forms and checks the Luhn digit; the birth date
is ours, since stdnum neither knows coordination numbers nor places a short form born later
this year in the previous century.
"""

from __future__ import annotations

import re
from datetime import date

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.se import personnummer as stdnum_se

from consent.personal_numbers.errors import InvalidPersonalNumber

WORD = "personnummer"
FORMAT_HINT = "use YYYYMMDDNNNN, YYYYMMDD-NNNN, YYMMDD-NNNN, YYMMDDNNNN or YYMMDD+NNNN"
EXAMPLE = "19121212-1212"
COORDINATION_OFFSET = 60
OLDEST_YEAR = 1800
# What stdnum.compact returns for an accepted form: a 13- or 11-character number with its separator.
_WRITTEN = re.compile(r"(?:[0-9]{8}|[0-9]{6})[-+]?[0-9]{4}")
_COMPACT = re.compile(r"^(\d{4}|\d{2})(\d{2})(\d{2})([-+])(\d{4})$")


def luhn_check_digit(nine_digits: str) -> int:
    return int(luhn.calc_check_digit(nine_digits))


def luhn_ok(ten_digits: str) -> bool:
    return len(ten_digits) == 10 and ten_digits.isdigit() and luhn.is_valid(ten_digits)


def _real_day(day: int) -> int:
    return day - COORDINATION_OFFSET if day > COORDINATION_OFFSET else day


def _short_year(yy: int, month: int, day: int, plus: bool, today: date) -> int:
    """The latest year ending in ``yy`` not after today; a hundred years earlier for ``+``."""
    year = (today.year // 100) * 100 + yy
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    return year - 100 if plus else year


def normalise(text: str, today: date, test_numbers: bool) -> str:
    del test_numbers  # Skatteverket's test numbers are ordinary valid numbers.
    match = _COMPACT.match(stdnum_se.compact(text)) if _WRITTEN.fullmatch(text) else None
    if match is None or (len(match.group(1)) == 4 and match.group(4) == "+"):
        raise InvalidPersonalNumber(f"not a personal number in a Swedish form; {FORMAT_HINT}")
    year_part, mm, dd, sign, serial = match.groups()
    if len(year_part) == 4:
        year = int(year_part)
    else:
        year = _short_year(int(year_part), int(mm), _real_day(int(dd)), sign == "+", today)
    digits = f"{year:04d}{mm}{dd}{serial}"
    try:
        luhn.validate(digits[2:])
    except ValidationError:
        raise InvalidPersonalNumber("the check digit is wrong") from None
    if birth_date_of(digits) > today:
        raise InvalidPersonalNumber("the birth date is in the future")
    return digits


def is_normalised(pn: str) -> bool:
    return len(pn) == 12 and pn.isascii() and pn.isdigit()


def birth_date_of(pn: str) -> date:
    year, month, day = int(pn[:4]), int(pn[4:6]), _real_day(int(pn[6:8]))
    if year < OLDEST_YEAR:
        raise InvalidPersonalNumber("the birth date is not plausible")
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidPersonalNumber("the birth date does not exist") from None


def is_coordination_number(pn: str) -> bool:
    return int(pn[6:8]) > COORDINATION_OFFSET


def mask(pn: str) -> str:
    return f"{pn[:8]}-****"


def written_forms(pn: str) -> set[str]:
    short = pn[2:]
    return {pn, f"{pn[:8]}-{pn[8:]}", short, f"{short[:6]}-{short[6:]}", f"{short[:6]}+{short[6:]}"}
