"""DPA addenda: POST/GET /addenda, GET /addenda/active, GET /addenda/{id}, POST /addenda/{id}/revoke."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Email, ProblemSchema, StrictSchema, Text
from app.auth import current_caller
from app.crypto import current_keyring
from app.db import get_session, utcnow
from app.i18n import DEFAULT_LOCALE, LOCALES
from consent import addenda
from consent.api.fields import PersonalNumber
from consent.api.requests import signing_links
from consent.models import Addendum, Signer

blp = Blueprint("addenda", __name__, description="DPA addenda the customer approves, e.g. the transcription transfer.")


class AddendumSignerCreateSchema(StrictSchema):
    name = Text(required=True, max_length=200)
    email = Email(allow_none=True)
    personal_number = PersonalNumber(allow_none=True)


class AddendumCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"example": "transcription-transfer"})
    signer = fields.Nested(AddendumSignerCreateSchema, required=True)
    locale = fields.String(load_default=DEFAULT_LOCALE, validate=validate.OneOf(LOCALES))


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


def present(addendum: Addendum, signer: Signer | None) -> dict[str, Any]:
    return {
        "id": addendum.id,
        "kind": addendum.kind,
        "version": addendum.version,
        "locale": addendum.locale,
        "status": addendum.status,
        "text_sha256": addendum.text_sha256,
        "signer": {
            "name": addendum.signer_name,
            "email": addendum.signer_email,
            "personal_number_masked": addendum.signer_pn_masked,
        },
        **(signing_links(signer.id) if signer is not None else {}),
        "created_at": addendum.created_at,
        "signed_at": addendum.signed_at,
        "refused_at": addendum.refused_at,
        "revoked_at": addendum.revoked_at,
    }


def _present_one(addendum: Addendum) -> dict[str, Any]:
    return present(addendum, addenda.signer_of(get_session(), addendum.id))


@blp.route("/addenda")
class Addenda(MethodView):
    @blp.requires_scope("addenda:write")
    @blp.arguments(AddendumCreateSchema)
    @blp.response(201, AddendumSchema)
    @blp.alt_response(422, schema=ProblemSchema, description="Unknown kind or invalid signer.")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Ask the customer's representative to sign a built-in addendum (needs addenda:write)."""
        caller = current_caller()
        signer = body["signer"]
        data = addenda.AddendumInput(
            kind=body["kind"],
            signer_name=signer["name"],
            signer_email=signer.get("email"),
            signer_personal_number=signer.get("personal_number"),
            locale=body["locale"],
        )
        addendum, link = addenda.create(
            get_session(), current_keyring(), caller.tenant_id, caller.actor, data,
            now=utcnow(), link_days=int(current_app.config["SIGNING_LINK_DAYS"]),
        )
        return present(addendum, link)

    @blp.requires_scope("addenda:read")
    @blp.response(200, AddendumListSchema)
    def get(self) -> dict[str, Any]:
        """Every addendum of the tenant, newest first (needs addenda:read)."""
        session = get_session()
        items = addenda.list_all(session, current_caller().tenant_id)
        signers = addenda.signers_by_addendum(session, [a.id for a in items])
        return {"items": [present(a, signers.get(a.id)) for a in items]}


@blp.route("/addenda/active", methods=["GET"])
@blp.requires_scope("addenda:read")
@blp.arguments(AddendumActiveArgsSchema, location="query")
@blp.response(200, AddendumActiveSchema)
@blp.alt_response(422, schema=ProblemSchema, description="Unknown kind.")
def active(args: dict[str, Any]) -> dict[str, Any]:
    """Is an addendum of this kind signed and not revoked? (needs addenda:read)"""
    found = addenda.active(get_session(), current_caller().tenant_id, args["kind"])
    return {
        "kind": args["kind"],
        "active": found is not None,
        "addendum_id": found.id if found else None,
        "signed_at": found.signed_at if found else None,
    }


@blp.route("/addenda/<addendum_id>", methods=["GET"])
@blp.requires_scope("addenda:read")
@blp.response(200, AddendumSchema)
@blp.alt_response(404, schema=ProblemSchema, description="No such addendum.")
def get_one(addendum_id: str) -> dict[str, Any]:
    """One addendum (needs addenda:read)."""
    return _present_one(addenda.get(get_session(), current_caller().tenant_id, addendum_id))


@blp.route("/addenda/<addendum_id>/revoke", methods=["POST"])
@blp.requires_scope("addenda:write")
@blp.response(200, AddendumSchema)
@blp.alt_response(409, schema=ProblemSchema, description="Already revoked or refused.")
def revoke(addendum_id: str) -> dict[str, Any]:
    """End a pending or signed addendum (needs addenda:write)."""
    caller = current_caller()
    addendum = addenda.revoke(get_session(), caller.tenant_id, caller.actor, addendum_id, now=utcnow())
    return _present_one(addendum)
