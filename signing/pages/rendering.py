"""Rendering the subject's pages and the URLs they link to.

Every page of a link carries the link's language in its URLs (``signing.pages.language``),
and a form post answers with a redirect to a page of the same link (post/redirect/get).
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.i18n import LOCALE_NAMES
from consent.signatures import SigningView
from signing.pages.language import chosen_locale, page_locale


def link_url(endpoint: str, token: str, **values: Any) -> str:
    """A URL of this link's own, in the language of the page it is on."""
    return url_for(endpoint, token=token, lang=page_locale() or chosen_locale(), **values)


def urls(token: str) -> dict[str, str]:
    return {
        "page": link_url("signing.page", token),
        "start": link_url("signing.bankid_start", token),
        "progress": link_url("signing.bankid_progress", token),
        "status": link_url("signing.bankid_status", token),
        "qr": url_for("signing.bankid_qr", token=token),  # an image: no words in it
        "cancel": link_url("signing.bankid_cancel", token),
        "decline": link_url("signing.decline", token),
        "withdraw": link_url("signing.withdraw", token),
        "receipt": link_url("signing.receipt", token),
        "record": url_for("signing.record", token=token),
    }


def render(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("locale_names", LOCALE_NAMES)
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def render_link(template: str, token: str, view: SigningView, status: int = 200, **context: Any) -> Response:
    """A page about this link: its view and the URLs of its actions go along."""
    return render(
        template, status=status, token=token, view=view, urls=urls(token), link_lang=page_locale() or chosen_locale(),
        **context,
    )


def redirect_to(endpoint: str, token: str, **values: Any) -> BaseResponse:
    """Post/redirect/get to one of this link's pages, in the language chosen on it."""
    values.setdefault("lang", chosen_locale())
    return redirect(url_for(endpoint, token=token, **values), code=303)
