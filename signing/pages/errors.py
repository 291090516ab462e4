"""Errors on the subject's pages: problem+json to JSON callers, a translated page to people."""

from __future__ import annotations

from flask import Response, current_app
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from app import errors
from app.errors import DomainError
from signing.pages.blueprint import bp
from signing.pages.bodies import wants_json
from signing.pages.rendering import render


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
