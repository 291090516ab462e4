"""The console's one blueprint. Pages live under /console, except the home page at /."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "console",
    "app.console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)

PREFIX = "/console"
