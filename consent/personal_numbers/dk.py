"""Denmark: CPR-nummer, normalised to 10 digits. Date-checked (century from the seventh digit,
python-stdnum's table); no modulus-11 check, which CPR gave up in 2007 when the numbers of
some birth dates ran out."""

from __future__ import annotations

import re
from datetime import date

from stdnum.dk import cpr as stdnum_dk
from stdnum.exceptions import ValidationError

from consent.personal_numbers.errors import InvalidPersonalNumber

WORD = "CPR-nummer"
FORMAT_HINT = "use DDMMYY-NNNN or DDMMYYNNNN"
EXAMPLE = "010190-1234"
_WRITTEN = re.compile(r"[0-9]{6}-?[0-9]{4}")


def birth_date_of(pn: str) -> date:
    try:
        return stdnum_dk.get_birth_date(pn)
    except ValidationError:
        raise InvalidPersonalNumber("the birth date does not exist") from None


def normalise(text: str, today: date, test_numbers: bool) -> str:
    del test_numbers
    if not _WRITTEN.fullmatch(text):
        raise InvalidPersonalNumber(f"not a personal number in a Danish form; {FORMAT_HINT}")
    pn = stdnum_dk.compact(text)
    if birth_date_of(pn) > today:
        raise InvalidPersonalNumber("the birth date is in the future")
    return pn


def is_normalised(pn: str) -> bool:
    return len(pn) == 10 and pn.isascii() and pn.isdigit()


def mask(pn: str) -> str:
    return f"{pn[:6]}-****"


def written_forms(pn: str) -> set[str]:
    return {pn, f"{pn[:6]}-{pn[6:]}"}
