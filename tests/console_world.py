"""The console's test world, shared by the staff tests (tests/app/staff) and the DPO's pages
(tests/consent/console): two tenants' data built through the JSON API and the consent services
(never raw rows), staff accounts, signed-in clients, and the helpers the tests use on pages.

A test folder makes the fixtures visible in its ``conftest.py``::

    from tests.console_world import as_role, make_staff, seed  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
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


# --------------------------------------------------------------------------- fixtures


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def _catalogue(api: Any) -> None:
    for key, label in LABELS.items():
        _ok(api.post("/api/v1/purposes", json={"key": key, "label": label}))
    _ok(api.post("/api/v1/consent-templates", json={
        "key": "photo",
        "title": {"sv": "Samtycke till bilder", "nb": "Samtykke til bilder", "en": "Consent to photos"},
        "body": {"sv": "Vi vill använda bilder där du syns.", "nb": "Vi vil bruke bilder der du er med.",
                 "en": "We would like to use photos that show you."},
        "purposes": ["web", "print"],
        "validity_days": 365,
    }))


def sign(app: Flask, signer_id: str, pn: str, name: str, purposes: list[str]) -> None:
    """A verified BankID signature, recorded through the consent service the signing pages use."""
    from app.db import transaction, utcnow
    from consent.signatures import VerifiedIdentity, record_signature

    identity = VerifiedIdentity(
        method="bankid", personal_number=pn, name=name,
        evidence={"orderRef": "131daac9-16c6-4618-beb0-365768f37288", "bankIdIssueDate": "2023-05-01",
                  "signature": "<Signature>…</Signature>", "ocspResponse": "MIIHfgoBAKCCB3cw"},
    )
    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        record_signature(session, app.extensions["samtycke.keyring"], signer_id=signer_id, identity=identity,
                         purposes=purposes, visible_text="Consent to photos", at=utcnow())


@pytest.fixture
def seed(app: Flask, api: Any, other_api: Any) -> Seed:
    _catalogue(api)
    anna = _ok(api.post("/api/v1/persons", json={
        "name": "Anna Andersson", "personal_number": ANNA_PN, "external_ref": "emp-17",
        "email": "anna@example.se"}))["id"]
    carl = _ok(api.post("/api/v1/persons", json={"name": "Carl Berg", "personal_number": CARL_PN}))["id"]
    dana = _ok(api.post("/api/v1/persons", json={"name": "Dana Berg", "personal_number": DANA_PN}))["id"]
    bo = _ok(api.post("/api/v1/persons", json={
        "name": "Bo Berg", "personal_number": BO_PN, "guardian_ids": [carl, dana]}))["id"]
    for asset, person in (("img-anna", anna), ("img-bo", bo), ("img-both", anna), ("img-both", bo)):
        assert api.put(f"/api/v1/assets/{asset}/persons/{person}", json={}).status_code in (200, 201)
    given = _ok(api.post("/api/v1/consent-requests", json={"person_id": anna, "template": "photo"}))
    sign(app, given["signers"][0]["id"], ANNA_PN, "Anna Andersson", ["web", "print"])
    pending = _ok(api.post("/api/v1/consent-requests", json={"person_id": bo, "template": "photo",
                                                             "purposes": ["web"]}))

    _catalogue(other_api)
    other_person = _ok(other_api.post("/api/v1/persons", json={"name": "Otto Other"}))["id"]
    other_request = _ok(other_api.post("/api/v1/consent-requests",
                                       json={"person_id": other_person, "template": "photo"}))
    other_addendum = _ok(other_api.post("/api/v1/addenda", json={
        "kind": "transcription-transfer", "signer": {"name": "Olga Other"}}))
    return Seed(
        tenant_id=api.tenant_id, anna=anna, bo=bo, carl=carl, dana=dana,
        given_consent=given["consent_id"], pending_consent=pending["consent_id"], pending_request=pending["id"],
        other_tenant_id=other_api.tenant_id, other_person=other_person,
        other_consent=other_request["consent_id"], other_request=other_request["id"],
        other_addendum=other_addendum["id"],
    )


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., str]:
    """``make_staff("dpo")`` creates a staff account once (tenant created when missing); returns its e-mail."""
    from app.auth import create_tenant
    from app.db import transaction
    from app.models import StaffUser, Tenant
    from app.staff.accounts import create_user

    def factory(role: str, slug: str = "acme", email: str | None = None, password: str = PASSWORD) -> str:
        email = email or f"{role}@{slug}.example"
        with transaction(app.extensions["samtycke.sessionmaker"]) as s:
            tenant = s.scalar(sa.select(Tenant).where(Tenant.slug == slug)) or create_tenant(s, slug, slug.title())
            exists = s.scalar(sa.select(StaffUser.id).where(StaffUser.tenant_id == tenant.id,
                                                            StaffUser.email == email))
            if not exists:
                create_user(s, tenant, email, role, password)
        return email

    return factory


@pytest.fixture
def as_role(app: Flask, make_staff: Callable[..., str]) -> Callable[[str], FlaskClient]:
    """A fresh client signed in with the given role in tenant acme."""

    def factory(role: str) -> FlaskClient:
        client = english(app.test_client())
        response = sign_in(client, make_staff(role))
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return factory
