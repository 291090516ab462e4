"""Swedish personal identity numbers (personnummer) and coordination numbers
(samordningsnummer, day of birth + 60).

Accepted forms: ``YYYYMMDDNNNN``, ``YYYYMMDD-NNNN``, ``YYMMDD-NNNN``, ``YYMMDDNNNN``
and ``YYMMDD+NNNN`` (``+`` marks a person aged 100 or more). Every form is
normalised to the 12 digits ``YYYYMMDDNNNN``. The check digit is Luhn over the
10-digit form; the date must exist and must not lie in the future.

Error messages never repeat the number: they may end up in logs or answers.
"""

from __future__ import annotations

import re
from datetime import date

_LONG = re.compile(r"^(\d{4})(\d{2})(\d{2})-?(\d{4})$")
_SHORT = re.compile(r"^(\d{2})(\d{2})(\d{2})([-+]?)(\d{4})$")
COORDINATION_OFFSET = 60
OLDEST_YEAR = 1800

FORMAT_HINT = "use YYYYMMDDNNNN, YYYYMMDD-NNNN, YYMMDD-NNNN, YYMMDDNNNN or YYMMDD+NNNN"


class InvalidPersonalNumber(ValueError):
    """The value is not a valid Swedish personal or coordination number (message names why)."""


def luhn_check_digit(nine_digits: str) -> int:
    total = 0
    for index, char in enumerate(nine_digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def luhn_ok(ten_digits: str) -> bool:
    return len(ten_digits) == 10 and luhn_check_digit(ten_digits[:9]) == int(ten_digits[9])


def _real_day(day: int) -> int:
    return day - COORDINATION_OFFSET if day > COORDINATION_OFFSET else day


def _century_for(yy: int, month: int, day: int, plus: bool, today: date) -> int:
    """The year of a short-form number: the latest year ending in ``yy`` not after today,
    a hundred years earlier again for the ``+`` form."""
    year = (today.year // 100) * 100 + yy
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    return year - 100 if plus else year


def normalise(value: str, today: date | None = None) -> str:
    """The 12-digit form of a valid number, or :class:`InvalidPersonalNumber`."""
    if not isinstance(value, str):
        raise InvalidPersonalNumber("a personal number is a string")
    today = today or date.today()
    text = value.strip()
    if not text.isascii():
        raise InvalidPersonalNumber(f"not a personal number; {FORMAT_HINT}")
    long_match = _LONG.match(text)
    short_match = None if long_match else _SHORT.match(text)
    if long_match:
        yyyy, mm, dd, serial = long_match.groups()
        year = int(yyyy)
    elif short_match:
        yy, mm, dd, sep, serial = short_match.groups()
        year = _century_for(int(yy), int(mm), _real_day(int(dd)), sep == "+", today)
    else:
        raise InvalidPersonalNumber(f"not a personal number; {FORMAT_HINT}")
    digits = f"{year:04d}{mm}{dd}{serial}"
    if not luhn_ok(digits[2:]):
        raise InvalidPersonalNumber("the check digit is wrong")
    birth = _birth_date(digits)
    if birth > today:
        raise InvalidPersonalNumber("the birth date is in the future")
    return digits


def _birth_date(digits: str) -> date:
    year, month, day = int(digits[:4]), int(digits[4:6]), _real_day(int(digits[6:8]))
    if year < OLDEST_YEAR:
        raise InvalidPersonalNumber("the birth date is not plausible")
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidPersonalNumber("the birth date does not exist") from None


def is_valid(value: str, today: date | None = None) -> bool:
    try:
        normalise(value, today)
    except InvalidPersonalNumber:
        return False
    return True


def is_coordination_number(pn: str) -> bool:
    return int(pn[6:8]) > COORDINATION_OFFSET


def birth_date_of(pn: str) -> date:
    """The birth date of a normalised (12-digit) number; coordination numbers minus 60 days."""
    if len(pn) != 12 or not pn.isdigit():
        raise InvalidPersonalNumber("expected a normalised 12-digit personal number")
    return _birth_date(pn)


def mask(pn: str) -> str:
    """``YYYYMMDD-****``: keeps the date part, hides the serial and check digit."""
    if len(pn) != 12 or not pn.isdigit():
        raise InvalidPersonalNumber("expected a normalised 12-digit personal number")
    return f"{pn[:8]}-****"


def written_forms(pn: str) -> set[str]:
    """Every way a normalised number may be written (long and short, with and without a separator):
    what must not appear where only the masked number may."""
    if len(pn) != 12 or not pn.isdigit():
        raise InvalidPersonalNumber("expected a normalised 12-digit personal number")
    short = pn[2:]
    return {pn, f"{pn[:8]}-{pn[8:]}", short, f"{short[:6]}-{short[6:]}", f"{short[:6]}+{short[6:]}"}
