"""The home page: the sign-in form when signed out, the dashboard when signed in."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_babel import gettext as _

from app.console import queries, sessions
from app.console.blueprint import bp
from app.console.permissions import authorize
from app.console.views.auth import login_page
from app.db import get_session, utcnow


@bp.route("/")
def home() -> Any:
    staff = sessions.current()
    if staff is None:
        return login_page()
    authorize(staff.role, "console.read")
    board = queries.dashboard(get_session(), staff.tenant_id, utcnow())
    return render_template(
        "console/dashboard.html", board=board, window=queries.WINDOW_DAYS, page_title=_("Dashboard"),
        active="dashboard",
    )
