"""Marshmallow building blocks shared by every domain's API schemas.

Every request schema derives from :class:`StrictSchema` (unknown fields are an
error, not silently dropped). Fields here reject wrong JSON types instead of
coercing them (``"1"`` is not a number, ``true`` is not 1). Field types that know
a domain's rules live in that domain's API (``consent/api/fields.py``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from app import bounds
from app.text import unstorable

_PHONE_CHARS = re.compile(r"^\+?[0-9][0-9 \-]*$")


def storable(value: str) -> bool:
    """A marshmallow validator: no control characters, valid Unicode."""
    problem = unstorable(value)
    if problem:
        raise ma.ValidationError(problem)
    return True


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every 4xx answer carries them (for the OpenAPI document)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(metadata={"description": "Per-field messages, when the input was invalid."})


class Text(fields.String):
    """A trimmed one-line text: not blank, no control characters, at most ``max_length`` characters."""

    def __init__(self, max_length: int = 200, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ma.ValidationError("Must not be blank.")
        problem = unstorable(text)
        if problem:
            raise ma.ValidationError(problem)
        if len(text) > self.max_length:
            raise ma.ValidationError(f"At most {self.max_length} characters.")
        return text


class Number(fields.Float):
    """A JSON number: strings and booleans are refused, NaN and infinities too."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ma.ValidationError("Not a valid number.")
        if not math.isfinite(value):
            raise ma.ValidationError("Not a finite number.")
        return float(value)


class Integer(fields.Integer):
    """An integer the database can store (32-bit signed), whatever narrower range the field sets.

    Query parameters arrive as text, so this accepts ``"12"``; JSON bodies use :class:`StrictInteger`."""

    def __init__(self, **kwargs: Any) -> None:
        given = kwargs.pop("validate", None)
        extra = [] if given is None else list(given) if isinstance(given, list | tuple) else [given]
        storable_range = validate.Range(
            min=bounds.INT_MIN, max=bounds.INT_MAX, error="Must be between {min} and {max}."
        )
        super().__init__(validate=[storable_range, *extra], **kwargs)


class StrictInteger(Integer):
    """A JSON integer: no strings, no booleans, no fractions."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ma.ValidationError("Not a valid integer.")
        return int(super()._deserialize(value, attr, data, **kwargs))


class Instant(fields.AwareDateTime):
    """An ISO 8601 instant with its offset, loaded in UTC, within the years the service keeps
    (1900 to 9998, see :mod:`app.bounds`)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"example": "2026-05-01T12:00:00+02:00", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        utc = bounds.storable_instant(loaded)
        if utc is None:
            raise ma.ValidationError(
                f"Must lie between {bounds.MIN_INSTANT:%Y-%m-%d} and {bounds.MAX_INSTANT:%Y-%m-%d} (UTC)."
            )
        return utc


class Email(fields.Email):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ma.ValidationError("Not a valid string.")
        text = value.strip()
        storable(text)
        if len(text) > 320:
            raise ma.ValidationError("At most 320 characters.")
        return str(super()._deserialize(text, attr, data, **kwargs))


class Phone(fields.String):
    """Loosely checked: an optional +, then digits, spaces and dashes; 5 to 20 digits."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"example": "+46 70-123 45 67"})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        digits = sum(ch.isdigit() for ch in text)
        if not _PHONE_CHARS.match(text) or not 5 <= digits <= 20 or len(text) > 40:
            raise ma.ValidationError("Not a valid phone number: use +, digits, spaces and dashes (5 to 20 digits).")
        return text


class ObjectId(fields.String):
    """An opaque id given by the client (UUIDs here, but not checked as such)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", [validate.Length(min=1, max=64), storable])
        super().__init__(**kwargs)
