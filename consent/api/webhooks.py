"""Webhooks: POST/GET /webhooks, GET/DELETE /webhooks/{id}, GET /webhooks/{id}/deliveries,
POST /webhooks/{id}/deliveries/{delivery_id}/redeliver. Every operation needs webhooks:write."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Integer, ProblemSchema, StrictSchema, Text, storable
from app.auth import current_caller
from app.crypto import current_keyring
from app.db import get_session, utcnow
from consent import webhooks
from consent.webhook_models import Webhook, WebhookDelivery

# The outbox listener joins the audit chain once, however often the app is built.

SCOPE = "webhooks:write"

blp = Blueprint(
    "webhooks",
    __name__,
    description=(
        "Signed HTTPS callbacks to the DAM when a consent is given, refused, withdrawn, revoked or expires, "
        "a person is erased, or a DPA addendum is signed or revoked. Bodies carry ids only. Each request has "
        "`Samtycke-Event`, `Samtycke-Delivery` (deduplicate on it: delivery is at least once) and "
        "`Samtycke-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`. "
        "A 2xx answer within 5 s is success; failures are retried after 1 min, 5 min, 30 min, 2 h and 12 h."
    ),
)


class WebhookCreateSchema(StrictSchema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=[validate.Length(max=webhooks.MAX_URL_LENGTH), storable],
        metadata={"description": "https in production; no credentials.", "example": "https://dam.example/hooks"},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(webhooks.EVENTS)),
        required=True,
        validate=validate.Length(min=1, max=len(webhooks.EVENTS)),
        metadata={"example": ["consent.withdrawn", "consent.expired"]},
    )
    description = Text(max_length=500, allow_none=True)


class WebhookSchema(ma.Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String(allow_none=True)
    created_at = fields.DateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "The signing secret; shown only in this answer."})


class WebhookListSchema(ma.Schema):
    items = fields.List(fields.Nested(WebhookSchema))


class DeliveryArgsSchema(StrictSchema):
    limit = Integer(load_default=50, validate=validate.Range(min=1, max=500))


class DeliverySchema(ma.Schema):
    id = fields.String()
    event = fields.String(attribute="event_type")
    status = fields.String(metadata={"description": "pending | delivered | failed"})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class DeliveryListSchema(ma.Schema):
    items = fields.List(fields.Nested(DeliverySchema))


_NOT_FOUND = {"schema": ProblemSchema, "description": "No such webhook in this tenant."}


@blp.route("/webhooks")
class Webhooks(MethodView):
    @blp.requires_scope(SCOPE)
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookCreatedSchema)
    @blp.alt_response(409, schema=ProblemSchema, description="The tenant has 10 webhooks already.")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Subscribe an endpoint to events; the answer holds the signing secret, shown only now."""
        caller = current_caller()
        hook, secret = webhooks.create_webhook(
            get_session(),
            current_keyring(),
            caller.tenant_id,
            caller.actor,
            url=body["url"],
            events=body["events"],
            description=body.get("description"),
            production=current_app.config.get("ENV") == "production",
        )
        return {
            "id": hook.id, "url": hook.url, "events": hook.events, "description": hook.description,
            "created_at": hook.created_at, "secret": secret,
        }

    @blp.requires_scope(SCOPE)
    @blp.response(200, WebhookListSchema)
    def get(self) -> dict[str, Any]:
        """The tenant's webhooks (without secrets)."""
        return {"items": webhooks.list_webhooks(get_session(), current_caller().tenant_id)}


@blp.route("/webhooks/<string:webhook_id>")
class WebhookById(MethodView):
    @blp.requires_scope(SCOPE)
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, webhook_id: str) -> Webhook:
        """One webhook (without its secret)."""
        return webhooks.get_webhook(get_session(), current_caller().tenant_id, webhook_id)

    @blp.requires_scope(SCOPE)
    @blp.response(204)
    @blp.alt_response(404, **_NOT_FOUND)
    def delete(self, webhook_id: str) -> None:
        """Unsubscribe; undelivered events for it are dropped."""
        caller = current_caller()
        webhooks.delete_webhook(get_session(), caller.tenant_id, caller.actor, webhook_id)


@blp.route("/webhooks/<string:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.requires_scope(SCOPE)
    @blp.arguments(DeliveryArgsSchema, location="query")
    @blp.response(200, DeliveryListSchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, args: dict[str, Any], webhook_id: str) -> dict[str, Any]:
        """Recent deliveries, newest first, with the outcome of their last attempt."""
        return {
            "items": webhooks.list_deliveries(get_session(), current_caller().tenant_id, webhook_id, **args)
        }


@blp.route("/webhooks/<string:webhook_id>/deliveries/<string:delivery_id>/redeliver", methods=["POST"])
@blp.requires_scope(SCOPE)
@blp.response(202, DeliverySchema)
@blp.alt_response(404, schema=ProblemSchema, description="No such webhook or delivery in this tenant.")
def redeliver(webhook_id: str, delivery_id: str) -> WebhookDelivery:
    """Queue a delivery again now (e.g. a ``failed`` one after the receiver was fixed): one more attempt."""
    caller = current_caller()
    return webhooks.redeliver(
        get_session(), caller.tenant_id, caller.actor, webhook_id, delivery_id, now=utcnow()
    )
