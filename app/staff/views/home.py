"""The home page: the sign-in form when signed out, the dashboard when signed in.

The dashboard shows the sections the domains added (:mod:`app.staff.dashboard`)
that the staff member's role may read.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask_babel import gettext as _

from app.db import get_session, utcnow
from app.staff import dashboard, sessions
from app.staff.blueprint import bp
from app.staff.permissions import allowed, authorize
from app.staff.views.auth import login_page


@bp.route("/")
def home() -> Any:
    staff = sessions.current()
    if staff is None:
        return login_page()
    authorize(staff.role, "console.read")
    session, now = get_session(), utcnow()
    shown = [
        (section.template, section.load(session, staff.tenant_id, now))
        for section in dashboard.sections(current_app)
        if allowed(staff.role, section.permission)
    ]
    return render_template("console/dashboard.html", sections=shown, page_title=_("Dashboard"), active="dashboard")
