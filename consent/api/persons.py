"""Persons: create, search, read, change, erase (Art. 17) and export (Art. 15/20).

A single person's answer (POST, GET, PATCH) includes e-mail and phone; list items
leave them out (least personal data for a search result). Personal numbers are
only ever shown masked, except in the export.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Email, Integer, ObjectId, Phone, ProblemSchema, StrictSchema, Text, storable
from app.auth import current_caller
from app.config import test_numbers_allowed
from app.crypto import current_keyring
from app.db import get_session
from consent import gdpr, persons
from consent.api.fields import Country, NationalNumber
from consent.models import Person
from consent.persons import PersonPage

blp = Blueprint("persons", __name__, description="Persons who appear in assets, and their guardians.")


class PaginationArgsSchema(StrictSchema):
    limit = Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(
        validate=[validate.Length(max=500), storable],
        metadata={"description": "The next_cursor of the previous page."},
    )


class PersonCreateSchema(StrictSchema):
    name = Text(required=True, metadata={"example": "Anna Andersson"})
    country = Country(load_default="SE")
    personal_number = NationalNumber(allow_none=True)
    birth_date = fields.Date(allow_none=True, metadata={"description": "Derived from personal_number when omitted."})
    email = Email(allow_none=True)
    phone = Phone(allow_none=True)
    external_ref = Text(allow_none=True, metadata={"description": "The DAM's own id for this person."})
    guardian_ids = fields.List(
        ObjectId(), allow_none=True, validate=validate.Length(max=persons.MAX_GUARDIANS),
        metadata={"description": "Persons of this tenant who sign for this person while a minor."},
    )


class PersonPatchSchema(PersonCreateSchema):
    """Any of the create fields; null clears an optional field; guardian_ids replaces the set."""

    name = Text()
    country = Country()


class PersonSummarySchema(ma.Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    country = fields.String(metadata={"description": "Whose national identity number it is: SE, NO, DK or FI."})
    birth_date = fields.Date(allow_none=True)
    is_minor = fields.Method(
        "_is_minor", metadata={"type": "boolean", "description": "Under 18 today; null when the birth date is unknown."}
    )
    personal_number_masked = fields.String(
        attribute="pn_masked", allow_none=True, metadata={"example": "19121212-****"}
    )
    guardian_ids = fields.Method("_guardian_ids", metadata={"type": "array", "items": {"type": "string"}})
    external_ref = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _is_minor(self, person: Person) -> bool | None:
        return persons.is_minor(person.birth_date)

    def _guardian_ids(self, person: Person) -> list[str]:
        return persons.guardian_ids_of(person)


class PersonSchema(PersonSummarySchema):
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class PersonQueryArgsSchema(PaginationArgsSchema):
    q = fields.String(
        validate=[validate.Length(max=200), storable], metadata={"description": "Name contains (any case)."}
    )
    external_ref = fields.String(validate=[validate.Length(max=200), storable])
    personal_number = NationalNumber(
        metadata={"description": "A national identity number of `country` (Swedish when no country is given)."}
    )
    country = Country()


class PersonPageSchema(ma.Schema):
    items = fields.List(fields.Nested(PersonSummarySchema))
    next_cursor = fields.String(allow_none=True)


class PersonRefSchema(ma.Schema):
    id = fields.String()
    name = fields.String(allow_none=True)


class PersonExportSchema(ma.Schema):
    """Everything held on the person; values are already plain JSON."""

    exported_at = fields.String()
    person = fields.Dict()
    guardians = fields.List(fields.Nested(PersonRefSchema))
    wards = fields.List(fields.Nested(PersonRefSchema))
    asset_links = fields.List(fields.Dict())
    consents = fields.List(fields.Dict())
    objections = fields.List(fields.Dict())
    signatures_given = fields.List(fields.Dict())
    signing_attempts = fields.List(fields.Dict())
    records = fields.List(fields.Dict())
    audit_events = fields.List(fields.Dict())


@blp.route("/persons")
class Persons(MethodView):
    @blp.requires_scope("persons:write")
    @blp.arguments(PersonCreateSchema)
    @blp.response(201, PersonSchema)
    @blp.alt_response(409, schema=ProblemSchema, description="The personal number is registered already.")
    def post(self, body: dict[str, Any]) -> Person:
        """Register a person (needs persons:write)."""
        caller = current_caller()
        return persons.create_person(
            get_session(), current_keyring(), caller.tenant_id, caller.actor, **body,
            test_numbers=test_numbers_allowed(current_app.config),
        )

    @blp.requires_scope("persons:read")
    @blp.arguments(PersonQueryArgsSchema, location="query")
    @blp.response(200, PersonPageSchema)
    def get(self, args: dict[str, Any]) -> PersonPage:
        """Search persons, oldest first, by name, external_ref or personal number (needs persons:read)."""
        return persons.list_persons(
            get_session(), current_keyring(), current_caller().tenant_id, **args,
            test_numbers=test_numbers_allowed(current_app.config),
        )


@blp.route("/persons/<string:person_id>")
class PersonById(MethodView):
    @blp.requires_scope("persons:read")
    @blp.response(200, PersonSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such person in this tenant (or erased).")
    def get(self, person_id: str) -> Person:
        """One person (needs persons:read)."""
        return persons.get_person(get_session(), current_caller().tenant_id, person_id)

    @blp.requires_scope("persons:write")
    @blp.arguments(PersonPatchSchema)
    @blp.response(200, PersonSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such person in this tenant (or erased).")
    def patch(self, body: dict[str, Any], person_id: str) -> Person:
        """Change a person (needs persons:write)."""
        caller = current_caller()
        return persons.update_person(
            get_session(), current_keyring(), caller.tenant_id, person_id, caller.actor, body,
            test_numbers=test_numbers_allowed(current_app.config),
        )

    @blp.requires_scope("persons:write")
    @blp.response(204)
    @blp.alt_response(404, schema=ProblemSchema, description="No such person in this tenant (or erased).")
    def delete(self, person_id: str) -> None:
        """Erase a person's personal data (GDPR Art. 17; needs persons:write).

        Links and consents stay, so an asset showing the person answers "not allowed, erased"."""
        caller = current_caller()
        gdpr.erase_person(get_session(), current_keyring(), caller.tenant_id, person_id, caller.actor)


@blp.route("/persons/<string:person_id>/export")
class PersonExport(MethodView):
    # The full personal number and the raw BankID/OIDC evidence leave the service only here:
    # a client that may only read (and sees numbers masked) may not take them (persons:write too).
    @blp.requires_scope("persons:read", "persons:write")
    @blp.response(200, PersonExportSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such person in this tenant (or erased).")
    def get(self, person_id: str) -> dict[str, Any]:
        """Everything held on a person, personal number and raw signature evidence included (GDPR
        Art. 15/20; needs persons:read and persons:write)."""
        return gdpr.export_person(
            get_session(), current_keyring(), current_caller().tenant_id, person_id, current_caller().actor
        )
