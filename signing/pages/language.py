"""Which language a subject page speaks.

A signing link opens in the language its request named, whatever the browser or the
site-wide ``lang`` cookie (set on another link, or in the console) says: the organisation
chose it for this person. Only a request that named none follows the browser. The
person's own choice on the link (the switch, ``?lang=``) wins, and every page of the
link carries its language in the URLs of its links and forms, so a form posts in the
language of the page it is on: the order signs the text the person read.
"""

from __future__ import annotations

from flask import g, request
from flask_babel import refresh

from app.i18n import LOCALES, current_locale


def chosen_locale() -> str | None:
    """The language this request of the link's pages asks for (``?lang=``), if any."""
    chosen = request.args.get("lang")
    return chosen if chosen in LOCALES else None


def browser_locale() -> str:
    """What the browser prefers (cookie, Accept-Language), for a request that named no language."""
    return str(g.get("browser_locale") or current_locale())


def use_locale(code: str) -> None:
    """This request's pages speak ``code``."""
    g.browser_locale = browser_locale()  # before the pin hides it
    g.page_locale = code
    refresh()


def page_locale() -> str | None:
    """The language this request's link page speaks, once the link is open."""
    pinned = g.get("page_locale")
    return str(pinned) if pinned else None
