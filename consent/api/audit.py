"""The tenant's audit trail: GET /audit, GET /audit/verify."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from app import audit
from app.auth import current_caller, require_scope
from app.db import get_session
from app.json_input import Blueprint
from consent.schemas_common import Integer, StrictSchema, security

blp = Blueprint("audit", __name__, description="The tamper-evident audit log (one hash chain per tenant).")


class AuditQueryArgsSchema(StrictSchema):
    after_seq = Integer(load_default=0, validate=validate.Range(min=0))
    limit = Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class AuditEventSchema(ma.Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    type = fields.String()
    actor = fields.String()
    refs = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class AuditPageSchema(ma.Schema):
    items = fields.List(fields.Nested(AuditEventSchema))


class AuditVerifySchema(ma.Schema):
    ok = fields.Boolean()
    events = fields.Integer(metadata={"description": "Events verified (when ok)."})
    head = fields.String(metadata={"description": "Hash of the last event (when ok)."})
    first_bad_seq = fields.Integer(metadata={"description": "First broken sequence number (when not ok)."})


@blp.route("/audit")
class AuditEvents(MethodView):
    @require_scope("audit:read")
    @blp.doc(**security("audit:read"))
    @blp.arguments(AuditQueryArgsSchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Events in sequence order after ``after_seq`` (needs audit:read)."""
        return {"items": audit.list_events(get_session(), current_caller().tenant_id, **args)}


@blp.route("/audit/verify")
class AuditVerify(MethodView):
    @require_scope("audit:read")
    @blp.doc(**security("audit:read"))
    @blp.response(200, AuditVerifySchema)
    def get(self) -> dict[str, Any]:
        """Recompute the chain; names the first broken sequence number (needs audit:read)."""
        result = audit.verify(get_session(), current_caller().tenant_id)
        if result.ok:
            return {"ok": True, "events": result.events, "head": result.head}
        return {"ok": False, "first_bad_seq": result.first_bad_seq}
