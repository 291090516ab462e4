"""The signing blueprint and what its views share: the request's clock, keyring and
locale, the BankID client, JSON bodies, rate limits, rendering, the consent page
(every start re-renders it on a form error) and the error pages.

The routes live in ``signing.pages`` (the link's own pages), ``signing.pages_bankid``
and ``signing.pages_oidc``; ``signing.pages`` imports the other two and registers
the blueprint.

Every POST accepts an ``application/json`` body and answers JSON to it (no CSRF
token: a cross-site form cannot send JSON); HTML forms carry a CSRF token and get
a redirect (post/redirect/get), so everything but the live status works without
JavaScript.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
from flask import Blueprint, Flask, Response, current_app, g, json, redirect, render_template, request, url_for
from flask_babel import get_locale, refresh
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app import errors, limiter
from app.crypto import Keyring, sha256_hex
from app.db import get_session, utcnow
from app.errors import BadRequest, DomainError, Unprocessable
from app.i18n import LOCALE_NAMES, LOCALES
from consent.signatures import SigningView
from signing import oidc, services, texts
from signing.bankid.client import BankIdClient

bp = Blueprint(
    "signing",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/signing/static",
)

SIM_BASE_URL = "http://samtycke.internal/bankid-sim/rp/v6.0/"


# --- the request's clock, keyring, locale and address -----------------------------------


def now() -> datetime:
    """Real time, or the clock a test installs (``SIGNING_CLOCK``)."""
    clock: Callable[[], datetime] | None = current_app.config.get("SIGNING_CLOCK")
    return clock() if clock is not None else utcnow()


def keyring() -> Keyring:
    found: Keyring = current_app.extensions["samtycke.keyring"]
    return found


def locale() -> str:
    """The language of the page (the chrome around the text)."""
    return str(get_locale() or "sv")


# A signing link opens in the language its request named, whatever the browser or the
# site-wide ``lang`` cookie (set on another link, or in the console) says: the organisation
# chose it for this person. Only a request that named none follows the browser. The
# person's own choice on the link (the switch, ``?lang=``) wins, and every page of the
# link carries its language in the URLs of its links and forms, so a form posts in the
# language of the page it is on: the order signs the text the person read.
def chosen_locale() -> str | None:
    """The language this request of the link's pages asks for (``?lang=``), if any."""
    chosen = request.args.get("lang")
    return chosen if chosen in LOCALES else None


def browser_locale() -> str:
    """What the browser prefers (cookie, Accept-Language), for a request that named no language."""
    return str(g.get("browser_locale") or get_locale() or "sv")


def use_locale(code: str) -> None:
    """This request's pages speak ``code``."""
    g.browser_locale = browser_locale()  # before the pin hides it
    g.page_locale = code
    refresh()


def page_locale() -> str | None:
    """The language this request's link page speaks, once the link is open."""
    pinned = g.get("page_locale")
    return str(pinned) if pinned else None


def client_ip() -> str:
    # Behind ProxyFix (SAMTYCKE_PROXY_FIX) remote_addr is already the client's own address.
    return request.remote_addr or "127.0.0.1"


def providers() -> list[oidc.Provider]:
    return oidc.providers(current_app.config)


def open_link(token: str) -> services.Link:
    """The link and its view; this request's pages speak the view's page language."""
    link = services.open_link(
        get_session(), keyring(), token, locale=chosen_locale(), now=now(), preferred=browser_locale()
    )
    use_locale(link.view.page_locale)
    return link


# --- BankID -------------------------------------------------------------------------------


def _isolated(app: Flask) -> Callable[..., Any]:
    """The app as a WSGI callable that runs in a fresh context.

    A nested call in the same thread would otherwise reuse this request's
    application context and so its ``g`` and database session; the simulator
    must get its own, as it would behind a real network.
    """
    def call(environ: dict[str, Any], start_response: Any) -> Any:
        return contextvars.Context().run(app, environ, start_response)

    return call


@contextmanager
def bankid_client() -> Iterator[BankIdClient]:
    config = current_app.config
    if config.get("BANKID", "simulator") == "simulator":
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        http = httpx.Client(transport=httpx.WSGITransport(app=_isolated(app)), base_url=SIM_BASE_URL)
        try:
            yield BankIdClient(http=http)
        finally:
            http.close()
        return
    client = BankIdClient(
        config["BANKID"], cert=config.get("BANKID_CERT"), key=config.get("BANKID_KEY"), ca=config.get("BANKID_CA")
    )
    try:
        yield client
    finally:
        client.close()


