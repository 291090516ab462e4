"""What the consent domain accepts as an identifier: the ids it gives out, the DAM's asset ids,
and the keys of purposes and templates.

The services decide with these rules; the API's fields only repeat them so that a bad value
is a 422 naming the field before any service runs.
"""

from __future__ import annotations

from app.text import unstorable

# A purpose or template key: lowercase letters and digits, joined by - or _.
SLUG_PATTERN = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"
KEY_MAX_LENGTH = 64
KEY_HINT = "Lowercase letters and digits, joined by - or _."

MAX_ASSET_ID = 200


def is_plain_id(value: str) -> bool:
    """Could this be an id we gave out? Anything else is simply unknown (404), never a database error."""
    return 1 <= len(value) <= 64 and value.isprintable() and unstorable(value) is None


def check_asset_id(value: str) -> str | None:
    """Why ``value`` is not an acceptable asset id, or None when it is."""
    if not 1 <= len(value) <= MAX_ASSET_ID:
        return f"An asset id has 1 to {MAX_ASSET_ID} characters."
    if "/" in value or not value.isprintable():
        return "An asset id has printable characters only and no slashes."
    return None
