"""Swedish personal identity numbers as BankID uses them: 12 digits (century
included), the last ten checked with the Luhn algorithm."""

from __future__ import annotations


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_valid_personal_number(value: object) -> bool:
    return isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit() and luhn_ok(value[2:])


def with_check_digit(first_eleven: str) -> str:
    """Complete 11 digits (YYYYMMDDNNN) with the Luhn check digit; used for test identities."""
    for digit in "0123456789":
        candidate = first_eleven + digit
        if luhn_ok(candidate[2:]):
            return candidate
    raise ValueError("no check digit fits")  # unreachable: one digit always fits
