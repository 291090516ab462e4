"""The consent page of a link: the text, the purposes to tick and the ways to sign.

The link's own page shows it, and every start (BankID, OIDC) shows it again, with
the person's choices and what went wrong, when its form does not pass.
"""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _

from app.db import get_session
from app.errors import Unprocessable
from signing import methods, services
from signing.pages import texts
from signing.pages.context import providers
from signing.pages.rendering import render_link


def consent_page(
    token: str,
    link: services.Link,
    *,
    status: int = 200,
    chosen: list[str] | None = None,
    error: str | None = None,
    field_error: str | None = None,
) -> Response:
    view = link.view
    failed_attempt = None
    attempt_id = request.args.get("attempt")
    if attempt_id:
        order = services.order_of(get_session(), view.signer_id, attempt_id)
        if order is not None and order.status in ("failed", "cancelled"):
            failed_attempt = texts.attempt(services.order_state(order))["message"]
    return render_link(
        "signing/consent.html",
        token,
        view,
        status=status,
        body=texts.markdown_html(view.body_markdown),
        # Nothing is pre-selected (GDPR Art. 4(11), Planet49): only what the person ticked.
        chosen=chosen or [],
        bankid_offered=methods.bankid_offered(view),
        providers=methods.providers_offered(view, providers()),
        error=error or failed_attempt,
        field_error=field_error,
    )


def invalid_form(token: str, link: services.Link, exc: Unprocessable, purposes: list[str] | None) -> Response:
    """The consent page again, saying what the start's form lacked."""
    if exc.errors and "purposes" in exc.errors:
        return consent_page(
            token, link, status=422, chosen=list(purposes or []),
            field_error=_("Choose at least one purpose to consent to."),
        )
    return consent_page(token, link, status=422, chosen=purposes, error=_("Choose how you want to sign."))
