"""Calling the simulator from inside the same Flask app without a socket or a second worker.

Flask reuses the running app context when a request for the *same* app starts
inside it, so a plain ``httpx.WSGITransport(app=app)`` call made during a
request would share ``g`` with it: the inner request would take over, commit
and close the outer request's database session. Running the inner request in
an empty ``contextvars.Context`` gives it its own app context, ``g`` and
session, exactly like a request from outside.

On SQLite, call BankID before the outer request writes anything (or after it
commits): the simulator's own transaction needs the database's write lock.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from signing.bankid.client import BankIdClient

RP_PATH = "/bankid-sim/rp/v6.0/"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class IsolatedWSGIApp:
    """A WSGI app run in a fresh context, its body read before the context ends."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return contextvars.Context().run(self._run, environ, start_response)

    def _run(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        result = self.app(environ, start_response)
        try:
            return list(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


def in_process_http(app: WSGIApp, base_url: str = "http://bankid-sim.internal", timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(
        transport=httpx.WSGITransport(app=IsolatedWSGIApp(app)), base_url=base_url + RP_PATH, timeout=timeout
    )


def in_process_client(app: WSGIApp, base_url: str = "http://bankid-sim.internal") -> BankIdClient:
    """A :class:`BankIdClient` for the simulator served by ``app`` itself (simulator mode)."""
    return BankIdClient(http=in_process_http(app, base_url))
