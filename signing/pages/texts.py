"""What the subject pages say: safe HTML from the consent markdown, and the
translated message for every state of a signing attempt.

BankID's own recommended texts (RFA1–RFA23) come from ``signing.bankid.messages``;
the texts for outcomes BankID has no words for (the wrong person signed at an
OpenID Provider, the consent changed meanwhile, ...) are ours.
"""

from __future__ import annotations

import re
from typing import Any

import nh3
from flask_babel import gettext as _
from markdown_it import MarkdownIt
from markupsafe import Markup

from signing import services
from signing.bankid.errors import ERROR_CLASSES, TransportError
from signing.bankid.messages import Device, user_message

# Raw HTML in the text is shown as text, never interpreted; nh3 then keeps only these tags.
_markdown = MarkdownIt("commonmark", {"html": False}).disable("image")
_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "a", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td",
}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_MOBILE = re.compile(r"Android|iPhone|iPad|iPod|Mobile|Windows Phone|IEMobile|Opera Mini", re.IGNORECASE)


def markdown_html(text: str) -> Markup:
    """The consent text as safe HTML. Its headings start at h2: the page's h1 is the title."""
    tokens = _markdown.parse(text or "")
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    html = _markdown.renderer.render(tokens, _markdown.options, {})
    cleaned = nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"https", "http", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(cleaned)  # noqa: S704 - sanitised by nh3 just above


def is_mobile(user_agent: str | None) -> bool:
    return bool(user_agent and _MOBILE.search(user_agent))


def method_label(method: str, provider_label: str | None = None) -> str:
    if method == "bankid":
        # "BankID" alone reads as Norwegian BankID to a Norwegian: say which.
        return _("Swedish BankID")
    return provider_label or _("Electronic identification")


# Outcomes of our own (not BankID's): failure codes set by signing.services and signing.oidc_flow.
def _own_failure(code: str) -> str | None:
    own = {
        "wrongPerson": _(
            "The signature was made by another person than the one this link is for. Only the intended "
            "person can sign with this link."
        ),
        "access_denied": _("Signing was cancelled at the identity provider."),
        "expired": _("Signing took too long and was stopped. Please try again."),
        "conflict": _("This can no longer be signed: it has been answered or changed meanwhile."),
        "gone": _("This link is no longer valid."),
        "forbidden": _(
            "The signature was made by another person than the one this link is for. Only the intended "
            "person can sign with this link."
        ),
        "invalid_id_token": _("The answer from the identity provider could not be verified. Please try again."),
        "token_error": _("The identity provider did not confirm the signing. Please try again."),
        "provider_unreachable": _("The identity provider cannot be reached right now. Please try again later."),
        "provider_error": _("The identity provider cannot be used right now. Please try again later."),
        "provider_removed": _("This identity provider is no longer offered. Please choose another way to sign."),
    }
    return own.get(code)


def attempt_message(
    status: str, hint_code: str | None, failure_code: str | None, device: str | None, mobile: bool, method: str
) -> str:
    """The one sentence that tells the user where their attempt stands."""
    dev: Device = "same" if device == "same" else "other"
    if status == "complete":
        return _("Your signature has been recorded.")
    if status == "none":
        return _("No signing has been started with this link yet.")
    if status == "pending":
        if method != "bankid":
            return _("Waiting for the identity provider.")
        return user_message(hint_code or "outstandingTransaction", "pending", dev, mobile=mobile)
    code = failure_code or hint_code or ""
    own = _own_failure(code)
    if own is not None:
        return own
    if method != "bankid":
        return _("Signing did not complete. Please try again.")
    if code == "cancelled":
        return user_message("cancelled", "failed", dev, mobile=mobile)
    if code in ERROR_CLASSES or code == TransportError.error_code:
        return user_message(code, "error", dev, mobile=mobile)
    return user_message(code or None, "failed", dev, mobile=mobile)


def attempt(state: services.OrderState) -> dict[str, Any]:
    """The attempt as the pages and their JSON twins show it."""
    order = state.order
    method = order.method if order is not None else "bankid"
    device = order.device if order is not None else None
    mobile = order.mobile if order is not None else False
    return {
        "status": state.status,
        "hint_code": state.hint_code if state.status != "failed" else (state.failure_code or state.hint_code),
        "message": attempt_message(state.status, state.hint_code, state.failure_code, device, mobile, method),
    }


def start_error_message(error_code: str) -> str:
    """BankID refused to start the order (an ``errorCode``)."""
    return user_message(error_code, "error")
