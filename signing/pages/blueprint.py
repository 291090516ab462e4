"""The blueprint of the subject's pages; each module of ``signing.pages`` attaches its routes to it.

Its templates (``signing/*.html``) and static files (``/signing/static/``) live beside it.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "signing",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/signing/static",
)
