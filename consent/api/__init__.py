"""The DAM-facing JSON API under /api/v1: one module per resource, its schemas beside its views."""

from __future__ import annotations

from flask_smorest import Api

from consent.api import (
    addenda,
    assets,
    consents,
    contacts,
    links,
    objections,
    persons,
    purposes,
    requests,
    rights,
    templates,
    webhooks,
)

# In this order in /openapi.json.
RESOURCES = (
    purposes, persons, assets, links, objections, templates, requests, consents, rights, addenda, contacts, webhooks,
)


def register(api: Api) -> None:
    for resource in RESOURCES:
        api.register_blueprint(resource.blp, url_prefix="/api/v1")
