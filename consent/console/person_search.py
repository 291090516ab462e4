"""The console's person search (the persons list, GDPR requests, a new consent request).

A name or an external reference may sit in the address (``?q=Anna``): such a search can
be bookmarked and shared. A personal number may not: an address lands in access logs,
browser history and proxies. The search form therefore posts (with its CSRF token); a
text that names no number is redirected to ``?q=``, one that does is answered in the
POST's own page, and ``?q=`` holding a number is not searched: it is redirected to the
page without it (the language links and any Referer would otherwise carry it further).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.config import test_numbers_allowed
from app.crypto import current_keyring
from app.db import get_session
from consent.console import queries
from consent.console.forms import PersonSearchForm
from consent.models import Person
from consent.personal_numbers import COUNTRIES

# Six digits are a birth date already; a personal number has ten or twelve. A text with this
# many digits (with or without a typo, dashes or spaces) is kept out of addresses.
_DIGITS = re.compile(r"\d")
MIN_DIGITS = 6


def holds_personal_number(text: str) -> bool:
    return len(_DIGITS.findall(text)) >= MIN_DIGITS


@dataclass
class PersonSearch:
    form: PersonSearchForm
    text: str  # what was searched for ("" when nothing was, or the search needs fixing)
    found: list[Person] = field(default_factory=list)
    status: int = 200
    country: str | None = None  # whose personal numbers the text is read as (None: every country's)


def search(endpoint: str, tenant_id: str, *, limit: int = 50, **url_values: Any) -> PersonSearch | Response:
    """This request's search on the page ``endpoint``: the outcome to show, or a redirect to ``?q=``."""
    if request.method == "POST":
        form = PersonSearchForm(request.form)
        text = (form.q.data or "").strip()
        if text and form.validate() and not holds_personal_number(text):
            return redirect(url_for(endpoint, q=text, country=form.country.data or None, **url_values), 303)
    else:
        form = PersonSearchForm(request.args)
        text = (form.q.data or "").strip()
        if text and holds_personal_number(text):
            flash(_("Search by personal number with the search field: the number is never put in the page's "
                    "address."), "warn")
            return redirect(url_for(endpoint, **url_values), 303)
    country = form.country.data if form.country.data in COUNTRIES else None
    if text and not form.validate():
        return PersonSearch(form, "", country=country, status=422)
    found = queries.search_persons(
        get_session(), current_keyring(), tenant_id, text, limit=limit, country=country,
        test_numbers=test_numbers_allowed(current_app.config),
    ) if text else []
    return PersonSearch(form, text, found, country=country)
