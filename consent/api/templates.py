"""Consent templates: POST /consent-templates, GET /consent-templates[/{key}]."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Integer, ProblemSchema, StrictInteger, StrictSchema, Text
from app.auth import current_caller
from app.db import get_session
from app.i18n import LOCALES
from app.text import unstorable
from consent import templates
from consent.api.fields import Key
from consent.models import ConsentTemplate

blp = Blueprint(
    "consent_templates", __name__, description="Versioned consent texts per locale, offering a set of purposes."
)


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


def _localised(values: fields.Field) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(LOCALES)),
        values=values,
        required=True,
        validate=validate.Length(min=1),
    )


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


@blp.route("/consent-templates")
class Templates(MethodView):
    @blp.requires_scope("consents:write")
    @blp.arguments(TemplateCreateSchema)
    @blp.response(201, TemplateSchema)
    @blp.alt_response(422, schema=ProblemSchema, description="Invalid input or unknown purposes.")
    def post(self, body: dict[str, Any]) -> ConsentTemplate:
        """Create a template, or a new version when the key exists (needs consents:write)."""
        caller = current_caller()
        return templates.create_version(get_session(), caller.tenant_id, caller.actor, templates.TemplateInput(**body))

    @blp.requires_scope("consents:read")
    @blp.response(200, TemplateListSchema)
    def get(self) -> dict[str, Any]:
        """The latest version of every template, by key (needs consents:read)."""
        return {"items": templates.list_latest(get_session(), current_caller().tenant_id)}


@blp.route("/consent-templates/<key>")
class TemplateByKey(MethodView):
    @blp.requires_scope("consents:read")
    @blp.arguments(TemplateVersionArgsSchema, location="query")
    @blp.response(200, TemplateSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such template or version.")
    def get(self, args: dict[str, Any], key: str) -> ConsentTemplate:
        """A template's latest version, or ``?version=`` (needs consents:read)."""
        return templates.get_version(get_session(), current_caller().tenant_id, key, args.get("version"))
