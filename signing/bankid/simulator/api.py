"""HTTP for the simulator: BankID's RP API v6.0 and the phone app's JSON API.

``/bankid-sim/rp/v6.0/{auth,sign,phone/auth,phone/sign,collect,cancel}`` speak
BankID's wire format; ``/bankid-sim/app/...`` is the simulated phone. Every
answer under ``/bankid-sim/`` is JSON ``{"errorCode", "details"}`` when it is an
error, routing 404/405 included: each route accepts every method and answers
405 itself, and a catch-all answers 404, so no app-wide handler is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.db import get_session
from app.errors import DomainError, register_prefix_renderer
from signing.bankid.simulator import service
from signing.bankid.simulator.errors import RP_ERRORS, SimError, invalid
from signing.bankid.simulator.http import (
    ALL_METHODS,
    PREFIX,
    error_response,
    json_body,
    methods,
    sim_keys,
    sim_now,
)
from signing.bankid.simulator.http import json_response as _json
from signing.bankid.simulator.page import page
from signing.bankid.simulator.validation import parse_order, parse_order_ref

log = logging.getLogger(__name__)

blueprint = Blueprint("bankid_sim", __name__, url_prefix=PREFIX)
rp = Blueprint("rp", __name__, url_prefix="/rp/v6.0")
app_api = Blueprint("app", __name__, url_prefix="/app")


# --- wiring -------------------------------------------------------------------


def register(app: Flask) -> None:
    """Plug the simulator in (only when BankID runs in simulator mode, and never in production)."""
    if app.config.get("BANKID", "simulator") != "simulator" or app.config.get("ENV") == "production":
        # Anyone could sign any link as anyone through it; production configuration refuses it
        # already, and this keeps its routes out even if a production app is built another way.
        return
    app.register_blueprint(blueprint)
    register_errors(app)


def register_errors(app: Flask) -> None:
    """Route errors under /bankid-sim/ that never reach the blueprint (e.g. raised before routing) to JSON."""
    register_prefix_renderer(app, PREFIX + "/", render_sim_error)


# --- answers --------------------------------------------------------------------


_STATUS_CODES = {
    401: "unauthorized",
    404: "notFound",
    405: "methodNotAllowed",
    408: "requestTimeout",
    415: "unsupportedMediaType",
    500: "internalError",
    503: "maintenance",
}


def render_sim_error(exc: Any) -> Response:
    """BankID's error shape for an HTTPException (or a DomainError) under /bankid-sim/."""
    status = int(getattr(exc, "code", None) or getattr(exc, "status", None) or 500)
    details = str(getattr(exc, "description", None) or getattr(exc, "detail", None) or "")
    headers = {}
    if status == 413:
        # BankID answers a request that is too big with invalidParameters.
        status, details = 400, "Request too large"
    elif status == 422:
        # The service's own input checks (e.g. app.input_guard: NUL, lone surrogates) answer 422;
        # the RP API v6.0 answers every bad parameter with 400 invalidParameters, naming it.
        fields = [_parameter_name(str(f)) for f in getattr(exc, "errors", None) or {}]
        status, details = 400, f"Invalid {fields[0]}" if fields else "Invalid parameters"
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and valid:
        headers["Allow"] = ", ".join(valid)
    code = _STATUS_CODES.get(status) or ("invalidParameters" if status < 500 else "internalError")
    return error_response(status, code, details or code, headers)


def _parameter_name(path: str) -> str:
    """``requirement.certificatePolicies.0`` as BankID names it: ``requirement.certificatePolicies``."""
    return ".".join(part for part in path.split(".") if not part.isdigit()) or path


@blueprint.errorhandler(SimError)
def _sim_error(exc: SimError) -> Response:
    return error_response(exc.status, exc.error_code, exc.details)


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return render_sim_error(exc)


@blueprint.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    # Before the catch-all below: a refusal by the service's own checks is not a crash.
    return render_sim_error(exc)


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    # Even a crash answers in BankID's shape, so an RP client sees internalError, not an HTML page.
    if isinstance(exc, OperationalError):
        log.error("simulator database unavailable: %s", type(exc.orig).__name__)
        return error_response(503, "maintenance", "The simulator's database did not answer")
    log.exception("simulator error")
    return error_response(500, "internalError", "Internal error in the simulator")


@blueprint.route("/", methods=ALL_METHODS, provide_automatic_options=False, strict_slashes=False)
@blueprint.route("/<path:rest>", methods=ALL_METHODS, provide_automatic_options=False)
def not_found(rest: str = "") -> Response:
    return error_response(404, "notFound", f"No such path: {request.path}")


