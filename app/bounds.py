"""The numbers and instants the service stores, so input outside them is refused as invalid
instead of failing deep inside a query, a time-zone conversion or a date formatter.

Integers: PostgreSQL's ``integer`` is 32-bit signed (SQLite's is 64-bit); every integer
that can reach a query is held to the smaller range.

Instants: Python's ``datetime`` ends with the year 9999, so an instant near either end
overflows as soon as it is converted to UTC (``0001-01-01T00:00:00+14:00``) or shown in
a local time zone. The service keeps instants from 1900-01-01 up to 9999-01-01 (UTC),
and calendar dates from 1900-01-01 through 9998-12-31 (whose end, in UTC, is the last
instant kept): every shift by a time zone or a few days stays inside what ``datetime``
can hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1

MIN_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9998, 12, 31)


def storable_int(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


def storable_instant(value: datetime) -> datetime | None:
    """``value`` in UTC, or None when it has no offset or lies outside the instants kept."""
    if value.tzinfo is None or value.utcoffset() is None:
        return None
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        return None
    return utc if MIN_INSTANT <= utc <= MAX_INSTANT else None


def storable_date(value: date) -> bool:
    return MIN_DATE <= value <= MAX_DATE
