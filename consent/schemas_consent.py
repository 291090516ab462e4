"""Marshmallow schemas of the consent-side API: templates, requests, consents,
usage rights and addenda (request schemas validate; answer schemas document)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from marshmallow import fields, validate

from app.errors import PayloadTooLarge
from app.i18n import LOCALES
from app.text import unstorable
from consent.consents import STATUSES
from consent.ids import MAX_ASSET_ID, SLUG_PATTERN, check_asset_id
from consent.schemas_common import (
    Email,
    Instant,
    Integer,
    ObjectId,
    PersonalNumber,
    StrictInteger,
    StrictSchema,
    Text,
)

BATCH_LIMIT = 10_000
MAX_BODY = 10_000  # characters of Markdown per locale: it must fit in the BankID app's visible text


class Markdown(fields.String):
    """Multi-line text: not blank, no control characters other than line breaks and tabs."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ma.ValidationError("Must not be blank.")
        problem = unstorable(text, multiline=True)
        if problem:
            raise ma.ValidationError(problem)
        if len(text) > MAX_BODY:
            raise ma.ValidationError(f"At most {MAX_BODY} characters.")
        return text


class Key(fields.String):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "validate",
            [
                validate.Length(min=1, max=64),
                validate.Regexp(SLUG_PATTERN, error="Lowercase letters and digits, joined by - or _."),
            ],
        )
        super().__init__(**kwargs)


class AssetIdList(fields.Field):
    """A list of asset ids, checked in one pass (a batch holds up to 10,000)."""

    def __init__(self, max_items: int = BATCH_LIMIT, **kwargs: Any) -> None:
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


def _localised(values: fields.Field) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(LOCALES)),
        values=values,
        required=True,
        validate=validate.Length(min=1),
    )


# --- templates ------------------------------------------------------------------

class TemplateCreateSchema(StrictSchema):
    key = Key(required=True, metadata={"example": "photo-consent"})
    title = _localised(Text(max_length=200))
    body = _localised(Markdown())
    purposes = fields.List(Key(), required=True, validate=validate.Length(min=1, max=50))
    validity_days = StrictInteger(required=True, validate=validate.Range(min=1, max=3650))
    minor_age = StrictInteger(load_default=18, validate=validate.Range(min=0, max=25))
    guardians_required = fields.String(load_default="all", validate=validate.OneOf(("all", "one")))

    @ma.validates_schema
    def _same_locales(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "title" in data and "body" in data and set(data["title"]) != set(data["body"]):
            raise ma.ValidationError("title and body must be given in the same locales.", "body")


class TemplateSchema(ma.Schema):
    id = fields.String()
    key = fields.String()
    version = fields.Integer()
    title = fields.Dict(keys=fields.String(), values=fields.String())
    body = fields.Dict(keys=fields.String(), values=fields.String())
    purposes = fields.List(fields.String())
    validity_days = fields.Integer()
    minor_age = fields.Integer()
    guardians_required = fields.String()
    text_sha256 = fields.Dict(keys=fields.String(), values=fields.String())
    created_at = fields.DateTime()


class TemplateListSchema(ma.Schema):
    items = fields.List(fields.Nested(TemplateSchema))


class TemplateVersionArgsSchema(ma.Schema):
    version = Integer(validate=validate.Range(min=1))


# --- consent requests -------------------------------------------------------------

class ConsentRequestCreateSchema(StrictSchema):
    person_id = ObjectId(required=True)
    template = Key(required=True, metadata={"description": "The template key; its latest version is used."})
    purposes = fields.List(Key(), allow_none=True, validate=validate.Length(min=1, max=50))
    asset_ids = AssetIdList(allow_none=True, metadata={"description": "Null or absent: every asset of the person."})
    valid_until = Instant(allow_none=True)
    locale = fields.String(allow_none=True, validate=validate.OneOf(LOCALES))


class SignerSchema(ma.Schema):
    id = fields.String()
    role = fields.String(metadata={"enum": ["subject", "guardian"]})
    person_id = fields.String()
    status = fields.String(metadata={"enum": ["pending", "signed", "declined"]})
    signing_url = fields.String()
    qr_png_url = fields.String()
    qr_svg_url = fields.String()
    signed_at = fields.DateTime(allow_none=True)


class TemplateRefSchema(ma.Schema):
    key = fields.String()
    version = fields.Integer()


class ConsentRequestSchema(ma.Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    consent_id = fields.String()
    person_id = fields.String()
    template = fields.Nested(TemplateRefSchema)
    locale = fields.String()
    expires_at = fields.DateTime()
    created_at = fields.DateTime()
    signers = fields.List(fields.Nested(SignerSchema))


# --- consents -----------------------------------------------------------------------

class ConsentQueryArgsSchema(ma.Schema):
    person_id = ObjectId()
    asset_id = fields.String(validate=validate.Length(min=1, max=MAX_ASSET_ID))
    status = fields.String(validate=validate.OneOf(STATUSES))
    purpose = fields.String(validate=validate.Length(min=1, max=64))
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(validate=validate.Length(max=500))


class SignatureSchema(ma.Schema):
    id = fields.String()
    role = fields.String()
    method = fields.String()
    signer_name = fields.String(allow_none=True)
    personal_number_masked = fields.String(allow_none=True)
    signed_at = fields.DateTime()
    visible_sha256 = fields.String()


class ConsentTemplateRefSchema(TemplateRefSchema):
    text_sha256 = fields.String()


class ConsentSchema(ma.Schema):
    id = fields.String()
    person_id = fields.String()
    request_id = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(STATUSES)})
    purposes = fields.List(fields.String())
    requested_purposes = fields.List(fields.String())
    asset_ids = fields.List(fields.String(), allow_none=True, metadata={"description": "null: every asset"})
    valid_from = fields.DateTime(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)
    template = fields.Nested(ConsentTemplateRefSchema)
    signatures = fields.List(fields.Nested(SignatureSchema))
    given_at = fields.DateTime(allow_none=True)
    refused_at = fields.DateTime(allow_none=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    locale = fields.String()
    created_at = fields.DateTime()
    record_url = fields.String(allow_none=True)


class ConsentListSchema(ma.Schema):
    items = fields.List(fields.Nested(ConsentSchema))
    next_cursor = fields.String(allow_none=True)


class WithdrawSchema(StrictSchema):
    reason = Text(max_length=1000, allow_none=True)


class RevokeSchema(StrictSchema):
    reason = Text(max_length=1000, required=True)


# --- usage rights --------------------------------------------------------------------

def _plus_from_query(data: Any) -> Any:
    # An unencoded "+" in a query string arrives as a space: "…T10:00:00 02:00".
    if isinstance(data, dict) and isinstance(data.get("at"), str) and " " in data["at"]:
        data = dict(data)
        data["at"] = data["at"].strip().replace(" ", "+")
    return data


class RightsQueryArgsSchema(ma.Schema):
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=64))
    at = Instant(metadata={"description": "ISO 8601 with offset; default now."})

    @ma.pre_load
    def _fix_plus(self, data: Any, **kwargs: Any) -> Any:
        return _plus_from_query(dict(data) if hasattr(data, "keys") else data)