# --- RP API ----------------------------------------------------------------------


@rp.before_request
def _injected_fault() -> Response | None:
    # Lets tests see how the RP behaves when BankID answers e.g. maintenance.
    fault = current_app.config.get("BANKID_SIM_FAULT")
    if fault:
        return error_response(RP_ERRORS.get(fault, 500), fault, f"Simulated {fault}")
    return None


def _start(kind: str) -> Response:
    order_request = parse_order(kind, json_body())
    session = get_session()
    try:
        order = service.start_order(session, order_request, sim_now())
    except SimError as exc:
        if exc.error_code == "alreadyInProgress":
            # The error answer would roll the request back, but BankID has
            # aborted the person's other order: that must stick.
            session.commit()
        raise
    return _json(service.start_answer(order))


def _rp_route(rule: str, endpoint: str, view: Callable[[], Response]) -> None:
    rp.add_url_rule(rule, endpoint, methods("POST")(view), methods=ALL_METHODS, provide_automatic_options=False)


_rp_route("/auth", "auth", lambda: _start("auth"))
_rp_route("/sign", "sign", lambda: _start("sign"))
_rp_route("/phone/auth", "phone_auth", lambda: _start("phone/auth"))
_rp_route("/phone/sign", "phone_sign", lambda: _start("phone/sign"))


def _collect() -> Response:
    order_ref = parse_order_ref(json_body())
    return _json(service.collect(get_session(), order_ref, sim_now()))


def _cancel() -> Response:
    order_ref = parse_order_ref(json_body())
    service.cancel(get_session(), order_ref, sim_now())
    return _json({})


_rp_route("/collect", "collect", _collect)
_rp_route("/cancel", "cancel", _cancel)


# --- the phone app (JSON) ------------------------------------------------------------


def _app_body(*required: str) -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object")
    for name in required:
        if name not in body:
            raise invalid(f"Missing {name}")
    return body


def _identity(body: dict[str, Any]) -> service.Identity:
    for name in ("personal_number", "given_name", "surname"):
        if not isinstance(body.get(name), str):
            raise invalid(f"Missing {name}")
    return service.Identity(body["personal_number"].strip(), body["given_name"], body["surname"])


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise invalid(f"{name} must be true or false")
    return value


def _order_ref(body: dict[str, Any]) -> str:
    value = body.get("order_ref")
    if not isinstance(value, str) or not value:
        raise invalid("Missing order_ref")
    return value


def _app_route(rule: str, endpoint: str, view: Callable[[], Response]) -> None:
    app_api.add_url_rule(rule, endpoint, methods("POST")(view), methods=ALL_METHODS, provide_automatic_options=False)


def _scan() -> Response:
    body = _app_body("qr_data")
    if not isinstance(body["qr_data"], str):
        raise invalid("qr_data must be a string")
    order = service.scan_qr(get_session(), body["qr_data"], _identity(body), request.remote_addr, sim_now())
    return _json({"order_ref": order.order_ref})


def _open() -> Response:
    body = _app_body("autostart_token")
    order = service.open_token(get_session(), body["autostart_token"], _identity(body), request.remote_addr, sim_now())
    return _json({"order_ref": order.order_ref})


def _phone() -> Response:
    order = service.open_phone_order(get_session(), _identity(_app_body()), request.remote_addr, sim_now())
    return _json({"order_ref": order.order_ref, "hint_code": order.hint_code})


def _call() -> Response:
    body = _app_body("order_ref", "in_call")
    order = service.confirm_call(get_session(), _order_ref(body), _bool(body, "in_call"), sim_now())
    return _json({"order_ref": order.order_ref, "status": order.state, "hint_code": order.hint_code})


def _review() -> Response:
    body = _app_body("order_ref")
    order = service.review(get_session(), _order_ref(body), sim_now())
    return _json({"order_ref": order.order_ref, "status": order.state, "hint_code": order.hint_code})


def _confirm() -> Response:
    body = _app_body("order_ref", "approve")
    approve = _bool(body, "approve")
    keys = sim_keys() if approve else None
    order = service.confirm(get_session(), _order_ref(body), approve, keys, sim_now())
    return _json({"order_ref": order.order_ref, "status": order.state, "hint_code": order.hint_code})


_app_route("/scan", "scan", _scan)
_app_route("/open", "open", _open)
_app_route("/phone", "phone", _phone)
_app_route("/call", "call", _call)
_app_route("/review", "review", _review)
_app_route("/confirm", "confirm", _confirm)

blueprint.register_blueprint(rp)
blueprint.register_blueprint(app_api)
blueprint.register_blueprint(page)
