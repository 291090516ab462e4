"""What a subject page takes from the app and its request: the keyring, the caller's
address, the identity providers offered, and the link its token opens."""

from __future__ import annotations

from flask import current_app, request

from app.crypto import current_keyring
from app.db import get_session
from signing import oidc, services
from signing.clock import now
from signing.pages.language import browser_locale, chosen_locale, use_locale


def client_ip() -> str:
    # Behind ProxyFix (SAMTYCKE_PROXY_FIX) remote_addr is already the client's own address.
    return request.remote_addr or "127.0.0.1"


def providers() -> list[oidc.Provider]:
    return oidc.providers(current_app.config)


def open_link(token: str) -> services.Link:
    """The link and its view; this request's pages speak the view's page language."""
    link = services.open_link(
        get_session(), current_keyring(), token, locale=chosen_locale(), now=now(), preferred=browser_locale()
    )
    use_locale(link.view.page_locale)
    return link
