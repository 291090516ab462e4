"""The DAM-facing JSON API under /api/v1 (flask-smorest blueprints, one per aggregate)."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask
from flask_smorest import Api

MODULES = (
    "purposes",
    "persons",
    "links",
    "templates",
    "requests",
    "consents",
    "rights",
    "addenda",
    "contacts",
    "audit",
    "webhooks",
)


def register(app: Flask, api: Api) -> None:
    for name in MODULES:
        try:
            module: Any = importlib.import_module(f"consent.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"consent.api.{name}":
                continue  # not written yet
            raise
        api.register_blueprint(module.blp, url_prefix="/api/v1")
