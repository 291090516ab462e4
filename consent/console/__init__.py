"""The DPO's and editors' pages over the consent domain's data: the dashboard's consent
sections, persons, consents (with their withdraw and revoke confirmations), consent
requests, asset look-up, GDPR export and erasure, DPA addenda, contacts.

The console's frame (sign-in, layout, roles, navigation) is the foundation's
(:mod:`app.staff`); ``register(app)`` adds these pages to it. The records these pages
show come from the records domain through :mod:`consent.console.records`.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from app.staff import navigation
from app.staff.dashboard import add_section
from consent.console import dashboard, labels, views  # noqa: F401  (views record their routes on ``pages``)
from consent.console.pages import pages

# (key, label, endpoint, permission), in the order the navigation shows them
NAVIGATION = (
    ("persons", _l("Persons"), "console.persons", "console.read"),
    ("consents", _l("Consents"), "console.consents", "console.read"),
    ("request", _l("Send a consent request"), "console.request_new", "requests.send"),
    ("assets", _l("Asset lookup"), "console.assets", "console.read"),
    ("gdpr", _l("GDPR requests"), "console.gdpr", "console.read"),
    ("addenda", _l("Addenda"), "console.addenda", "console.read"),
    ("contacts", _l("Contacts"), "console.contacts", "console.read"),
)


def register(app: Flask) -> None:
    pages.register(app)
    labels.init_app(app)
    for key, label, endpoint, permission in NAVIGATION:
        navigation.add(app, key, label, endpoint, permission)
    add_section(app, "console/dashboard_consents.html", dashboard.board)