class RightsBatchSchema(StrictSchema):
    asset_ids = AssetIdList(required=True)
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=64))
    at = Instant(allow_none=True)

    @ma.pre_load
    def _too_many(self, data: Any, **kwargs: Any) -> Any:
        # Counted on the raw list, before anything else is validated: 413, not 422.
        limit = int(current_app.config.get("BATCH_LIMIT", BATCH_LIMIT))
        ids = data.get("asset_ids") if isinstance(data, dict) else None
        if isinstance(ids, list) and len(ids) > limit:
            raise PayloadTooLarge(f"At most {limit} asset ids per query; got {len(ids)}.", limit=limit)
        return data


class PersonRightSchema(ma.Schema):
    person_id = fields.String()
    allowed = fields.Boolean()
    reason = fields.String()
    consent_id = fields.String(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)


class AssetRightSchema(ma.Schema):
    asset_id = fields.String()
    purpose = fields.String()
    at = fields.DateTime()
    allowed = fields.Boolean()
    reason = fields.String()
    valid_until = fields.DateTime(allow_none=True)
    persons = fields.List(fields.Nested(PersonRightSchema))


class RightsBatchResultSchema(ma.Schema):
    results = fields.List(fields.Nested(AssetRightSchema))


# --- addenda --------------------------------------------------------------------------

class AddendumSignerCreateSchema(StrictSchema):
    name = Text(required=True, max_length=200)
    email = Email(allow_none=True)
    personal_number = PersonalNumber(allow_none=True)


class AddendumCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"example": "transcription-transfer"})
    signer = fields.Nested(AddendumSignerCreateSchema, required=True)
    locale = fields.String(load_default="sv", validate=validate.OneOf(LOCALES))


class AddendumSignerSchema(ma.Schema):
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    personal_number_masked = fields.String(allow_none=True)


class AddendumSchema(ma.Schema):
    id = fields.String()
    kind = fields.String()
    version = fields.Integer()
    locale = fields.String()
    status = fields.String(metadata={"enum": ["pending", "signed", "refused", "revoked"]})
    text_sha256 = fields.String()
    signer = fields.Nested(AddendumSignerSchema)
    signing_url = fields.String()
    qr_png_url = fields.String()
    qr_svg_url = fields.String()
    created_at = fields.DateTime()
    signed_at = fields.DateTime(allow_none=True)
    refused_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class AddendumListSchema(ma.Schema):
    items = fields.List(fields.Nested(AddendumSchema))


class AddendumActiveArgsSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AddendumActiveSchema(ma.Schema):
    kind = fields.String()
    active = fields.Boolean()
    addendum_id = fields.String(allow_none=True)
    signed_at = fields.DateTime(allow_none=True)
