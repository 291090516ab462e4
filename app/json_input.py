"""The one way the service reads JSON it is sent: strict UTF-8, nested at most ``MAX_DEPTH`` deep.

Python's parser recurses once per ``[`` or ``{``: a body of 100,000 brackets
raises RecursionError, which no caller expects, and a merely deep one makes
every later recursive walk (validation, the input guard, error rendering) a
risk. :func:`loads` turns both into an ordinary ``json.JSONDecodeError``, so
each caller answers its usual "not valid JSON" 400. Every reader goes through
it: Flask's ``request.get_json`` (:class:`JSONProvider`), flask-smorest's
``@blp.arguments`` (:class:`ArgumentsParser`, used by
:class:`app.api_blueprint.Blueprint`), the input guard and the BankID
simulator.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

# Far deeper than any body the service accepts (a few levels), far shallower than the recursion limit.
MAX_DEPTH = 64


class JSONTooDeep(json.JSONDecodeError):
    def __init__(self) -> None:
        super().__init__(f"Nested deeper than {MAX_DEPTH} levels", "(too deep)", 0)


def _deeper_than(value: dict[str, Any] | list[Any], limit: int) -> bool:
    # Iterative, so that measuring depth cannot itself recurse too far.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(data: str | bytes | bytearray) -> Any:
    """Parse a JSON text; every failure (bad syntax, not UTF-8, too deep, a number too long to convert)
    is a ``json.JSONDecodeError``."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"Not UTF-8: {exc.reason}", "(not UTF-8)", exc.start) from None
    else:
        text = data
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeep() from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # a number longer than Python converts (4,300 digits)
        raise json.JSONDecodeError(str(exc), "(number too long)", 0) from None
    # Only a text with more opening brackets than the limit can be too deep; most have a handful.
    if isinstance(value, dict | list) and text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(
        value, MAX_DEPTH
    ):
        raise JSONTooDeep()
    return value


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, parsing through :func:`loads` (``request.get_json`` and ``flask.json.loads``)."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


class ArgumentsParser(FlaskParser):
    """webargs reads JSON bodies with its own ``json.loads``; read them through :func:`loads` instead."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return core.missing
        return loads(req.get_data(cache=True))
