"""The console's one blueprint: sign-in, the home page at /, the frame's templates and static files.

Every console page is named ``console.<endpoint>`` and lives under ``/console``; the
pages of the domains join it through :class:`app.staff.pages.ConsolePages`.
"""

from __future__ import annotations

from flask import Blueprint

NAME = "console"
PREFIX = "/console"

bp = Blueprint(
    NAME,
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path=f"{PREFIX}/static",
)
