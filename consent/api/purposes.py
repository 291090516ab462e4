"""Purposes: POST /purposes, GET /purposes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields

from app.api_blueprint import Blueprint
from app.api_fields import ProblemSchema, StrictSchema, Text
from app.auth import current_caller
from app.db import get_session
from app.i18n import LOCALES
from consent import purposes
from consent.api.fields import Key
from consent.models import Purpose

blp = Blueprint("purposes", __name__, description="Purposes a consent can cover (e.g. web, print, social).")


# One text per supported locale; all are required.
LocalisedLabelSchema = StrictSchema.from_dict(
    {locale: Text(required=True) for locale in LOCALES}, name="LocalisedLabelSchema"
)


class PurposeCreateSchema(StrictSchema):
    key = Key(required=True, metadata={"example": "web"})
    label = fields.Nested(LocalisedLabelSchema, required=True)


class PurposeSchema(StrictSchema):
    id = fields.String()
    key = fields.String()
    label = fields.Dict(keys=fields.String(), values=fields.String())
    created_at = fields.DateTime()


class PurposeListSchema(StrictSchema):
    items = fields.List(fields.Nested(PurposeSchema))


@blp.route("/purposes")
class Purposes(MethodView):
    @blp.requires_scope("consents:write")
    @blp.arguments(PurposeCreateSchema)
    @blp.response(201, PurposeSchema)
    @blp.alt_response(409, schema=ProblemSchema, description="A purpose with this key exists.")
    def post(self, body: dict[str, Any]) -> Purpose:
        """Create a purpose (needs consents:write)."""
        caller = current_caller()
        return purposes.create_purpose(get_session(), caller.tenant_id, caller.actor, **body)

    @blp.requires_scope("consents:read")
    @blp.response(200, PurposeListSchema)
    def get(self) -> dict[str, Any]:
        """List the tenant's purposes, by key (needs consents:read)."""
        return {"items": purposes.list_purposes(get_session(), current_caller().tenant_id)}
