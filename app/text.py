"""What text the service stores: one rule for every form, schema and request.

No control characters (a one-line field holds none; a multi-line one may hold line
breaks and tabs), and no unpaired UTF-16 surrogates, which no database encoding
accepts. PostgreSQL cannot even compare a NUL, so a NUL anywhere is refused at the
edge (``app.input_guard``) before any query sees it.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# An e-mail address as staff accounts and console forms take it: something@domain.tld, no spaces.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

CONTROL_CHARACTERS = "Must not contain control characters."
INVALID_UNICODE = "Must be valid Unicode text."


def encodable(text: str) -> bool:
    """Can a database hold it at all (no NUL, no unpaired surrogate)?"""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    return bool((_CONTROL_MULTILINE if multiline else _CONTROL).search(text))


def unstorable(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` cannot be stored as it is, or None."""
    if has_control_characters(text, multiline=multiline):
        return CONTROL_CHARACTERS
    if not encodable(text):
        return INVALID_UNICODE
    return None
