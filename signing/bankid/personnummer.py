"""Swedish personal identity numbers as BankID's wire format uses them: exactly 12
digits (century included), the last ten Luhn-checked. Normalising the other
written forms is the consent domain's job (``consent.personal_numbers``); the
simulator validates only what BankID itself would accept."""

from __future__ import annotations

from consent.personal_numbers import luhn_check_digit, luhn_ok


def is_valid_personal_number(value: object) -> bool:
    return isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit() and luhn_ok(value[2:])


def with_check_digit(first_eleven: str) -> str:
    """Complete 11 digits (YYYYMMDDNNN) with the Luhn check digit; used for test identities."""
    return first_eleven + str(luhn_check_digit(first_eleven[2:]))
