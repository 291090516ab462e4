"""Usage rights, the DAM's question: GET /assets/{id}/usage-rights, POST /usage-rights/query.

The answers are built as plain JSON here (not dumped through marshmallow):
this is the hot path, and a batch answers up to 10,000 assets.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask import Response, current_app
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Instant, ProblemSchema, StrictSchema
from app.auth import current_caller
from app.config import DEFAULTS
from app.db import get_session, utcnow
from app.errors import PayloadTooLarge
from consent import rights
from consent.api.fields import AssetIdList

blp = Blueprint("usage_rights", __name__, description="May this asset be used for this purpose now?")


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
    # The default limit, as documented; _too_many first holds the list to the configured BATCH_LIMIT (413).
    asset_ids = AssetIdList(max_items=DEFAULTS["BATCH_LIMIT"], required=True)
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=64))
    at = Instant(allow_none=True)

    @ma.pre_load
    def _too_many(self, data: Any, **kwargs: Any) -> Any:
        # Counted on the raw list, before anything else is validated: 413, not 422.
        limit = int(current_app.config["BATCH_LIMIT"])
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


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body, default=_default, ensure_ascii=False, separators=(",", ":")),
        mimetype="application/json",
    )


def _at(args: dict[str, Any]) -> datetime:
    at = args.get("at")
    return at.astimezone(UTC) if at is not None else utcnow()


@blp.route("/assets/<asset_id>/usage-rights", methods=["GET"])
@blp.requires_scope("rights:read")
@blp.arguments(RightsQueryArgsSchema, location="query")
@blp.response(200, AssetRightSchema)
@blp.alt_response(400, schema=ProblemSchema, description="Unknown purpose.")
def usage_rights(args: dict[str, Any], asset_id: str) -> Response:
    """May the asset be used for the purpose at ``at`` (default now)? Every linked person needs a
    given, unexpired, unwithdrawn consent covering purpose and asset (needs rights:read)."""
    answer = rights.for_asset(get_session(), current_caller().tenant_id, asset_id, args["purpose"], _at(args))
    return _json(answer)


@blp.route("/usage-rights/query", methods=["POST"])
@blp.requires_scope("rights:read")
@blp.arguments(RightsBatchSchema)
@blp.response(200, RightsBatchResultSchema)
@blp.alt_response(400, schema=ProblemSchema, description="Unknown purpose.")
@blp.alt_response(413, schema=ProblemSchema, description="More than 10,000 asset ids.")
def usage_rights_batch(body: dict[str, Any]) -> Response:
    """The same question for up to 10,000 assets; answers in request order (needs rights:read)."""
    results = rights.for_assets(
        get_session(), current_caller().tenant_id, body["asset_ids"], body["purpose"], _at(body)
    )
    return _json({"results": results})
