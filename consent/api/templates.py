"""Consent templates: POST /consent-templates, GET /consent-templates[/{key}]."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.api_blueprint import Blueprint
from app.auth import current_caller
from app.db import get_session
from consent import templates
from consent.models import ConsentTemplate
from consent.schemas_common import ProblemSchema
from consent.schemas_consent import (
    TemplateCreateSchema,
    TemplateListSchema,
    TemplateSchema,
    TemplateVersionArgsSchema,
)

blp = Blueprint(
    "consent_templates", __name__, description="Versioned consent texts per locale, offering a set of purposes."
)


@blp.route("/consent-templates")
class Templates(MethodView):
    @blp.requires_scope("consents:write")
    @blp.arguments(TemplateCreateSchema)
    @blp.response(201, TemplateSchema)
    @blp.alt_response(422, schema=ProblemSchema, description="Invalid input or unknown purposes.")
    def post(self, body: dict[str, Any]) -> ConsentTemplate:
        """Create a template, or a new version when the key exists (needs consents:write)."""
        caller = current_caller()
        return templates.create_version(get_session(), caller.tenant_id, caller.actor, templates.TemplateInput(**body))

    @blp.requires_scope("consents:read")
    @blp.response(200, TemplateListSchema)
    def get(self) -> dict[str, Any]:
        """The latest version of every template, by key (needs consents:read)."""
        return {"items": templates.list_latest(get_session(), current_caller().tenant_id)}


@blp.route("/consent-templates/<key>")
class TemplateByKey(MethodView):
    @blp.requires_scope("consents:read")
    @blp.arguments(TemplateVersionArgsSchema, location="query")
    @blp.response(200, TemplateSchema)
    @blp.alt_response(404, schema=ProblemSchema, description="No such template or version.")
    def get(self, args: dict[str, Any], key: str) -> ConsentTemplate:
        """A template's latest version, or ``?version=`` (needs consents:read)."""
        return templates.get_version(get_session(), current_caller().tenant_id, key, args.get("version"))
