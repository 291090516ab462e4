"""Objections (GDPR Art. 21): POST /persons/{id}/objections records a person's objection to a purpose
processed under a legal basis other than consent."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields

from app.api_blueprint import Blueprint
from app.api_fields import ProblemSchema, StrictSchema
from app.auth import current_caller
from app.db import get_session
from consent import objections
from consent.api.fields import Key

blp = Blueprint("objections", __name__, description="Objections (Art. 21) against a legal basis other than consent.")


class ObjectionCreateSchema(StrictSchema):
    purpose = Key(required=True)


class ObjectionSchema(ma.Schema):
    id = fields.String()
    person_id = fields.String()
    purpose = fields.String()
    created_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)


@blp.route("/persons/<string:person_id>/objections")
class PersonObjections(MethodView):
    @blp.requires_scope("persons:write")
    @blp.arguments(ObjectionCreateSchema)
    @blp.response(201, ObjectionSchema, description="Recorded.")
    @blp.alt_response(200, schema=ObjectionSchema, description="An objection to this purpose already stands.")
    @blp.alt_response(404, schema=ProblemSchema, description="No such person in this tenant.")
    @blp.alt_response(422, schema=ProblemSchema, description="Unknown purpose.")
    def post(self, body: dict[str, Any], person_id: str) -> tuple[Any, int]:
        """Record the person's objection to a purpose (needs persons:write): the assets whose legal
        basis covers that purpose answer "not allowed, objected" for them from now on."""
        caller = current_caller()
        row, created = objections.record(get_session(), caller.tenant_id, person_id, body["purpose"], caller.actor)
        return row, 201 if created else 200
