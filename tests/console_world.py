"""Helpers for console tests (imported by the test modules; fixtures live in conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

PASSWORD = "correct horse battery staple"
ANNA_PN = "198001011231"
CARL_PN = "197505051230"
DANA_PN = "197806061235"
BO_PN = "201503141234"
LABELS = {
    "web": {"sv": "Webbplats", "nb": "Nettsted", "en": "Website"},
    "print": {"sv": "Tryck", "nb": "Trykk", "en": "Print"},
}
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@dataclass
class Seed:
    tenant_id: str
    anna: str  # adult with a given consent (web + print) covering img-anna
    bo: str  # minor with guardians carl and dana, a pending request
    carl: str
    dana: str
    given_consent: str
    pending_consent: str
    pending_request: str
    other_tenant_id: str
    other_person: str
    other_consent: str
    other_request: str
    other_addendum: str


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1) or found.group(2)


def english(client: FlaskClient) -> FlaskClient:
    """Pages in English (the msgids), so assertions on text do not depend on the catalogues."""
    client.set_cookie("lang", "en")
    return client


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/console/login")
    return client.post("/console/login", data={
        "email": email, "password": password, "csrf_token": csrf_of(page.get_data(as_text=True))})


def token_for(client: FlaskClient, path: str = "/") -> str:
    return csrf_of(client.get(path).get_data(as_text=True))


def audit_seq(app: Flask, tenant_id: str) -> int:
    from app.models import Tenant

    with app.extensions["samtycke.sessionmaker"]() as session:
        return int(session.scalar(sa.select(Tenant.audit_seq).where(Tenant.id == tenant_id)) or 0)
