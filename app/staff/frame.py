"""What the layout of every console page reads: who is signed in, what their role may do,
the navigation the domains added, the language switch."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for

from app.i18n import LOCALE_NAMES
from app.staff import navigation
from app.staff.blueprint import bp
from app.staff.permissions import ROLE_LABELS, allowed
from app.staff.sessions import current

LANGUAGES = tuple(LOCALE_NAMES.items())


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
            {"key": entry.key, "label": entry.label, "url": url_for(entry.endpoint)}
            for entry in navigation.entries(current_app)
            if allowed(role, entry.permission)
        ],
        "console_languages": LANGUAGES,
        "console_lang_url": _lang_url,
        "console_role_label": lambda r: ROLE_LABELS.get(r, r),
    }
