"""Finland: henkilötunnus (HETU), normalised to 11 upper-case characters ``DDMMYYCZZZQ``.

python-stdnum checks the format, every century sign (``+`` 1800s; ``-`` and, since 2023,
``Y X W V U`` 1900s; ``A`` to ``F`` 2000s), the date and the control character. Temporary
numbers (individual number 900–999, also the test users of the Finnish Trust Network) are
accepted only where test numbers are allowed. The century sign is part of the number: the
same digits with ``-`` and ``Y`` are two people.
"""

from __future__ import annotations

import re
from datetime import date

from stdnum.exceptions import ValidationError
from stdnum.fi import hetu as stdnum_fi

from consent.personal_numbers.errors import InvalidPersonalNumber

WORD = "henkilötunnus"
FORMAT_HINT = "use DDMMYYCZZZQ, C a century sign (+, -, Y, X, W, V, U, A–F)"
EXAMPLE = "010190-123M"
_WRITTEN = re.compile(r"[0-9]{6}[-+A-FU-Ya-fu-y][0-9]{3}[0-9A-Ya-y]")
CENTURIES = {"+": 1800, **dict.fromkeys("-YXWVU", 1900), **dict.fromkeys("ABCDEF", 2000)}
TEMPORARY = range(900, 1000)


def birth_date_of(pn: str) -> date:
    try:
        return date(CENTURIES[pn[6]] + int(pn[4:6]), int(pn[2:4]), int(pn[:2]))
    except ValueError:
        raise InvalidPersonalNumber("the birth date does not exist") from None


def is_temporary(pn: str) -> bool:
    return int(pn[7:10]) in TEMPORARY


def normalise(text: str, today: date, test_numbers: bool) -> str:
    if not _WRITTEN.fullmatch(text):
        raise InvalidPersonalNumber(f"not a personal number in a Finnish form; {FORMAT_HINT}")
    pn = stdnum_fi.compact(text)
    birth = birth_date_of(pn)
    if is_temporary(pn) and not test_numbers:
        raise InvalidPersonalNumber("temporary numbers (900–999) are not accepted in production")
    try:
        stdnum_fi.validate(pn, allow_temporary=True)
    except ValidationError:
        # The date is checked above, so what is left is the individual number or the control character.
        if int(pn[7:10]) < 2:
            raise InvalidPersonalNumber("the individual number is not in use") from None
        raise InvalidPersonalNumber("the control character is wrong") from None
    if birth > today:
        raise InvalidPersonalNumber("the birth date is in the future")
    return pn


def is_normalised(pn: str) -> bool:
    return len(pn) == 11 and pn.isascii() and bool(_WRITTEN.fullmatch(pn)) and pn == pn.upper()


def mask(pn: str) -> str:
    return f"{pn[:7]}****"


def written_forms(pn: str) -> set[str]:
    return {pn, pn.lower()}
