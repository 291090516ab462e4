"""The asset register: PUT /assets/{id} (title, thumbnail, persons expected, legal bases),
GET /assets/{id} with its status per purpose and its linked persons."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import ProblemSchema, StrictInteger, StrictSchema, Text, storable
from app.auth import current_caller
from app.db import get_session
from consent import assets, rights
from consent.api.fields import Key
from consent.api.links import LinkedPersonSchema

blp = Blueprint("assets", __name__, description="The assets the DAM registered, their status per purpose.")

MAX_PERSONS_EXPECTED = 10_000


class LegalBasisSchema(StrictSchema):
    basis = fields.String(required=True, validate=validate.OneOf(assets.LEGAL_BASES))
    purposes = fields.List(Key(), required=True, validate=validate.Length(min=1, max=100))


class AssetPutSchema(StrictSchema):
    title = Text(max_length=500, allow_none=True)
    thumbnail_url = fields.Url(
        allow_none=True, schemes={"https"}, require_tld=False,
        validate=[validate.Length(max=2000), storable],
        metadata={"description": "https only; stored as given."},
    )
    no_persons = fields.Boolean(truthy={True}, falsy={False}, metadata={"description": "Nobody is in the picture."})
    persons_expected = StrictInteger(
        allow_none=True, validate=validate.Range(min=0, max=MAX_PERSONS_EXPECTED),
        metadata={"description": "How many people are in the picture; fewer linked → persons_unidentified."},
    )
    legal_bases = fields.List(
        fields.Nested(LegalBasisSchema), validate=validate.Length(max=len(assets.LEGAL_BASES)),
        metadata={"description": "GDPR Art. 6 bases other than consent, each for some purposes."},
    )


class AssetSchema(ma.Schema):
    asset_id = fields.String()
    title = fields.String(allow_none=True)
    thumbnail_url = fields.String(allow_none=True)
    no_persons = fields.Boolean()
    persons_expected = fields.Integer(allow_none=True)
    legal_bases = fields.List(fields.Nested(LegalBasisSchema))
    status = fields.Dict(
        keys=fields.String(), values=fields.String(validate=validate.OneOf(rights.STATUSES)),
        metadata={"description": f"Per purpose key: one of {', '.join(rights.STATUSES)}."},
    )
    persons = fields.List(fields.Nested(LinkedPersonSchema))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


@blp.route("/assets/<string:asset_id>")
class AssetResource(MethodView):
    @blp.requires_scope("persons:write")
    @blp.arguments(AssetPutSchema, required=False)
    @blp.response(201, AssetSchema, description="Registered.")
    @blp.alt_response(200, schema=AssetSchema, description="Updated: only the fields given change.")
    @blp.alt_response(422, schema=ProblemSchema, description="Invalid fields, an unknown purpose.")
    def put(self, body: dict[str, Any], asset_id: str) -> tuple[Any, int]:
        """Register an asset or update what is known of it (needs persons:write)."""
        caller = current_caller()
        session = get_session()
        _, created = assets.put_asset(session, caller.tenant_id, asset_id, caller.actor, body or {})
        return assets.view_asset(session, caller.tenant_id, asset_id), 201 if created else 200

    @blp.requires_scope("persons:read")
    @blp.response(200, AssetSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="The service has never seen this asset.")
    def get(self, asset_id: str) -> Any:
        """The asset, its status per purpose now and its linked persons (needs persons:read)."""
        return assets.view_asset(get_session(), current_caller().tenant_id, asset_id)
