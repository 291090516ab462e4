"""Refuse text no database can store, before any view sees it.

PostgreSQL rejects NUL characters in text, and neither backend can encode an
unpaired UTF-16 surrogate ("\\ud800" in JSON). Left alone, either surfaces as a
database error deep inside a service; one check at the edge answers every
endpoint, present and future: an id in the path that holds such text cannot
exist (404); a field or parameter that holds it is invalid (422, naming it).
"""

from __future__ import annotations

from typing import Any

from flask import request

from app.errors import NotFound, Unprocessable
from app.json_input import loads
from app.text import encodable

MESSAGE = "Contains characters that cannot be stored (NUL or an unpaired surrogate)."


def _bad_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [] if encodable(value) else [path or "_body"]
    if isinstance(value, dict):
        found: list[str] = []
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if not encodable(str(key)):
                found.append(path or "_body")
            found.extend(_bad_paths(item, name))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _bad_paths(item, f"{path}.{i}" if path else str(i))]
    return []


def _refuse(fields: list[str]) -> None:
    raise Unprocessable(
        "The request did not pass validation; see 'errors' for each field.",
        errors={field: [MESSAGE] for field in dict.fromkeys(fields)},
    )


def reject_unstorable_input() -> None:
    if not encodable(request.path):
        raise NotFound("No such resource.")
    bad_args = [k for k, v in request.args.items(multi=True) if not (encodable(k) and encodable(v))]
    if bad_args:
        _refuse(bad_args)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.form:
        bad_form = [k for k, v in request.form.items(multi=True) if not (encodable(k) and encodable(v))]
        if bad_form:
            _refuse(bad_form)
    if not request.is_json:
        return
    body = request.get_data(cache=True)
    # Only a JSON escape can smuggle NUL or a surrogate into a string; skip the
    # second parse for the (usual) bodies that have none.
    if b"\\u" not in body and b"\x00" not in body:
        return
    try:
        data = loads(body)
    except ValueError:
        return  # malformed (or too deep) JSON is answered by the parser with its own 400
    bad = _bad_paths(data)
    if bad:
        _refuse(bad)
