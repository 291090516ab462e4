"""The languages the service speaks, named once: sv, nb and en, and how a request picks one."""

from __future__ import annotations

from typing import Literal, get_args

from flask import g, request
from flask_babel import get_locale

Locale = Literal["sv", "nb", "en"]
LOCALES: tuple[str, ...] = get_args(Locale)
DEFAULT_LOCALE = "sv"
# Each language named in itself, for language switches and pickers.
LOCALE_NAMES = {"sv": "Svenska", "nb": "Norsk bokmål", "en": "English"}
# Accept-Language tags that mean Norwegian Bokmål for our purposes.
_LOCALE_ALIASES = {"no": "nb", "nn": "nb", "nb": "nb", "sv": "sv", "en": "en"}


def current_locale() -> str:
    """The language this request speaks (as ``select_locale`` chose it)."""
    return str(get_locale() or DEFAULT_LOCALE)


def select_locale() -> str:
    # A page whose language is its own (a signing link's: the request's, or what the person
    # chose on that link) sets it for the request, ahead of the cookie and the browser.
    pinned = g.get("page_locale")
    if pinned in LOCALES:
        return str(pinned)
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(list(_LOCALE_ALIASES))
    return _LOCALE_ALIASES.get(best or "", DEFAULT_LOCALE)
