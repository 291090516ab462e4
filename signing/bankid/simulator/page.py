"""The simulated phone app for people: a small server-rendered page.

A tester pastes the QR text or the start link, picks a test identity and
approves or cancels, the way the BankID app would ask. Plain forms, so it works
without JavaScript; the script only hides the custom identity fields.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from app.db import get_session
from signing.bankid.simulator import service
from signing.bankid.simulator.errors import SimError
from signing.bankid.simulator.http import ALL_METHODS, methods, sim_keys, sim_now
from signing.bankid.simulator.models import SimOrder

page = Blueprint(
    "page",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# Made-up people with valid check digits; none is a real person's number.
TEST_IDENTITIES = (
    service.Identity("199001011239", "Anna", "Andersson"),
    service.Identity("198506152464", "Björn", "Berg"),
    service.Identity("197203129874", "Cecilia", "Carlsson"),
    service.Identity("200504201112", "David", "Dahl"),
)


def _render(status: int = 200, *, order: SimOrder | None = None, error: str | None = None) -> Response:
    html = render_template(
        "bankid_sim/app.html",
        lang=str(get_locale() or "en"),
        identities=TEST_IDENTITIES,
        order=order,
        visible_text=_visible_text(order),
        error=error,
        form=request.form if request.method == "POST" else {},
    )
    return Response(html, status=status, mimetype="text/html")


def _visible_text(order: SimOrder | None) -> str | None:
    if order is None or not order.user_visible_data:
        return None
    try:
        return base64.b64decode(order.user_visible_data).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _chosen_identity() -> service.Identity:
    choice = request.form.get("identity", "")
    if choice.isdigit() and int(choice) < len(TEST_IDENTITIES):
        return TEST_IDENTITIES[int(choice)]
    number = request.form.get("personal_number", "").replace("-", "").replace(" ", "")
    return service.Identity(number, request.form.get("given_name", ""), request.form.get("surname", ""))


def _show(order_ref: str) -> BaseResponse:
    return redirect(url_for(".app_page", order=order_ref), code=303)


def _app_page() -> Response:
    order_ref = request.args.get("order")
    if not order_ref:
        return _render()
    order = service.get_order(get_session(), order_ref, sim_now())
    if order is None:
        return _render(404, error=_("There is no such order."))
    return _render(order=order)


def _start() -> BaseResponse:
    code = request.form.get("code", "").strip()
    identity = _chosen_identity()
    session = get_session()
    try:
        if not code:
            order = service.open_phone_order(session, identity, request.remote_addr, sim_now())
        elif code.startswith("bankid."):
            order = service.scan_qr(session, code, identity, request.remote_addr, sim_now())
        else:
            order = service.open_token(session, code, identity, request.remote_addr, sim_now())
        if order.hint_code == "started":
            # The person now sees the order on the screen: BankID reports userSign.
            service.review(session, order.order_ref, sim_now())
    except SimError as exc:
        return _render(exc.status, error=_explain(exc))
    return _show(order.order_ref)


def _call() -> BaseResponse:
    order_ref = request.form.get("order_ref", "")
    try:
        service.confirm_call(get_session(), order_ref, request.form.get("in_call") == "yes", sim_now())
    except SimError as exc:
        return _render(exc.status, error=_explain(exc))
    return _show(order_ref)


def _decide() -> BaseResponse:
    order_ref = request.form.get("order_ref", "")
    approve = request.form.get("decision") == "approve"
    session = get_session()
    try:
        service.confirm(session, order_ref, approve, sim_keys() if approve else None, sim_now())
    except SimError as exc:
        return _render(exc.status, order=service.get_order(session, order_ref, sim_now()), error=_explain(exc))
    return _show(order_ref)


def _explain(exc: SimError) -> str:
    messages = {
        "qrCodeRejected": _(
            "The QR code was not accepted: it is not authentic or no longer current. Copy the code shown right now."
        ),
        "personalNumberMismatch": _("This order is meant for another person."),
        "orderNotAvailable": _("The order is no longer in progress."),
        "notFound": _("No order was found for this code."),
    }
    return messages.get(exc.error_code, _("The input was not accepted: %(details)s", details=exc.details))


for _rule, _endpoint, _view, _allowed in (
    ("/app", "app_page", _app_page, ("GET",)),
    ("/app/form/start", "start", _start, ("POST",)),
    ("/app/form/call", "call", _call, ("POST",)),
    ("/app/form/decide", "decide", _decide, ("POST",)),
):
    page.add_url_rule(_rule, _endpoint, methods(*_allowed)(_view), methods=ALL_METHODS, provide_automatic_options=False)
