"""Signing through an OpenID Provider from the subject's link: the step to the
provider and the callback it sends the user back to."""

from __future__ import annotations

from flask import Response, current_app, redirect, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from app.config import test_numbers_allowed
from app.crypto import current_keyring
from app.db import get_session
from app.errors import NotFound, Unprocessable
from signing import methods, oidc, oidc_flow, services
from signing.bankid.connect import bankid_client
from signing.clock import now
from signing.pages.blueprint import bp
from signing.pages.bodies import StartSchema, json_body, json_response, load, wants_json
from signing.pages.consent_page import invalid_form
from signing.pages.context import client_ip, open_link, providers
from signing.pages.language import browser_locale, chosen_locale
from signing.pages.rate_limits import limit_per_address, limit_per_link
from signing.pages.rendering import link_url, redirect_to, render, render_link


def _redirect_uri() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/oidc/callback"


def _purposes_arg(values: list[str]) -> list[str]:
    """``?purposes=a,b`` or ``?purposes=a&purposes=b``.

    Absent means none chosen, never every purpose: this URL is followed by a person,
    who must tick each purpose themselves (GDPR Art. 4(11)), not be sent to sign them all.
    """
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _oidc_continue(token: str, provider: oidc.Provider, purposes: list[str]) -> Response:
    """The form's answer without JavaScript: a link on to the provider.

    A form post that redirects to another origin is blocked by our CSP
    (``form-action 'self'``), so the step to the provider is a link the user follows.
    """
    link = open_link(token)
    methods.require_provider(link.view, provider)
    try:
        chosen = services.purposes_to_sign(link.view, purposes)
    except Unprocessable as exc:
        return invalid_form(token, link, exc, purposes)
    url = link_url("signing.oidc_start", token, name=provider.name, purposes=",".join(chosen) or None)
    return render_link("signing/oidc_continue.html", token, link.view, provider=provider, continue_url=url)


@bp.route("/s/<token>/oidc/<name>", methods=["GET", "POST"])
@limit_per_link
@limit_per_address
def oidc_start(token: str, name: str) -> BaseResponse:
    provider = oidc.provider_named(current_app.config, name)
    if provider is None:
        raise NotFound(f"No identity provider named {name!r} is offered.")
    if request.method == "POST" and not request.is_json:
        return _oidc_continue(token, provider, request.form.getlist("purposes"))
    if request.method == "POST":
        purposes: list[str] | None = load(StartSchema(partial=("device",)), json_body())["purposes"]
    else:
        purposes = _purposes_arg(request.args.getlist("purposes"))
    session = get_session()
    try:
        with bankid_client() as client, oidc.http_client() as http:
            url = oidc_flow.start_oidc(
                session, current_keyring(), client, http, provider, token=token, purposes=purposes,
                redirect_uri=_redirect_uri(), end_user_ip=client_ip(), locale=chosen_locale(),
                preferred=browser_locale(), now=now(),
            )
    except Unprocessable as exc:
        if wants_json():
            raise
        return invalid_form(token, open_link(token), exc, purposes)
    if request.is_json:
        return json_response({"status": "pending", "redirect_url": url})
    return redirect(url, code=302)


@bp.get("/oidc/callback")
def oidc_callback() -> BaseResponse:
    session = get_session()
    ring = current_keyring()
    error = request.args.get("error")
    try:
        with oidc.http_client() as http:
            outcome = oidc_flow.finish_oidc(
                session, ring, http, providers(), state=request.args.get("state"),
                code=request.args.get("code"), error=error, redirect_uri=_redirect_uri(), locale=None,
                now=now(), test_numbers=test_numbers_allowed(current_app.config),
            )
    except NotFound:
        if not error:
            raise
        # A provider that drops ``state`` from its error answer: we cannot tell whose link it was.
        return render(
            "signing/error.html", status=400, code=400, headline=_("Signing was cancelled"),
            detail=_("Signing was cancelled at the identity provider. Open your signing link again to try once more."),
        )
    token = ring.link_token(outcome.signer_id)
    # Back in the language the person was reading when they left for the provider.
    if outcome.status == "complete":
        return redirect_to("signing.receipt", token, lang=outcome.locale)
    return redirect_to("signing.page", token, attempt=outcome.order_id, lang=outcome.locale)
