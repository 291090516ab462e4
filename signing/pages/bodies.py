"""JSON in and out of the subject's pages.

Every POST accepts an ``application/json`` body and answers JSON to it (no CSRF
token: a cross-site form cannot send JSON); HTML forms carry a CSRF token and get
a redirect (post/redirect/get). Bodies are parsed by the foundation's bounded
parser (``app.json_input``, Flask's JSON provider) and checked with marshmallow.
"""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from app.errors import BadRequest, Unprocessable

# Endpoints that only ever speak JSON, whatever the caller accepts.
_JSON_ENDPOINTS = {"signing.bankid_status"}


def wants_json() -> bool:
    if request.is_json or request.endpoint in _JSON_ENDPOINTS:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def json_body() -> dict[str, Any]:
    # ``get_json`` parses through ``app.json_input.loads`` (the app's JSON provider).
    data = request.get_json(silent=True)
    if data is None and request.get_data(cache=True).strip():
        raise BadRequest("The request body is not valid JSON.")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Unprocessable("The body must be a JSON object.", errors={"_body": ["Must be an object."]})
    return data


class StartSchema(Schema):
    """Starting a signing: how (BankID on this device or another) and which purposes."""

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
