"""Fixtures for the BankID client and simulator, on top of the shared ``app``
(the real application factory, on SQLite and on PostgreSQL)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from signxml import XMLVerifier
from signxml.verifier import VerifyResult

from signing.bankid.client import BankIdClient
from signing.bankid.simulator.inprocess import in_process_http

RP = "/bankid-sim/rp/v6.0"
ANNA = {"personal_number": "199001011239", "given_name": "Anna", "surname": "Andersson"}
BJORN = {"personal_number": "198506152464", "given_name": "Björn", "surname": "Berg"}


class FakeClock:
    """The simulator's clock, moved by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    # The service negotiates the language; these tests read the English texts.
    test_client = app.test_client()
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return test_client


@pytest.fixture
def clock(app: Flask) -> Iterator[FakeClock]:
    fake = FakeClock()
    app.config["BANKID_SIM_CLOCK"] = fake
    yield fake
    app.config.pop("BANKID_SIM_CLOCK", None)


@pytest.fixture
def fault(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make the simulator's RP API answer every call with this errorCode (for this test only)."""

    def inject(error_code: str) -> None:
        monkeypatch.setitem(app.config, "BANKID_SIM_FAULT", error_code)

    return inject


@pytest.fixture
def bankid(app: Flask) -> Iterator[BankIdClient]:
    """Our RP client talking to the simulator in-process, as the service does in simulator mode."""
    http = in_process_http(app)
    yield BankIdClient(http=http)
    http.close()


def verified_signed_data(signature_b64: str, cert_pem: str) -> Any:
    """The ``bankIdSignedData`` element of a completion signature, after signxml has verified it."""
    result = XMLVerifier().verify(base64.b64decode(signature_b64), x509_cert=cert_pem)
    assert isinstance(result, VerifyResult) and result.signed_xml is not None
    return result.signed_xml


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sign_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"endUserIp": "192.0.2.10", "userVisibleData": b64("Jag samtycker.")}
    body.update(overrides)
    return body


def rp_post(client: FlaskClient, path: str, body: Any) -> Any:
    return client.post(f"{RP}/{path}", json=body)


def app_post(client: FlaskClient, path: str, body: dict[str, Any]) -> Any:
    return client.post(f"/bankid-sim/app/{path}", json=body)


def collect(client: FlaskClient, order_ref: str) -> Any:
    return rp_post(client, "collect", {"orderRef": order_ref})


__all__ = ["ANNA", "BJORN", "RP", "FakeClock", "httpx"]
