"""Consent requests: POST /consent-requests, GET /consent-requests/{id}."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Instant, ObjectId, ProblemSchema, StrictSchema
from app.auth import current_caller
from app.crypto import current_keyring
from app.db import get_session, utcnow
from app.i18n import LOCALES
from consent import consents, requests
from consent.api.fields import AssetIdList, Key
from consent.consents import STATUSES
from consent.models import Consent, ConsentRequest, Signer

blp = Blueprint(
    "consent_requests", __name__, description="Ask a person (or a minor's guardians) to sign a consent."
)


class ConsentRequestCreateSchema(StrictSchema):
    person_id = ObjectId(required=True)
    template = Key(required=True, metadata={"description": "The template key; its latest version is used."})
    purposes = fields.List(Key(), allow_none=True, validate=validate.Length(min=1, max=50))
    asset_ids = AssetIdList(
        max_items=requests.MAX_ASSET_IDS, allow_none=True,
        metadata={"description": "Null or absent: every asset of the person."},
    )
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


def signing_links(signer_id: str) -> dict[str, str]:
    """The signer's link (its token re-derived, never stored) and its QR images."""
    url = f"{current_app.config['BASE_URL']}/s/{current_keyring().link_token(signer_id)}"
    return {"signing_url": url, "qr_png_url": url + "/qr.png", "qr_svg_url": url + "/qr.svg"}


def present_signer(signer: Signer) -> dict[str, Any]:
    return {
        "id": signer.id,
        "role": signer.role,
        "person_id": signer.person_id,
        "status": signer.status,
        **signing_links(signer.id),
        "signed_at": signer.signed_at,
    }


def present_request(request: ConsentRequest, consent: Consent, signers: list[Signer]) -> dict[str, Any]:
    return {
        "id": request.id,
        "status": consents.status_at(consent, utcnow()),
        "consent_id": consent.id,
        "person_id": request.person_id,
        "template": {"key": consent.template_key, "version": consent.template_version},
        "locale": consent.locale,
        "expires_at": request.expires_at,
        "created_at": request.created_at,
        "signers": [present_signer(s) for s in signers],
    }


def _present(request: ConsentRequest) -> dict[str, Any]:
    session = get_session()
    consent = consents.get(session, request.tenant_id, request.consent_id)
    return present_request(request, consent, requests.signers_of(session, consent.id))


@blp.route("/consent-requests")
class ConsentRequests(MethodView):
    @blp.requires_scope("consents:write")
    @blp.arguments(ConsentRequestCreateSchema)
    @blp.response(201, ConsentRequestSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such person.")
    @blp.alt_response(422, schema=ProblemSchema, description="Invalid input, or a minor without guardians.")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a pending consent and a signing link per required signer (needs consents:write)."""
        caller = current_caller()
        data = requests.RequestInput(
            person_id=body["person_id"],
            template_key=body["template"],
            purposes=body.get("purposes"),
            asset_ids=body.get("asset_ids"),
            valid_until=body.get("valid_until"),
            locale=body.get("locale"),
        )
        request = requests.create(
            get_session(), current_keyring(), caller.tenant_id, caller.actor, data,
            now=utcnow(), link_days=int(current_app.config["SIGNING_LINK_DAYS"]),
        )
        return _present(request)


@blp.route("/consent-requests/<request_id>")
class ConsentRequestById(MethodView):
    @blp.requires_scope("consents:read")
    @blp.response(200, ConsentRequestSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such consent request.")
    def get(self, request_id: str) -> dict[str, Any]:
        """A consent request with its signers' current statuses (needs consents:read)."""
        return _present(requests.get(get_session(), current_caller().tenant_id, request_id))
