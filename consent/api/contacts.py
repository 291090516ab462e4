"""The tenant's contacts kept with the DPA: GET/PUT /tenant/contacts."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields

from app.api_blueprint import Blueprint
from app.api_fields import Email, Phone, StrictSchema, Text
from app.auth import current_caller
from app.db import get_session
from consent import contacts

blp = Blueprint("contacts", __name__, description="DPO, incident and operations contacts of the tenant.")


class ContactSchema(StrictSchema):
    name = Text(required=True)
    email = Email(required=True)
    phone = Phone(required=True)


class ContactsPutSchema(StrictSchema):
    dpo = fields.Nested(ContactSchema, required=True)
    incident = fields.Nested(ContactSchema, required=True)
    operations = fields.Nested(ContactSchema, required=True)


class ContactOutSchema(ma.Schema):
    name = fields.String()
    email = fields.String()
    phone = fields.String()
    updated_at = fields.DateTime()


class ContactsSchema(ma.Schema):
    dpo = fields.Nested(ContactOutSchema, allow_none=True)
    incident = fields.Nested(ContactOutSchema, allow_none=True)
    operations = fields.Nested(ContactOutSchema, allow_none=True)


@blp.route("/tenant/contacts")
class TenantContacts(MethodView):
    @blp.requires_scope("addenda:read")
    @blp.response(200, ContactsSchema)
    def get(self) -> dict[str, Any]:
        """The contacts; a role not set yet is null (needs addenda:read)."""
        return contacts.get_contacts(get_session(), current_caller().tenant_id)

    @blp.requires_scope("addenda:write")
    @blp.arguments(ContactsPutSchema)
    @blp.response(200, ContactsSchema)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace all three contacts (needs addenda:write)."""
        caller = current_caller()
        return contacts.put_contacts(get_session(), caller.tenant_id, caller.actor, body)
