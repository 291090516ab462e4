"""Fixtures shared by the consent domain's tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.consent.arrange import add_purposes, make_template


@pytest.fixture
def acme(app: Any, api: Any) -> Any:
    """The API client's tenant with the purposes web, print and social and the photo template.
    (A module that needs less defines its own ``acme``.)"""
    add_purposes(app, api.tenant_id, "web", "print", "social")
    make_template(api)
    return api
