"""Refuse text no database can store, before any view sees it.

PostgreSQL rejects NUL characters in text, and neither backend can encode an
unpaired UTF-16 surrogate ("\\ud800" in JSON). Left alone, either surfaces as a
database error deep inside a service; one check at the edge answers a clear 400
for every endpoint, present and future.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from app.errors import BadRequest


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(value: Any) -> bool:
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, dict):
        return all(_storable(str(k)) and _walk(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_walk(v) for v in value)
    return True


def reject_unstorable_input() -> None:
    if not _storable(request.path) or not all(
        _storable(k) and _storable(v) for k, v in request.args.items(multi=True)
    ):
        raise BadRequest("The address contains characters that cannot be stored (NUL or unpaired surrogates).")
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.form and not all(_storable(k) and _storable(v) for k, v in request.form.items(multi=True)):
        raise BadRequest("The form contains characters that cannot be stored (NUL or unpaired surrogates).")
    if not request.is_json:
        return
    body = request.get_data(cache=True)
    # Only a JSON escape can smuggle NUL or a surrogate into a string; skip the
    # second parse for the (usual) bodies that have none.
    if b"\\u" not in body and b"\x00" not in body:
        return
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return  # malformed JSON is answered by the parser with its own 400
    if not _walk(data):
        raise BadRequest("The JSON body contains characters that cannot be stored (NUL or unpaired surrogates).")
