"""The subject's pages under ``/s/{token}`` (no login: the link's token is the key),
their JSON twins, and the OpenID Connect callback.

Views parse, call one service, and render or serialise. Every POST accepts an
``application/json`` body and answers JSON to it (no CSRF token: a cross-site
form cannot send JSON); HTML forms carry a CSRF token and get a redirect
(post/redirect/get), so everything but the live status works without JavaScript.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
from flask import Blueprint, Flask, Response, current_app, json, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app import errors, limiter
from app.crypto import Keyring, sha256_hex
from app.db import get_session, utcnow
from app.errors import BadRequest, DomainError, NotFound, Unprocessable
from signing import oidc, qr_image, services, texts
from signing.bankid.client import BankIdClient
from signing.models import SignatureOrder

bp = Blueprint(
    "signing",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/signing/static",
)

SIM_BASE_URL = "http://samtycke.internal/bankid-sim/rp/v6.0/"
LOCALE_NAMES = {"sv": "Svenska", "nb": "Norsk bokmål", "en": "English"}


# --- plumbing -------------------------------------------------------------------------


def _now() -> datetime:
    """Real time, or the clock a test installs (``SIGNING_CLOCK``)."""
    clock: Callable[[], datetime] | None = current_app.config.get("SIGNING_CLOCK")
    return clock() if clock is not None else utcnow()


def _keyring() -> Keyring:
    keyring: Keyring = current_app.extensions["samtycke.keyring"]
    return keyring


def _locale() -> str:
    return str(get_locale() or "sv")


def _client_ip() -> str:
    # Behind ProxyFix (SAMTYCKE_PROXY_FIX) remote_addr is already the client's own address.
    return request.remote_addr or "127.0.0.1"


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


# Endpoints that only ever speak JSON, whatever the caller accepts.
_JSON_ENDPOINTS = {"signing.bankid_status"}


def _wants_json() -> bool:
    if request.is_json or request.endpoint in _JSON_ENDPOINTS:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _json_body() -> dict[str, Any]:
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


def _load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_body": exc.messages}
        detail = "The request did not pass validation; see 'errors' for each field."
        raise Unprocessable(detail, errors=messages) from exc
    return loaded


def _purposes_arg(values: list[str]) -> list[str] | None:
    """``?purposes=a,b`` or ``?purposes=a&purposes=b``; absent means every requested purpose."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


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
_limit_per_link = limiter.shared_limit(_link_limit, scope="signing-start-link", key_func=_link_key)
_limit_per_address = limiter.shared_limit(_address_limit, scope="signing-start-address", key_func=_address_key)


def _open(token: str) -> services.Link:
    return services.open_link(get_session(), _keyring(), token, locale=_locale(), now=_now())


def _urls(token: str) -> dict[str, str]:
    return {
        "page": url_for("signing.page", token=token),
        "start": url_for("signing.bankid_start", token=token),
        "progress": url_for("signing.bankid_progress", token=token),
        "status": url_for("signing.bankid_status", token=token),
        "qr": url_for("signing.bankid_qr", token=token),
        "cancel": url_for("signing.bankid_cancel", token=token),
        "decline": url_for("signing.decline", token=token),
        "withdraw": url_for("signing.withdraw", token=token),
        "receipt": url_for("signing.receipt", token=token),
        "record": url_for("signing.record", token=token),
    }


def _providers() -> list[oidc.Provider]:
    return oidc.providers(current_app.config)