# --- JSON in and out ------------------------------------------------------------------------

# Endpoints that only ever speak JSON, whatever the caller accepts.
_JSON_ENDPOINTS = {"signing.bankid_status"}


def wants_json() -> bool:
    if request.is_json or request.endpoint in _JSON_ENDPOINTS:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and request.get_data(cache=True).strip():
        raise BadRequest("The request body is not valid JSON.")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Unprocessable("The body must be a JSON object.", errors={"_body": ["Must be an object."]})
    return data


class StartSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a subject's phone or browser may send more than we need

    device = fields.String(required=True, validate=validate.OneOf(["same", "other"]))
    purposes = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=None)


class EmptySchema(Schema):
    """Nothing is needed (``{}``); whatever else comes along is ignored."""

    class Meta:
        unknown = EXCLUDE


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_body": exc.messages}
        detail = "The request did not pass validation; see 'errors' for each field."
        raise Unprocessable(detail, errors=messages) from exc
    return loaded


def check_empty_body() -> None:
    """A JSON POST that needs nothing must still send a JSON object (or nothing)."""
    if request.is_json:
        load(EmptySchema(), json_body())


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


# --- rate limits on starting an order ------------------------------------------------------


def _link_key() -> str:
    token = (request.view_args or {}).get("token", "")
    return "signing-link:" + sha256_hex(str(token))


def _address_key() -> str:
    return "signing-address:" + (get_remote_address() or "")


def _link_limit() -> str:
    return str(current_app.config.get("SIGNING_START_RATE_LIMIT") or "10 per minute")


def _address_limit() -> str:
    return str(current_app.config.get("SIGNING_START_ADDRESS_RATE_LIMIT") or _link_limit())


# Order starts are limited per link and per client address, across BankID and OIDC.
limit_per_link = limiter.shared_limit(_link_limit, scope="signing-start-link", key_func=_link_key)
limit_per_address = limiter.shared_limit(_address_limit, scope="signing-start-address", key_func=_address_key)


# --- pages ---------------------------------------------------------------------------------


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


def attempt(state: services.OrderState) -> dict[str, Any]:
    """The attempt as the pages and their JSON twins show it."""
    order = state.order
    method = order.method if order is not None else "bankid"
    device = order.device if order is not None else None
    mobile = order.mobile if order is not None else False
    return {
        "status": state.status,
        "hint_code": state.hint_code if state.status != "failed" else (state.failure_code or state.hint_code),
        "message": texts.attempt_message(state.status, state.hint_code, state.failure_code, device, mobile, method),
    }


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
            failed_attempt = attempt(services.order_state(order))["message"]
    return render_link(
        "signing/consent.html",
        token,
        view,
        status=status,
        body=texts.markdown_html(view.body_markdown),
        # Nothing is pre-selected (GDPR Art. 4(11), Planet49): only what the person ticked.
        chosen=chosen or [],
        providers=providers(),
        error=error or failed_attempt,
        field_error=field_error,
    )


def invalid_form(token: str, link: services.Link, exc: Unprocessable, purposes: list[str] | None) -> Response:
    if exc.errors and "purposes" in exc.errors:
        return consent_page(
            token, link, status=422, chosen=list(purposes or []),
            field_error=_("Choose at least one purpose to consent to."),
        )
    return consent_page(token, link, status=422, chosen=purposes, error=_("Choose how you want to sign."))


# --- errors: problem+json to JSON callers, a translated page to people -------------------------


def _error_page(status: int, detail: str) -> Response:
    try:
        return render("signing/error.html", status=status, code=status, detail=detail)
    except Exception:  # the error page itself must never fail
        current_app.logger.exception("signing error page failed")
        return Response(f"<!doctype html><title>{status}</title><h1>{status}</h1>", status=status, mimetype="text/html")


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    extra = dict(exc.extra)
    headers = extra.pop("headers", None) or {}
    if wants_json():
        response = errors.problem(exc.status, exc.title, exc.detail, type_=exc.type, errors=exc.errors, **extra)
    else:
        response = _error_page(exc.status, exc.detail)
    for name, value in headers.items():
        response.headers[name] = value
    return response


@bp.errorhandler(StaleDataError)
def _concurrent_change(exc: StaleDataError) -> Response:
    # The link's consent, signer or order moved on under this request (app.db.guarded_by_status).
    return _domain_error(errors.concurrent_change())


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if wants_json():
        response = errors.problem(status, exc.name, exc.description or exc.name)
    else:
        response = _error_page(status, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() in ("retry-after", "allow"):
            response.headers[name] = value
    return response
