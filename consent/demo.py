"""``samtycke demo``: an idempotent demo tenant for trying the service out.

Running it twice changes nothing and prints the same text. The staff password and
the API client's secret are generated once and kept in
``{instance}/demo-credentials.json`` (the database holds only their hashes), so a
re-run can print them again. Refused in production mode.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask
from sqlalchemy.orm import Session

from app import audit
from app.auth import SCOPES, create_tenant
from app.crypto import keyring_of, sha256_hex
from app.errors import Forbidden
from app.models import ApiClient, StaffUser, Tenant
from app.staff.accounts import create_user

SLUG = "demo"
TENANT_NAME = "Demo Kommun"
STAFF_EMAIL = "demo@samtycke.test"
CREDENTIALS_FILE = "demo-credentials.json"
ACTOR = "cli:demo"

PURPOSES: dict[str, dict[str, str]] = {
    "web": {"sv": "Webbplats", "nb": "Nettsted", "en": "Website"},
    "print": {"sv": "Tryckt material", "nb": "Trykt materiell", "en": "Printed material"},
    "social": {"sv": "Sociala medier", "nb": "Sosiale medier", "en": "Social media"},
}

TEMPLATE_KEY = "photo-consent"
TEMPLATE_TITLE = {
    "sv": "Samtycke till bilder",
    "nb": "Samtykke til bilder",
    "en": "Consent to photographs",
}
TEMPLATE_BODY = {
    "sv": (
        "Demo Kommun vill använda bilder där du (eller ditt barn) syns i kommunens kommunikation.\n\n"
        "Du väljer själv för vilka ändamål bilderna får användas. Samtycket gäller i ett år och "
        "du kan när som helst återkalla det lika enkelt som du gav det."
    ),
    "nb": (
        "Demo Kommun ønsker å bruke bilder der du (eller barnet ditt) vises i kommunens kommunikasjon.\n\n"
        "Du velger selv hvilke formål bildene kan brukes til. Samtykket gjelder i ett år, og "
        "du kan når som helst trekke det tilbake like enkelt som du ga det."
    ),
    "en": (
        "Demo Kommun would like to use photographs showing you (or your child) in its communication.\n\n"
        "You choose the purposes the photographs may be used for. The consent lasts one year and "
        "you can withdraw it at any time, as easily as you gave it."
    ),
}


@dataclass(frozen=True)
class DemoPerson:
    key: str
    name: str
    personal_number: str  # fictitious: serial numbers 980-999 are never given to real people
    email: str | None = None
    guardians: tuple[str, ...] = ()


PERSONS = (
    DemoPerson("anna", "Anna Andersson", "198507099805", email="anna.andersson@example.se"),
    DemoPerson("maria", "Maria Lind", "198112189876", email="maria.lind@example.se"),
    DemoPerson("johan", "Johan Lind", "197903159882", email="johan.lind@example.se"),
    DemoPerson("elsa", "Elsa Lind", "201503129981", guardians=("maria", "johan")),
)

LINKS = (
    ("IMG_0001", "anna"),
    ("IMG_0002", "elsa"),
    ("IMG_0003", "elsa"),
    ("IMG_0003", "maria"),
    ("IMG_0004", "anna"),
    ("IMG_0004", "johan"),
    ("IMG_0005", "maria"),
    ("IMG_0005", "johan"),
    ("IMG_0005", "elsa"),
)


def _credentials(instance: Path) -> dict[str, str]:
    """The demo's secrets, created on the first run and reused afterwards."""
    path = instance / CREDENTIALS_FILE
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        if {"password", "client_id", "client_secret"} <= set(data):
            return data
    data = {
        "password": secrets.token_urlsafe(12),
        "client_id": f"smt_demo_{secrets.token_hex(8)}",
        "client_secret": secrets.token_urlsafe(32),
    }
    instance.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return data


def _tenant(session: Session) -> Tenant:
    tenant = session.scalar(sa.select(Tenant).where(Tenant.slug == SLUG))
    return tenant or create_tenant(session, SLUG, TENANT_NAME, actor=ACTOR)


def _purposes_and_template(session: Session, tenant_id: str) -> None:
    from consent import purposes, templates
    from consent.models import ConsentTemplate

    for key, label in PURPOSES.items():
        if purposes.purpose_by_key(session, tenant_id, key) is None:
            purposes.create_purpose(session, tenant_id, ACTOR, key=key, label=label)
    exists = session.scalar(
        sa.select(ConsentTemplate.id).where(
            ConsentTemplate.tenant_id == tenant_id, ConsentTemplate.key == TEMPLATE_KEY
        )
    )
    if exists is None:
        templates.create_version(
            session,
            tenant_id,
            ACTOR,
            templates.TemplateInput(
                key=TEMPLATE_KEY, title=TEMPLATE_TITLE, body=TEMPLATE_BODY, purposes=list(PURPOSES),
                validity_days=365,
            ),
        )


