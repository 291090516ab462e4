"""The tenant's audit trail over the API: GET /audit, GET /audit/verify.

Here rather than with consent's API because verifying holds the chain against its anchors
(signed checkpoints and sealed records), which are reports'."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from app import audit_queries
from app.api_blueprint import Blueprint
from app.api_fields import Integer, StrictSchema
from app.auth import current_caller
from app.db import get_session
from reports import anchors

blp = Blueprint("audit", __name__, description="The tamper-evident audit log (one hash chain per tenant).")


class AuditQueryArgsSchema(StrictSchema):
    after_seq = Integer(load_default=0, validate=validate.Range(min=0))
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class AuditEventSchema(ma.Schema):
    seq = fields.Integer(allow_none=True)
    at = fields.DateTime(allow_none=True)
    type = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    refs = fields.Dict(allow_none=True)
    prev_hash = fields.String(allow_none=True)
    hash = fields.String(allow_none=True)
    corrupt = fields.Boolean(
        metadata={"description": "Present and true only when a stored value does not read as its type "
                                 "(changed outside the service); such a value is null above."}
    )
    stored = fields.Dict(
        keys=fields.String(), values=fields.String(allow_none=True),
        metadata={"description": "For a corrupt row: the stored text of each unreadable value, by field."},
    )

    @ma.post_dump
    def _only_when_corrupt(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Intact rows keep exactly the contract's fields.
        if not data.get("corrupt"):
            data.pop("corrupt", None)
            data.pop("stored", None)
        return data


class AuditPageSchema(ma.Schema):
    items = fields.List(fields.Nested(AuditEventSchema))


class AnchorSchema(ma.Schema):
    kind = fields.String(metadata={"description": "checkpoint (a signed, timestamped head) or record (a sealed PDF)."})
    at = fields.DateTime(allow_none=True, metadata={"description": "The anchor's trusted (TSA) time."})


class AnchorProblemSchema(ma.Schema):
    kind = fields.String()
    source = fields.String(metadata={"description": "file, database, or the id of the record."})
    seq = fields.Integer(allow_none=True)


class AuditVerifySchema(ma.Schema):
    ok = fields.Boolean()
    events = fields.Integer(metadata={"description": "Events verified (when ok)."})
    head = fields.String(metadata={"description": "Hash of the last event (when ok)."})
    first_bad_seq = fields.Integer(metadata={"description": "First broken sequence number (when not ok)."})
    anchored_through = fields.Integer(
        metadata={"description": "Highest seq that a signed checkpoint or a sealed record proves the chain "
                                 "still holds (0: none); later events are not anchored yet."}
    )
    anchor = fields.Nested(AnchorSchema, allow_none=True, metadata={"description": "The anchor at anchored_through."})
    anchor_problems = fields.List(
        fields.Nested(AnchorProblemSchema),
        metadata={"description": "Checkpoints or records whose own evidence does not verify."},
    )


@blp.route("/audit")
class AuditEvents(MethodView):
    @blp.requires_scope("audit:read")
    @blp.arguments(AuditQueryArgsSchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Events in sequence order after ``after_seq`` (needs audit:read)."""
        return {"items": audit_queries.list_events(get_session(), current_caller().tenant_id, **args)}


@blp.route("/audit/verify")
class AuditVerify(MethodView):
    @blp.requires_scope("audit:read")
    @blp.response(200, AuditVerifySchema)
    def get(self) -> dict[str, Any]:
        """Recompute the chain and hold it against its anchors; names the first broken sequence
        number (needs audit:read)."""
        result = anchors.verify_chain(get_session(), current_caller().tenant_id, anchors.anchoring(current_app))
        anchoring = {
            "anchored_through": result.anchored_through,
            "anchor": {"kind": result.anchor_kind, "at": result.anchor_at} if result.anchor_kind else None,
            "anchor_problems": list(result.anchor_problems),
        }
        if result.ok:
            return {"ok": True, "events": result.events, "head": result.head, **anchoring}
        return {"ok": False, "first_bad_seq": result.first_bad_seq, **anchoring}
