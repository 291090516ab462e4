"""The staff console: the DPO's and editors' web face over the consent, signing and records services.

``register(app, api)`` is called by ``create_app`` (``app.console`` is in PLUGINS).
Pages render server-side; every form posts with a CSRF token; the role's rights
come from :mod:`app.console.permissions`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request, url_for
from flask_babel import lazy_gettext as _l

from app.console import formatting, sso
from app.console.blueprint import bp
from app.console.permissions import ROLE_LABELS, allowed
from app.console.sessions import current
from app.i18n import LOCALE_NAMES

LANGUAGES = tuple(LOCALE_NAMES.items())

# (key, label, endpoint, permission)
NAVIGATION = (
    ("dashboard", _l("Dashboard"), "console.home", "console.read"),
    ("persons", _l("Persons"), "console.persons", "console.read"),
    ("consents", _l("Consents"), "console.consents", "console.read"),
    ("request", _l("Send a consent request"), "console.request_new", "requests.send"),
    ("assets", _l("Asset lookup"), "console.assets", "console.read"),
    ("gdpr", _l("GDPR requests"), "console.gdpr", "console.read"),
    ("addenda", _l("Addenda"), "console.addenda", "console.read"),
    ("contacts", _l("Contacts"), "console.contacts", "console.read"),
    ("audit", _l("Audit log"), "console.audit", "audit.read"),
)


def _lang_url(code: str) -> str:
    """The current page in another language (the app keeps the choice in a cookie)."""
    args: dict[str, Any] = request.args.to_dict()
    args["lang"] = code
    if request.method == "GET" and request.endpoint and request.url_rule is not None:
        return url_for(request.endpoint, **(request.view_args or {}), **args)
    return url_for("console.home", lang=code)


@bp.context_processor
def _console_globals() -> dict[str, Any]:
    staff = current()
    role = staff.role if staff else None
    return {
        "staff": staff,
        "can": lambda action: allowed(role, action),
        "console_nav": [
            {"key": key, "label": label, "url": url_for(endpoint)}
            for key, label, endpoint, action in NAVIGATION
            if allowed(role, action)
        ],
        "console_languages": LANGUAGES,
        "console_lang_url": _lang_url,
        "console_role_label": lambda r: ROLE_LABELS.get(r, r),
    }


def register(app: Flask, api: Any) -> None:
    from app.console import views  # noqa: F401  (the routes attach themselves to ``bp``)

    formatting.init_app(app)
    sso.init_app(app)
    app.register_blueprint(bp)