def _persons_and_links(session: Session, keyring: Any, tenant_id: str) -> None:
    from consent import links, persons
    from consent.models import Person

    ids: dict[str, str] = {}
    for demo in PERSONS:
        found = session.scalar(
            sa.select(Person.id).where(
                Person.tenant_id == tenant_id,
                Person.pn_index == keyring.blind_index(tenant_id, demo.personal_number),
            )
        )
        if found is None:
            found = persons.create_person(
                session, keyring, tenant_id, ACTOR, name=demo.name, personal_number=demo.personal_number,
                email=demo.email, guardian_ids=[ids[g] for g in demo.guardians],
            ).id
        ids[demo.key] = found
    links.bulk_link(session, tenant_id, [(asset, ids[who]) for asset, who in LINKS], ACTOR)


def _staff(session: Session, tenant: Tenant, password: str) -> None:
    user = session.scalar(
        sa.select(StaffUser).where(StaffUser.tenant_id == tenant.id, StaffUser.email == STAFF_EMAIL)
    )
    if user is None:
        create_user(session, tenant, STAFF_EMAIL, "dpo", password, actor=ACTOR)
        return
    hasher = PasswordHasher()
    try:
        hasher.verify(user.password_hash or "", password)
    except (VerificationError, InvalidHashError):
        # The credentials file was replaced: make the printed password the working one.
        audit.lock_tenant(session, tenant.id)
        user.password_hash = hasher.hash(password)
        session.flush()
        audit.append(session, tenant.id, "staff.password_set", ACTOR, {"user_id": user.id})


def _client(session: Session, tenant: Tenant, client_id: str, secret: str) -> None:
    row = session.scalar(sa.select(ApiClient).where(ApiClient.client_id == client_id))
    if row is not None:
        return
    row = ApiClient(
        tenant_id=tenant.id, client_id=client_id, secret_hash=sha256_hex(secret), name="demo", scopes=" ".join(SCOPES)
    )
    session.add(row)
    session.flush()
    audit.append(session, tenant.id, "client.created", ACTOR, {"client_id": row.id})


def seed_demo(session: Session, app: Flask) -> str:
    """Seed the demo tenant (idempotently) and return how to log in and call the API."""
    if app.config.get("ENV") == "production":
        raise Forbidden("The demo seed is for development only; it is refused in production mode.")
    creds = _credentials(Path(app.instance_path))
    tenant = _tenant(session)
    _purposes_and_template(session, tenant.id)
    _persons_and_links(session, keyring_of(app), tenant.id)
    _staff(session, tenant, creds["password"])
    _client(session, tenant, creds["client_id"], creds["client_secret"])
    return _instructions(app, creds)


def _instructions(app: Flask, creds: dict[str, str]) -> str:
    base = app.config["BASE_URL"].rstrip("/")
    basic = f"{creds['client_id']}:{creds['client_secret']}"
    people = "\n".join(
        f"  {p.name:<15} {p.personal_number[:8]}-{p.personal_number[8:]}"
        + (f"  (minor; guardians: {', '.join(g.title() for g in p.guardians)})" if p.guardians else "")
        for p in PERSONS
    )
    return f"""Demo tenant '{SLUG}' ({TENANT_NAME}) is ready.

Staff console: open {base}/ and sign in with
  e-mail:   {STAFF_EMAIL}
  password: {creds['password']}

API client (all scopes):
  client_id:     {creds['client_id']}
  client_secret: {creds['client_secret']}

Get an access token (OAuth2 client credentials, HTTP Basic):
  curl -s -u '{basic}' -d grant_type=client_credentials {base}/oauth/token

Call the API with it:
  TOKEN=$(curl -s -u '{basic}' -d grant_type=client_credentials {base}/oauth/token \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/persons
  curl -s -H "Authorization: Bearer $TOKEN" "{base}/api/v1/assets/IMG_0005/usage-rights?purpose=web"

Demo persons (fictitious test personal numbers, for the BankID simulator):
{people}
Purposes: {', '.join(PURPOSES)}; consent template: {TEMPLATE_KEY}; assets IMG_0001 to IMG_0005.

The password and secret are kept in {Path(app.instance_path) / CREDENTIALS_FILE} (development only).
"""
