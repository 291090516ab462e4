"""The BankID client the service signs with: the real RP API v6.0, or the simulator.

``SAMTYCKE_BANKID`` names the RP API's base URL, or ``simulator`` (the embedded
default). The simulator is served by this very app, so the client reaches it
in-process (``signing.bankid.simulator.inprocess``): no socket, no second
worker, and its requests get their own context and database session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from signing.bankid.client import BankIdClient
from signing.bankid.simulator.inprocess import in_process_http

# The host name the in-process calls carry; nothing resolves it, the app answers it itself.
SIM_BASE_URL = "http://samtycke.internal"


@contextmanager
def bankid_client() -> Iterator[BankIdClient]:
    """A BankID client for this request, closed when the block ends."""
    config = current_app.config
    if config.get("BANKID", "simulator") == "simulator":
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        http = in_process_http(app, SIM_BASE_URL)
        try:
            yield BankIdClient(http=http)
        finally:
            http.close()
        return
    client = BankIdClient(
        config["BANKID"], cert=config.get("BANKID_CERT"), key=config.get("BANKID_KEY"), ca=config.get("BANKID_CA")
    )
    try:
        yield client
    finally:
        client.close()
