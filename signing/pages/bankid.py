"""BankID on the subject's link: start an order, follow it (JSON status for the
page's script, a server-rendered progress page without it), its animated QR code,
and Cancel."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.crypto import current_keyring
from app.db import get_session
from app.errors import NotFound, Unprocessable
from signing import bankid_flow, services
from signing.bankid.connect import bankid_client
from signing.clock import now
from signing.pages import qr_image, texts
from signing.pages.blueprint import bp
from signing.pages.bodies import StartSchema, check_empty_body, json_body, json_response, load
from signing.pages.consent_page import consent_page, invalid_form
from signing.pages.context import client_ip, open_link
from signing.pages.language import browser_locale, chosen_locale
from signing.pages.rate_limits import limit_per_address, limit_per_link
from signing.pages.rendering import redirect_to, render_link


@bp.post("/s/<token>/bankid/start")
@limit_per_link
@limit_per_address
def bankid_start(token: str) -> BaseResponse:
    as_json = request.is_json
    if as_json:
        data = load(StartSchema(), json_body())
        device, purposes = data["device"], data["purposes"]
    else:
        device = request.form.get("device", "")
        purposes = request.form.getlist("purposes")
    session = get_session()
    ring = current_keyring()
    try:
        with bankid_client() as client:
            started = bankid_flow.start_bankid(
                session, ring, client, token=token, device=device, purposes=purposes,
                end_user_ip=client_ip(), mobile=texts.is_mobile(request.user_agent.string),
                locale=chosen_locale(), preferred=browser_locale(), now=now(),
            )
    except (Unprocessable, bankid_flow.BankIdStartFailed) as exc:
        link = open_link(token)  # also sets the page's language for the message
        if as_json:
            if isinstance(exc, bankid_flow.BankIdStartFailed):
                exc.extra["message"] = texts.start_error_message(exc.error_code)
            raise
        if isinstance(exc, Unprocessable):
            return invalid_form(token, link, exc, purposes)
        return consent_page(
            token, link, status=exc.status, chosen=list(purposes or []),
            error=texts.start_error_message(exc.error_code),
        )
    if not as_json:
        return redirect_to("signing.bankid_progress", token)
    body: dict[str, Any] = {"status": "pending"}
    if device == "same":
        body["auto_start_token"] = started.auto_start_token
        body["autostart_url"] = started.autostart_url
    return json_response(body)


def _poll(token: str) -> tuple[services.Link, services.OrderState]:
    link = open_link(token)
    with bankid_client() as client:  # cheap: BankID is asked only when an order is live
        state = bankid_flow.poll(
            get_session(), current_keyring(), client, signer=link.signer, locale=chosen_locale(), now=now()
        )
    return link, state


@bp.get("/s/<token>/bankid/status")
def bankid_status(token: str) -> Response:
    _link, state = _poll(token)
    if state.status == "none":
        raise NotFound("No signing has been started with this link.")
    body = texts.attempt(state)
    qr_data = bankid_flow.current_qr_data(current_keyring(), state.order, now())
    if qr_data is not None:
        body["qr_data"] = qr_data
    if state.status == "complete":
        body["receipt_url"] = url_for("signing.receipt", token=token, lang=chosen_locale())
    return json_response(body)


@bp.get("/s/<token>/bankid")
def bankid_progress(token: str) -> BaseResponse:
    """The attempt in progress, rendered on the server; reloading it is the 'Check status' of no-JS."""
    link, state = _poll(token)
    if state.status == "complete":
        return redirect_to("signing.receipt", token)
    order = state.order
    if order is None or order.method != "bankid":
        return redirect_to("signing.page", token)
    ring = current_keyring()
    return render_link(
        "signing/progress.html",
        token,
        link.view,
        order=order,
        attempt=texts.attempt(state),
        start_url=bankid_flow.resume_link(ring, order),
        show_qr=bankid_flow.current_qr_data(ring, order, now()) is not None,
    )


@bp.get("/s/<token>/bankid/qr.svg")
def bankid_qr(token: str) -> Response:
    """This second's animated QR code; the qrStartSecret stays on the server."""
    link = open_link(token)
    order = services.current_order(get_session(), link.signer.id)
    text = bankid_flow.current_qr_data(current_keyring(), order, now())
    if text is None:
        raise NotFound("No QR code to show: no BankID signing on another device is in progress.")
    return Response(qr_image.svg(text), mimetype="image/svg+xml")


@bp.post("/s/<token>/bankid/cancel")
def bankid_cancel(token: str) -> BaseResponse:
    check_empty_body()
    link = open_link(token)
    with bankid_client() as client:
        state = bankid_flow.cancel(get_session(), client, signer=link.signer, now=now())
    if request.is_json:
        return json_response(texts.attempt(state))
    return redirect_to("signing.page", token)
