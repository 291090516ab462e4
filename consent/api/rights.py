"""Usage rights, the DAM's question: GET /assets/{id}/usage-rights, POST /usage-rights/query.

The answers are built as plain JSON here (not dumped through marshmallow):
this is the hot path, and a batch answers up to 10,000 assets.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Response

from app.api_blueprint import Blueprint
from app.auth import current_caller
from app.db import get_session, utcnow
from consent import rights
from consent.schemas_common import ProblemSchema
from consent.schemas_consent import (
    AssetRightSchema,
    RightsBatchResultSchema,
    RightsBatchSchema,
    RightsQueryArgsSchema,
)

blp = Blueprint("usage_rights", __name__, description="May this asset be used for this purpose now?")


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
