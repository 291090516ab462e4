"""Field types of the consent API that know the domain's rules (personal numbers, keys, asset ids),
shared by several of its resources. Generic ones are in :mod:`app.api_fields`."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from consent import personal_numbers
from consent.ids import KEY_HINT, KEY_MAX_LENGTH, MAX_ASSET_ID, SLUG_PATTERN, check_asset_id


class PersonalNumber(fields.String):
    """A Swedish personal or coordination number in any accepted form, loaded as 12 digits.

    Its error messages never repeat the value."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "description": "Swedish personnummer or samordningsnummer: " + personal_numbers.FORMAT_HINT,
                "example": "19121212-1212",
            },
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return personal_numbers.normalise(text)
        except personal_numbers.InvalidPersonalNumber as exc:
            raise ma.ValidationError(f"Not a valid Swedish personal number: {exc}.") from None


class NationalNumber(fields.String):
    """A national identity number as given: its country's rules are checked by the service, which
    knows the country (an invalid one is a 422 naming the field and the rule, never the number)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Length(min=1, max=40))
        kwargs.setdefault(
            "metadata",
            {
                "description": "The national identity number of `country`: Swedish personnummer or "
                "samordningsnummer, Norwegian fødselsnummer (D- and H-nummer), Danish CPR-nummer or Finnish "
                "henkilötunnus. Swedish forms: " + personal_numbers.FORMAT_HINT + ".",
                "example": "19121212-1212",
            },
        )
        super().__init__(**kwargs)


class Country(fields.String):
    """The country of a national identity number."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.OneOf(personal_numbers.COUNTRIES))
        kwargs.setdefault(
            "metadata", {"description": "Whose national identity number personal_number is.", "example": "SE"}
        )
        super().__init__(**kwargs)


class Key(fields.String):
    """The key of a purpose or a template (:data:`consent.ids.SLUG_PATTERN`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "validate",
            [
                validate.Length(min=1, max=KEY_MAX_LENGTH),
                validate.Regexp(SLUG_PATTERN, error=KEY_HINT),
            ],
        )
        super().__init__(**kwargs)


class AssetId(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = check_asset_id(text)
        if problem:
            raise ma.ValidationError(problem)
        return text


class AssetIdList(fields.Field):
    """A list of 1 to ``max_items`` asset ids, checked in one pass (a batch holds up to 10,000)."""

    def __init__(self, max_items: int, **kwargs: Any) -> None:
        self.max_items = max_items
        kwargs.setdefault(
            "metadata",
            {"type": "array", "minItems": 1, "maxItems": max_items,
             "items": {"type": "string", "minLength": 1, "maxLength": MAX_ASSET_ID}},
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, list):
            raise ma.ValidationError("Not a valid list.")
        if not 1 <= len(value) <= self.max_items:
            raise ma.ValidationError(f"Give 1 to {self.max_items} asset ids.")
        errors: dict[int, list[str]] = {}
        for index, item in enumerate(value):
            if not isinstance(item, str):
                errors[index] = ["Not a valid string."]
            elif (problem := check_asset_id(item)) is not None:
                errors[index] = [problem]
            if len(errors) >= 20:
                break
        if errors:
            raise ma.ValidationError(errors)  # type: ignore[arg-type]
        return value
