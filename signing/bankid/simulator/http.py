"""What the simulator's views share: BankID's error shape, method checks, the clock, the key."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Response, current_app, request
from werkzeug.wrappers import Response as BaseResponse

from app.db import utcnow
from app.json_input import loads
from signing.bankid.simulator.errors import SimError, invalid
from signing.bankid.simulator.evidence import SimulatorKeys, load_keys

PREFIX = "/bankid-sim"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Far above BankID's own field limits (200,000 characters); the fields are checked one by one.
MAX_BODY = 512 * 1024


def sim_now() -> datetime:
    """The simulator's clock: ``BANKID_SIM_CLOCK`` (a callable giving an aware datetime) or real time."""
    clock: Callable[[], datetime] | None = current_app.config.get("BANKID_SIM_CLOCK")
    return clock() if clock is not None else utcnow()


def sim_keys() -> SimulatorKeys:
    return load_keys(Path(current_app.instance_path) / "bankid-sim")


def error_response(status: int, error_code: str, details: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"errorCode": error_code, "details": details})
    response = Response(body, status=status, mimetype="application/json")
    response.headers.update(headers or {})
    return response


def json_response(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data), status=200, mimetype="application/json")


def methods(*allowed: str) -> Callable[[Callable[..., BaseResponse]], Callable[..., BaseResponse]]:
    """Answer every other method with BankID's 405 JSON instead of the router's HTML.

    Routes are registered for every method, so the router never raises its own
    405, which would bypass the blueprint's error handlers.
    """
    allowed_set = set(allowed) | ({"HEAD"} if "GET" in allowed else set())

    def decorate(view: Callable[..., BaseResponse]) -> Callable[..., BaseResponse]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> BaseResponse:
            if request.method not in allowed_set:
                allow = ", ".join(sorted(allowed_set))
                return error_response(405, "methodNotAllowed", f"Method {request.method} not allowed", {"Allow": allow})
            return view(*args, **kwargs)

        return wrapper

    return decorate


def json_body() -> Any:
    if request.mimetype != "application/json":
        raise SimError(415, "unsupportedMediaType", "Content-Type must be application/json")
    if (request.content_length or 0) > MAX_BODY:
        raise invalid("Request too large")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise invalid("Request too large")
    try:
        return loads(raw)
    except ValueError:  # bad syntax, not UTF-8, or nested too deep
        raise invalid("Invalid JSON in request body") from None
