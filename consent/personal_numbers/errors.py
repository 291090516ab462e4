"""The one error every country's rules raise."""

from __future__ import annotations


class InvalidPersonalNumber(ValueError):
    """The value is not a valid national identity number of its country; the message names the rule
    it broke and never repeats the number (messages may end up in logs or answers)."""
