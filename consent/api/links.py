"""Asset links: which persons appear in which assets."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from app.api_blueprint import Blueprint
from app.api_fields import Number, ObjectId, ProblemSchema, StrictSchema
from app.auth import current_caller
from app.db import get_session
from app.errors import PayloadTooLarge
from consent import links
from consent.api.fields import AssetId

blp = Blueprint("links", __name__, description="Links between assets (images, videos) and the persons in them.")


# Tolerance for x + w <= 1 with fractions that went through binary floating point.
_EPSILON = 1e-9


class RegionSchema(StrictSchema):
    """Where the person appears in the image, as fractions of its width and height."""

    x = Number(required=True, validate=validate.Range(min=0, max=1))
    y = Number(required=True, validate=validate.Range(min=0, max=1))
    w = Number(required=True, validate=validate.Range(min=0, max=1, min_inclusive=False))
    h = Number(required=True, validate=validate.Range(min=0, max=1, min_inclusive=False))

    @ma.validates_schema
    def _inside_image(self, data: dict[str, float], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data["x"] + data["w"] > 1 + _EPSILON:
            errors["w"] = ["x + w must not exceed 1."]
        if data["y"] + data["h"] > 1 + _EPSILON:
            errors["h"] = ["y + h must not exceed 1."]
        if errors:
            raise ma.ValidationError(errors)


class LinkPutSchema(StrictSchema):
    region = fields.Nested(
        RegionSchema, allow_none=True,
        metadata={"description": "Where the person appears, as fractions of the image (0..1); null clears it."},
    )


class LinkSchema(ma.Schema):
    asset_id = fields.String()
    person_id = fields.String()
    region = fields.Nested(RegionSchema, allow_none=True)
    created_at = fields.DateTime()


class LinkedPersonSchema(ma.Schema):
    person_id = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "null for an erased person."})
    erased = fields.Boolean()
    region = fields.Nested(RegionSchema, allow_none=True)
    created_at = fields.DateTime()


class LinkedPersonListSchema(ma.Schema):
    items = fields.List(fields.Nested(LinkedPersonSchema))


class LinkRefSchema(StrictSchema):
    asset_id = AssetId(required=True)
    person_id = ObjectId(required=True)


class BulkLinkSchema(StrictSchema):
    links = fields.List(
        fields.Nested(LinkRefSchema), required=True,
        validate=validate.Length(min=1),
        metadata={"description": f"1 to {links.MAX_BULK_LINKS} links; more answers 413."},
    )

    @ma.pre_load
    def _not_too_many(self, data: Any, **kwargs: Any) -> Any:
        # Refuse an oversized batch before validating ten thousand nested objects.
        if isinstance(data, dict) and isinstance(data.get("links"), list) and len(data["links"]) > links.MAX_BULK_LINKS:
            raise PayloadTooLarge(f"At most {links.MAX_BULK_LINKS} links per request; got {len(data['links'])}.")
        return data


class BulkResultSchema(ma.Schema):
    created = fields.Integer()
    existing = fields.Integer()


@blp.route("/assets/<string:asset_id>/persons/<string:person_id>")
class AssetPerson(MethodView):
    @blp.requires_scope("persons:write")
    @blp.arguments(LinkPutSchema, required=False)
    @blp.response(201, LinkSchema, description="Linked.")
    @blp.alt_response(200, schema=LinkSchema, description="The link existed; its region was updated when given.")
    @blp.alt_response(404, schema=ProblemSchema, description="No such person in this tenant.")
    def put(self, body: dict[str, Any], asset_id: str, person_id: str) -> tuple[Any, int]:
        """Link a person to an asset (needs persons:write)."""
        caller = current_caller()
        row, created = links.link(
            get_session(), caller.tenant_id, asset_id, person_id, caller.actor,
            region=body.get("region"), region_given="region" in body,
        )
        return row, 201 if created else 200

    @blp.requires_scope("persons:write")
    @blp.response(204)
    @blp.alt_response(404, schema=ProblemSchema, description="No such link.")
    @blp.alt_response(
        409, schema=ProblemSchema,
        description="The person has been erased: their link keeps the asset at not allowed (reason erased).",
    )
    def delete(self, asset_id: str, person_id: str) -> None:
        """Remove a link (needs persons:write); an erased person's link stays."""
        caller = current_caller()
        links.unlink(get_session(), caller.tenant_id, asset_id, person_id, caller.actor)


@blp.route("/assets/<string:asset_id>/persons")
class AssetPersons(MethodView):
    @blp.requires_scope("persons:read")
    @blp.response(200, LinkedPersonListSchema)
    @blp.alt_response(422, schema=ProblemSchema, description="Not an acceptable asset id.")
    def get(self, asset_id: str) -> dict[str, Any]:
        """The persons linked to an asset; erased persons show with name null (needs persons:read)."""
        return {"items": links.persons_in(get_session(), current_caller().tenant_id, asset_id)}


@blp.route("/asset-links")
class BulkLinks(MethodView):
    @blp.requires_scope("persons:write")
    @blp.arguments(BulkLinkSchema)
    @blp.response(200, BulkResultSchema)
    @blp.alt_response(413, schema=ProblemSchema, description=f"More than {links.MAX_BULK_LINKS} links.")
    def post(self, body: dict[str, Any]) -> links.BulkResult:
        """Link many assets and persons at once: idempotent, all or nothing (needs persons:write)."""
        caller = current_caller()
        pairs = [(item["asset_id"], item["person_id"]) for item in body["links"]]
        return links.bulk_link(get_session(), caller.tenant_id, pairs, caller.actor)
