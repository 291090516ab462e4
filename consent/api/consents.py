"""Consents: GET /consents[/{id}], POST /consents/{id}/withdraw, POST /consents/{id}/revoke."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Integer, ObjectId, ProblemSchema, StrictSchema, Text
from app.auth import current_caller
from app.db import get_session, utcnow
from consent import consents
from consent.consents import STATUSES
from consent.ids import MAX_ASSET_ID
from consent.models import Consent, ConsentRequest, Signature

blp = Blueprint("consents", __name__, description="Consents: status, evidence, withdrawal and revocation.")


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


class ConsentTemplateRefSchema(ma.Schema):
    key = fields.String()
    version = fields.Integer()
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


def present_consents(items: list[Consent]) -> list[dict[str, Any]]:
    """Consents as the API shows them; signatures, requests and records fetched in one go each."""
    if not items:
        return []
    session = get_session()
    tenant_id = items[0].tenant_id
    ids = [c.id for c in items]
    signatures: dict[str, list[Signature]] = {}
    for sig in session.scalars(
        sa.select(Signature).where(Signature.consent_id.in_(ids)).order_by(Signature.signed_at, Signature.id)
    ):
        signatures.setdefault(sig.consent_id or "", []).append(sig)
    request_ids = {
        consent_id: request_id
        for consent_id, request_id in session.execute(
            sa.select(ConsentRequest.consent_id, ConsentRequest.id).where(ConsentRequest.consent_id.in_(ids))
        )
    }
    sealed = consents.sealed_record_ids(session, tenant_id, ids)
    base_url = current_app.config["BASE_URL"]
    now = utcnow()
    return [
        {
            "id": c.id,
            "person_id": c.person_id,
            "request_id": request_ids.get(c.id),
            "status": consents.status_at(c, now),
            "purposes": c.purposes,
            "requested_purposes": c.requested_purposes,
            "asset_ids": c.asset_ids,
            "valid_from": c.valid_from,
            "valid_until": c.valid_until,
            "template": {"key": c.template_key, "version": c.template_version, "text_sha256": c.text_sha256},
            "signatures": [
                {
                    "id": s.id,
                    "role": s.role,
                    "method": s.method,
                    "signer_name": s.signer_name,
                    "personal_number_masked": s.pn_masked,
                    "signed_at": s.signed_at,
                    "visible_sha256": s.visible_sha256,
                }
                for s in signatures.get(c.id, [])
            ],
            "given_at": c.given_at,
            "refused_at": c.refused_at,
            "withdrawn_at": c.withdrawn_at,
            "revoked_at": c.revoked_at,
            "locale": c.locale,
            "created_at": c.created_at,
            "record_url": f"{base_url}/api/v1/consents/{c.id}/record.pdf" if c.id in sealed else None,
        }
        for c in items
    ]


@blp.route("/consents")
class Consents(MethodView):
    @blp.requires_scope("consents:read")
    @blp.arguments(ConsentQueryArgsSchema, location="query")
    @blp.response(200, ConsentListSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Consents, newest first, filtered by person, asset, status (``expired`` included) or purpose
        (needs consents:read)."""
        items, next_cursor = consents.list_page(
            get_session(), current_caller().tenant_id, consents.ConsentFilter(**args), now=utcnow()
        )
        return {"items": present_consents(items), "next_cursor": next_cursor}


@blp.route("/consents/<consent_id>")
class ConsentById(MethodView):
    @blp.requires_scope("consents:read")
    @blp.response(200, ConsentSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such consent.")
    def get(self, consent_id: str) -> dict[str, Any]:
        """One consent with its signatures (needs consents:read)."""
        return present_consents([consents.get(get_session(), current_caller().tenant_id, consent_id)])[0]


@blp.route("/consents/<consent_id>/withdraw", methods=["POST"])
@blp.requires_scope("consents:write")
@blp.arguments(WithdrawSchema)
@blp.response(200, ConsentSchema)
@blp.alt_response(409, schema=ProblemSchema, description="The consent is not given.")
def withdraw(body: dict[str, Any], consent_id: str) -> dict[str, Any]:
    """Record that the subject withdrew a given consent, as told to staff (needs consents:write)."""
    caller = current_caller()
    consent = consents.withdraw(
        get_session(), caller.tenant_id, caller.actor, consent_id, reason=body.get("reason"), now=utcnow()
    )
    return present_consents([consent])[0]


@blp.route("/consents/<consent_id>/revoke", methods=["POST"])
@blp.requires_scope("consents:write")
@blp.arguments(RevokeSchema)
@blp.response(200, ConsentSchema)
@blp.alt_response(409, schema=ProblemSchema, description="The consent is neither given nor pending.")
def revoke(body: dict[str, Any], consent_id: str) -> dict[str, Any]:
    """The controller ends a given or pending consent (needs consents:write)."""
    caller = current_caller()
    consent = consents.revoke(
        get_session(), caller.tenant_id, caller.actor, consent_id, reason=body["reason"], now=utcnow()
    )
    return present_consents([consent])[0]