def _render(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("locale_names", LOCALE_NAMES)
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _redirect(location: str) -> BaseResponse:
    return redirect(location, code=303)


def _attempt(order: SignatureOrder | None, state: services.OrderState) -> dict[str, Any]:
    method = order.method if order is not None else "bankid"
    device = order.device if order is not None else None
    mobile = order.mobile if order is not None else False
    return {
        "status": state.status,
        "hint_code": state.hint_code if state.status != "failed" else (state.failure_code or state.hint_code),
        "message": texts.attempt_message(state.status, state.hint_code, state.failure_code, device, mobile, method),
    }


# --- the consent page ------------------------------------------------------------------


def _consent_page(
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
            failed_attempt = _attempt(order, services.order_state(order))["message"]
    return _render(
        "signing/consent.html",
        status=status,
        token=token,
        view=view,
        urls=_urls(token),
        body=texts.markdown_html(view.body_markdown),
        chosen=[p.key for p in view.purposes] if chosen is None else chosen,
        providers=_providers(),
        error=error or failed_attempt,
        field_error=field_error,
    )


def _invalid_form(token: str, link: services.Link, exc: Unprocessable, purposes: list[str] | None) -> Response:
    if exc.errors and "purposes" in exc.errors:
        return _consent_page(
            token, link, status=422, chosen=list(purposes or []),
            field_error=_("Choose at least one purpose to consent to."),
        )
    return _consent_page(token, link, status=422, chosen=purposes, error=_("Choose how you want to sign."))


@bp.get("/s/<token>")
def page(token: str) -> Response:
    link = _open(token)
    view = link.view
    if view.signer_status == "signed":
        return _receipt_page(token, link)  # a used link shows what was signed
    if not services.signable(view):
        return _render("signing/state.html", token=token, view=view, urls=_urls(token))
    return _consent_page(token, link)


# --- BankID -------------------------------------------------------------------------------


@bp.post("/s/<token>/bankid/start")
@_limit_per_link
@_limit_per_address
def bankid_start(token: str) -> BaseResponse:
    as_json = request.is_json
    if as_json:
        data = _load(StartSchema(), _json_body())
        device, purposes = data["device"], data["purposes"]
    else:
        device = request.form.get("device", "")
        purposes = request.form.getlist("purposes")
    session = get_session()
    keyring = _keyring()
    try:
        with bankid_client() as client:
            started = services.start_bankid(
                session, keyring, client, token=token, device=device, purposes=purposes,
                end_user_ip=_client_ip(), mobile=texts.is_mobile(request.user_agent.string),
                locale=_locale(), now=_now(),
            )
    except (Unprocessable, services.BankIdStartFailed) as exc:
        if as_json:
            if isinstance(exc, services.BankIdStartFailed):
                exc.extra["message"] = texts.start_error_message(exc.error_code)
            raise
        link = _open(token)
        if isinstance(exc, Unprocessable):
            return _invalid_form(token, link, exc, purposes)
        return _consent_page(
            token, link, status=exc.status, chosen=list(purposes or []),
            error=texts.start_error_message(exc.error_code),
        )
    if not as_json:
        return _redirect(url_for("signing.bankid_progress", token=token))
    body: dict[str, Any] = {"status": "pending"}
    if device == "same":
        body["auto_start_token"] = started.auto_start_token
        body["autostart_url"] = started.autostart_url
    return Response(json.dumps(body), status=200, mimetype="application/json")


def _poll(token: str) -> tuple[services.Link, services.OrderState]:
    link = _open(token)
    with bankid_client() as client:  # cheap: BankID is asked only when an order is live
        state = services.poll(get_session(), _keyring(), client, signer=link.signer, locale=_locale(), now=_now())
    return link, state


@bp.get("/s/<token>/bankid/status")
def bankid_status(token: str) -> Response:
    _link, state = _poll(token)
    if state.status == "none":
        raise NotFound("No signing has been started with this link.")
    body = _attempt(state.order, state)
    body["qr_data"] = (
        services.current_qr_data(_keyring(), state.order, _now()) if state.order is not None else None
    )
    if body["qr_data"] is None:
        del body["qr_data"]
    if state.status == "complete":
        body["receipt_url"] = url_for("signing.receipt", token=token)
    return Response(json.dumps(body), status=200, mimetype="application/json")


@bp.get("/s/<token>/bankid")
def bankid_progress(token: str) -> BaseResponse:
    """The attempt in progress, rendered on the server; reloading it is the 'Check status' of no-JS."""
    link, state = _poll(token)
    if state.status == "complete":
        return _redirect(url_for("signing.receipt", token=token))
    order = state.order
    if order is None or order.method != "bankid":
        return _redirect(url_for("signing.page", token=token))
    keyring = _keyring()
    start_url = None
    if order.status == "pending" and order.device == "same":
        auto = services.auto_start_token(keyring, order)
        start_url = services.start_link(auto, order.mobile) if auto else None
    return _render(
        "signing/progress.html",
        token=token,
        view=link.view,
        urls=_urls(token),
        order=order,
        attempt=_attempt(order, state),
        start_url=start_url,
        show_qr=services.current_qr_data(keyring, order, _now()) is not None,
    )


@bp.get("/s/<token>/bankid/qr.svg")
def bankid_qr(token: str) -> Response:
    """This second's animated QR code; the qrStartSecret stays on the server."""
    link = _open(token)
    order = services.current_order(get_session(), link.signer.id)
    text = services.current_qr_data(_keyring(), order, _now()) if order is not None else None
    if text is None:
        raise NotFound("No QR code to show: no BankID signing on another device is in progress.")
    return Response(qr_image.svg(text), mimetype="image/svg+xml")


@bp.post("/s/<token>/bankid/cancel")
def bankid_cancel(token: str) -> BaseResponse:
    if request.is_json:
        _load(EmptySchema(), _json_body())
    link = _open(token)
    with bankid_client() as client:
        state = services.cancel(get_session(), client, signer=link.signer, now=_now())
    if request.is_json:
        return Response(json.dumps(_attempt(state.order, state)), status=200, mimetype="application/json")
    return _redirect(url_for("signing.page", token=token))


# --- OpenID Connect ------------------------------------------------------------------------


def _redirect_uri() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/oidc/callback"


def _oidc_continue(token: str, provider: oidc.Provider, purposes: list[str]) -> Response:
    """The form's answer without JavaScript: a link on to the provider.

    A form post that redirects to another origin is blocked by our CSP
    (``form-action 'self'``), so the step to the provider is a link the user follows.
    """
    link = _open(token)
    try:
        services.require_signable(link.view)
        chosen = services.choose_purposes(link.view, purposes)
    except Unprocessable as exc:
        return _invalid_form(token, link, exc, purposes)
    url = url_for("signing.oidc_start", token=token, name=provider.name, purposes=",".join(chosen) or None)
    return _render("signing/oidc_continue.html", token=token, view=link.view, urls=_urls(token),
                   provider=provider, continue_url=url)


@bp.route("/s/<token>/oidc/<name>", methods=["GET", "POST"])
@_limit_per_link
@_limit_per_address
def oidc_start(token: str, name: str) -> BaseResponse:
    provider = oidc.provider_named(current_app.config, name)
    if provider is None:
        raise NotFound(f"No identity provider named {name!r} is offered.")
    if request.method == "POST" and not request.is_json:
        return _oidc_continue(token, provider, request.form.getlist("purposes"))
    if request.method == "POST":
        purposes: list[str] | None = _load(StartSchema(partial=("device",)), _json_body())["purposes"]
    else:
        purposes = _purposes_arg(request.args.getlist("purposes"))
    session = get_session()
    try:
        with bankid_client() as client, oidc.http_client() as http:
            url = services.start_oidc(
                session, _keyring(), client, http, provider, token=token, purposes=purposes,
                redirect_uri=_redirect_uri(), end_user_ip=_client_ip(), locale=_locale(), now=_now(),
            )
    except Unprocessable as exc:
        if _wants_json():
            raise
        return _invalid_form(token, _open(token), exc, purposes)
    if request.is_json:
        return Response(json.dumps({"status": "pending", "redirect_url": url}), mimetype="application/json")
    return redirect(url, code=302)


@bp.get("/oidc/callback")
def oidc_callback() -> BaseResponse:
    session = get_session()
    keyring = _keyring()
    error = request.args.get("error")
    try:
        with oidc.http_client() as http:
            outcome = services.finish_oidc(
                session, keyring, http, _providers(), state=request.args.get("state"),
                code=request.args.get("code"), error=error, redirect_uri=_redirect_uri(), locale=_locale(),
                now=_now(),
            )
    except NotFound:
        if not error:
            raise
        # A provider that drops ``state`` from its error answer: we cannot tell whose link it was.
        return _render(
            "signing/error.html", status=400, code=400, headline=_("Signing was cancelled"),
            detail=_("Signing was cancelled at the identity provider. Open your signing link again to try once more."),
        )
    token = keyring.link_token(outcome.signer_id)
    if outcome.status == "complete":
        return _redirect(url_for("signing.receipt", token=token))
    return _redirect(url_for("signing.page", token=token, attempt=outcome.order_id))


# --- decline and withdraw --------------------------------------------------------------------


@bp.route("/s/<token>/decline", methods=["GET", "POST"])
def decline(token: str) -> BaseResponse:
    link = _open(token)
    if request.method == "GET":
        if not services.signable(link.view):
            return _redirect(url_for("signing.page", token=token))
        return _render("signing/confirm.html", token=token, view=link.view, urls=_urls(token), action="decline")
    if request.is_json:
        _load(EmptySchema(), _json_body())
    with bankid_client() as client:
        services.decline(get_session(), client, signer=link.signer, now=_now())
    if request.is_json:
        after = _open(token).view
        body = {"status": "declined", "signer_status": after.signer_status, "object_status": after.object_status}
        return Response(json.dumps(body), mimetype="application/json")
    return _redirect(url_for("signing.page", token=token))


@bp.route("/s/<token>/withdraw", methods=["GET", "POST"])
def withdraw(token: str) -> BaseResponse:
    link = _open(token)
    if request.method == "GET":
        if not link.view.can_withdraw:
            return _redirect(url_for("signing.page", token=token))
        return _render("signing/confirm.html", token=token, view=link.view, urls=_urls(token), action="withdraw")
    if request.is_json:
        _load(EmptySchema(), _json_body())
    services.withdraw(get_session(), signer=link.signer, now=_now())
    if request.is_json:
        return Response(json.dumps({"status": "withdrawn", "object_status": "withdrawn"}), mimetype="application/json")
    return _redirect(url_for("signing.receipt", token=token))


# --- the receipt ----------------------------------------------------------------------------


def _receipt_data(token: str, link: services.Link) -> dict[str, Any]:
    """What was signed with this link, and where it stands now (signature fields null until signed)."""
    view = link.view
    session = get_session()
    found = services.receipt(session, link.signer)
    labels = {p.key: p.label for p in view.purposes}
    data: dict[str, Any] = {
        "kind": view.kind,
        "object_id": view.object_id,
        "status": view.object_status,
        "signer_status": view.signer_status,
        "role": view.role,
        "title": view.title,
        "text_sha256": view.text_sha256,
        "visible_sha256": None,
        "purposes": [],
        "valid_until": view.valid_until,
        "signed_at": None,
        "signed_by": None,
        "method": None,
        "method_label": None,
        "record_available": view.record_available,
        "record_url": url_for("signing.record", token=token) if view.record_available else None,
        "can_withdraw": view.can_withdraw,
    }
    if found is not None:
        order = services.current_order(session, link.signer.id)
        provider_labels = {p.name: p.label for p in _providers()}
        provider_label = provider_labels.get(order.provider) if order is not None and order.method == "oidc" else None
        data.update(
            visible_sha256=found.visible_sha256,
            purposes=[{"key": key, "label": labels.get(key, key)} for key in found.purposes],
            signed_at=found.signed_at,
            signed_by=found.signer_name,
            method=found.method,
            method_label=texts.method_label(found.method, provider_label),
        )
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _receipt_page(token: str, link: services.Link) -> Response:
    data = _receipt_data(token, link)
    if _wants_json():
        body = {**data, "valid_until": _iso(data["valid_until"]), "signed_at": _iso(data["signed_at"])}
        body.pop("method_label", None)
        return Response(json.dumps(body), mimetype="application/json")
    if data["signed_at"] is None:
        return _render("signing/state.html", token=token, view=link.view, urls=_urls(token))
    return _render("signing/receipt.html", token=token, view=link.view, urls=_urls(token), receipt=data)


@bp.get("/s/<token>/receipt")
def receipt(token: str) -> BaseResponse:
    link = _open(token)
    if link.view.signer_status != "signed" and not _wants_json():
        return _redirect(url_for("signing.page", token=token))
    return _receipt_page(token, link)


@bp.get("/s/<token>/record.pdf")
def record(token: str) -> Response:
    link = _open(token)
    if link.view.signer_status != "signed":
        raise NotFound("Nothing has been signed with this link.")
    found = services.record_pdf(get_session(), link.view)
    if found is None:
        raise NotFound("The record is still being prepared.")
    pdf, kind = found
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="samtycke-{link.view.object_id}-{kind}.pdf"'
    return response


# --- QR codes of the link itself (on-site capture) --------------------------------------------


def _signing_url(token: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for("signing.page", token=token)


@bp.get("/s/<token>/qr.png")
def link_qr_png(token: str) -> Response:
    _open(token)
    response = Response(qr_image.png(_signing_url(token)), mimetype="image/png")
    response.headers["Content-Disposition"] = 'inline; filename="signing-link.png"'
    return response


@bp.get("/s/<token>/qr.svg")
def link_qr_svg(token: str) -> Response:
    _open(token)
    response = Response(qr_image.svg(_signing_url(token)), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = 'inline; filename="signing-link.svg"'
    return response


# --- errors: problem+json to JSON callers, a translated page to people -------------------------


def _error_page(status: int, detail: str) -> Response:
    try:
        return _render("signing/error.html", status=status, code=status, detail=detail)
    except Exception:  # the error page itself must never fail
        current_app.logger.exception("signing error page failed")
        return Response(f"<!doctype html><title>{status}</title><h1>{status}</h1>", status=status, mimetype="text/html")


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    extra = dict(exc.extra)
    headers = extra.pop("headers", None) or {}
    if _wants_json():
        response = errors.problem(exc.status, exc.title, exc.detail, type_=exc.type, errors=exc.errors, **extra)
    else:
        response = _error_page(exc.status, exc.detail)
    for name, value in headers.items():
        response.headers[name] = value
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if _wants_json():
        response = errors.problem(status, exc.name, exc.description or exc.name)
    else:
        response = _error_page(status, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() in ("retry-after", "allow"):
            response.headers[name] = value
    return response


def register(app: Flask, api: Api) -> None:
    app.register_blueprint(bp)
