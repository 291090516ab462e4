"""Staff: accounts, console sessions, roles, sign-in, and the console's frame.

The console is the DPO's and editors' web face over the domains. The foundation
keeps what every page shares: staff accounts (:mod:`app.staff.accounts`), the
signed-in session (:mod:`app.staff.sessions`), the permission matrix
(:mod:`app.staff.permissions`), sign-in and single sign-on, the layout, forms
base, formatting filters, the navigation and the dashboard. The pages themselves
belong to the domain whose data they show (``consent.console``,
``reports.console``), which add their pages, navigation entries and dashboard
sections when they register. Pages render server-side; every form posts with a
CSRF token.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from app.staff import formatting, frame, navigation, sso, views  # noqa: F401  (frame and views attach to ``bp``)
from app.staff.blueprint import bp
from app.staff.dashboard import add_section


def register(app: Flask) -> None:
    """Sign-in, the home page and the frame every console page shares."""
    formatting.init_app(app)
    sso.init_app(app)
    navigation.add(app, "dashboard", _l("Dashboard"), "console.home", "console.read")
    add_section(app, "console/dashboard_jobs.html", views.jobs.section, position=90)
    app.register_blueprint(bp)
