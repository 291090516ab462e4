"""Fixtures for the subject-page tests (helpers live in ``signing_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from signing_helpers import LABELS, Clock, Phone, World

from signing import oidc
from tests.browser import browser, live_url  # noqa: F401  (fixtures for the browser tests)


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One clock for the pages and the simulator, moved by hand."""
    c = Clock()
    monkeypatch.setitem(app.config, "SIGNING_CLOCK", c)
    monkeypatch.setitem(app.config, "BANKID_SIM_CLOCK", c)
    return c


@pytest.fixture
def world(app: Flask, api: Any, client: FlaskClient) -> World:
    for key, label in LABELS.items():
        resp = api.post("/api/v1/purposes", json={"key": key, "label": label})
        assert resp.status_code == 201, resp.get_data(as_text=True)
    w = World(app, api, client)
    w.template()
    return w


@pytest.fixture
def phone(client: FlaskClient) -> Phone:
    return Phone(client)


@pytest.fixture(autouse=True)
def _fresh_oidc_cache() -> Iterator[None]:
    oidc.clear_cache()
    yield
    oidc.clear_cache()
