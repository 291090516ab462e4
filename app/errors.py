"""Errors: domain errors carry their HTTP status; one place renders them.

Every JSON error is RFC 9457 ``application/problem+json`` with at least
``type``, ``title``, ``status`` and ``detail``. Browser pages get a translated
HTML page instead, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, json, render_template, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra

    @property
    def type(self) -> str:
        return f"/problems/{self.slug}"


class BadRequest(DomainError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class Gone(DomainError):
    status, slug, title = 410, "gone", "Gone"


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class Unprocessable(DomainError):
    status, slug, title = 422, "validation-error", "Validation failed"


class TooManyRequests(DomainError):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class Unavailable(DomainError):
    status, slug, title = 503, "unavailable", "Service unavailable"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# Paths whose errors are rendered by another component (e.g. the BankID
# simulator answers in BankID's own {"errorCode", "details"} format). Kept per app:
# a component plugged into one app says nothing about another (production has no simulator).
_RENDERERS_KEY = "samtycke.prefix_renderers"
_JSON_PREFIXES = ("/api/", "/oauth/", "/openapi", "/healthz")


def register_prefix_renderer(
    app: Flask, prefix: str, renderer: Callable[[HTTPException | DomainError], Response]
) -> None:
    app.extensions.setdefault(_RENDERERS_KEY, {})[prefix] = renderer


def wants_json() -> bool:
    path = request.path
    if path.startswith(_JSON_PREFIXES) or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def _prefix_renderer() -> Callable[[HTTPException | DomainError], Response] | None:
    renderers: dict[str, Callable[[HTTPException | DomainError], Response]] = current_app.extensions.get(
        _RENDERERS_KEY, {}
    )
    for prefix, renderer in renderers.items():
        if request.path.startswith(prefix):
            return renderer
    return None


def _html(status: int, title: str, detail: str) -> Response:
    try:
        body = render_template("error.html", status=status, title=title, detail=detail)
    except Exception:  # the error page itself must never fail
        log.exception("error page failed to render")
        body = f"<!doctype html><title>{status}</title><h1>{status}</h1>"
    return Response(body, status=status, mimetype="text/html")


def _render(status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: Any) -> Response:
    if wants_json():
        return problem(status, title, detail, type_=type_, **extra)
    return _html(status, title, detail)


def handle_domain_error(exc: DomainError) -> Response:
    renderer = _prefix_renderer()
    if renderer is not None:
        return renderer(exc)
    headers = exc.extra.pop("headers", None)
    response = _render(exc.status, exc.title, exc.detail, type_=exc.type, errors=exc.errors, **exc.extra)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _validation_messages(exc: HTTPException) -> dict[str, Any] | None:
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and "messages" in data:
        messages: dict[str, Any] = data["messages"]
        return messages
    return None


def handle_http_exception(exc: HTTPException) -> Response:
    renderer = _prefix_renderer()
    if renderer is not None:
        return renderer(exc)
    status = exc.code or 500
    messages = _validation_messages(exc)
    title = exc.name
    detail = exc.description or title
    type_ = "about:blank"
    if messages is not None:
        # webargs puts the field errors under their location ("json", "query", ...).
        flat: dict[str, Any] = {}
        for location_errors in messages.values():
            if isinstance(location_errors, dict):
                flat.update(location_errors)
            else:
                flat.setdefault("_body", location_errors)
        messages = flat
        if status == 400:
            detail = "The request body is not valid JSON."
            type_ = "/problems/malformed-json"
        else:
            detail = "The request did not pass validation; see 'errors' for each field."
            type_ = "/problems/validation-error"
    headers = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    response = _render(status, title, detail, type_=type_, errors=messages)
    response.headers.update(headers)
    return response


def handle_integrity_error(exc: IntegrityError) -> Response:
    # A unique constraint raced by two requests; the service checks first, so
    # this is the rare concurrent case.
    log.info("integrity error mapped to 409: %s", type(exc.orig).__name__)
    return _render(409, "Conflict", "The request conflicts with existing data.", type_="/problems/conflict")


def concurrent_change() -> Conflict:
    return Conflict("Another request changed this at the same moment; reload and try again.")


def handle_stale_data(exc: StaleDataError) -> Response:
    # A status-guarded row (app.db.guarded_by_status) had moved on: another request won the race.
    log.info("concurrent change mapped to 409: %s", exc)
    return handle_domain_error(concurrent_change())


def handle_operational_error(exc: OperationalError) -> Response:
    log.error("database unavailable: %s", type(exc.orig).__name__)
    return _render(503, "Service unavailable", "The database did not answer.", type_="/problems/unavailable")


def handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    current_app.logger.exception("unhandled error")
    return _render(500, "Internal server error", "An unexpected error occurred; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(StaleDataError, handle_stale_data)
    app.register_error_handler(OperationalError, handle_operational_error)
    app.register_error_handler(Exception, handle_unexpected)
