"""The subject's pages under ``/s/{token}`` and their JSON twins (no login: the link's
token is the key), in one blueprint (``signing.pages.blueprint``).

Routes, one module per group:

- ``link``: the link's own pages: the consent page, decline, withdraw, the receipt,
  the sealed record and the link's QR codes;
- ``bankid``: signing with BankID: start, status, progress, the animated QR, cancel;
- ``oidc``: signing at an OpenID Provider: the step there and the callback.

What they share: ``context`` (keyring, caller's address, providers, the link opened),
``language`` (which language a page speaks), ``rendering`` (pages and their URLs),
``consent_page``, ``bodies`` (JSON in and out), ``rate_limits`` (on starting an order),
``errors`` (problem+json or a translated page), ``texts`` and ``qr_image``.

Every POST accepts an ``application/json`` body and answers JSON to it; HTML forms
carry a CSRF token and get a redirect, so everything but the live status works
without JavaScript.
"""

from __future__ import annotations

from flask import Flask

# Importing the route and error modules attaches their views and handlers to ``bp``.
from signing.pages import bankid, errors, link, oidc  # noqa: F401
from signing.pages.blueprint import bp


def register(app: Flask) -> None:
    """Serve the subject's pages."""
    app.register_blueprint(bp)
