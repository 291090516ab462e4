"""Arranging consent data for the consent tests (templates, requests, consents,
usage rights, addenda, signatures): rows written directly, signatures recorded
through ``consent.signatures.record_signature`` as the signing pages would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.db import transaction, utcnow
from consent import personal_numbers, signatures, signed_text
from consent.links import register_known
from consent.models import AssetLink, Person, PersonGuardian, Purpose, Signer
from signing.bankid.personnummer import with_check_digit

ADULT_PN = with_check_digit("19800101123")
GUARDIAN_PN = with_check_digit("19750505456")
GUARDIAN2_PN = with_check_digit("19760606789")
OTHER_PN = with_check_digit("19900202321")


def tx(app: Flask) -> Any:
    return transaction(app.extensions["samtycke.sessionmaker"])


def keyring(app: Flask) -> Any:
    return app.extensions["samtycke.keyring"]


def add_purposes(app: Flask, tenant_id: str, *keys: str) -> None:
    with tx(app) as s:
        for key in keys:
            label = {locale: f"{key} {locale}" for locale in ("sv", "nb", "en")}
            s.add(Purpose(tenant_id=tenant_id, key=key, label=label))


def add_person(
    app: Flask,
    tenant_id: str,
    name: str = "Anna Andersson",
    *,
    birth_date: date | None = None,
    pn: str | None = None,
    guardian_ids: tuple[str, ...] = (),
    erased: bool = False,
) -> str:
    keys = keyring(app)
    with tx(app) as s:
        person = Person(tenant_id=tenant_id, name=None if erased else name, birth_date=birth_date)
        if pn and not erased:
            person.pn_encrypted = keys.encrypt(pn, context=tenant_id)
            person.pn_index = keys.blind_index(tenant_id, pn)
            person.pn_masked = personal_numbers.mask(pn)
        if erased:
            person.erased_at = utcnow()
        s.add(person)
        s.flush()
        for position, guardian_id in enumerate(guardian_ids):
            s.add(PersonGuardian(tenant_id=tenant_id, person_id=person.id, guardian_id=guardian_id, position=position))
        return person.id


def erase(app: Flask, person_id: str) -> None:
    with tx(app) as s:
        person = s.get(Person, person_id)
        person.name = None
        person.erased_at = utcnow()


def link(app: Flask, tenant_id: str, asset_id: str, *person_ids: str) -> None:
    """Link as the service does: linking registers the asset."""
    with tx(app) as s:
        register_known(s, tenant_id, [asset_id])
        for person_id in person_ids:
            s.add(AssetLink(tenant_id=tenant_id, asset_id=asset_id, person_id=person_id))


def years_ago(years: int, days: int = 0) -> date:
    today = datetime.now(UTC).date()
    try:
        return today.replace(year=today.year - years) - timedelta(days=days)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28) - timedelta(days=days)


def template_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": "photo",
        "title": {"sv": "Samtycke till bilder", "en": "Consent to photos"},
        "body": {"sv": "Vi vill använda **bilder** på dig.", "en": "We would like to use **photos** of you."},
        "purposes": ["web", "print"],
        "validity_days": 365,
    }
    body.update(overrides)
    return body


def make_template(api: Any, **overrides: Any) -> dict[str, Any]:
    resp = api.post("/api/v1/consent-templates", json=template_body(**overrides))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.get_json())


def request_consent(api: Any, person_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"person_id": person_id, "template": "photo", **overrides}
    resp = api.post("/api/v1/consent-requests", json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.get_json())


def identity(pn: str | None = ADULT_PN, name: str = "Anna Andersson") -> signatures.VerifiedIdentity:
    return signatures.VerifiedIdentity(
        method="bankid", personal_number=pn, name=name, evidence={"signature": "PFhNTD4=", "ocspResponse": "MIIB"}
    )


def sign(
    app: Flask,
    signer_id: str,
    *,
    pn: str | None = ADULT_PN,
    purposes: list[str] | None = None,
    at: datetime | None = None,
) -> str:
    # No app context: the records domain then leaves PDF production for later (faster tests).
    with tx(app) as s:
        signer = s.get(Signer, signer_id)
        view = signatures.signing_view(s, signer, locale="sv", now=utcnow(), keyring=keyring(app))
        chosen = purposes if purposes is not None else [p.key for p in view.purposes]
        sig = signatures.record_signature(
            s, keyring(app), signer_id=signer_id, identity=identity(pn), purposes=chosen,
            visible_text=signed_text.visible_text(view, chosen), at=at or utcnow(),
        )
        return sig.id


def give(
    app: Flask, api: Any, person_id: str, *, pn: str | None = ADULT_PN, at: datetime | None = None,
    purposes: list[str] | None = None, **request: Any,
) -> str:
    """Request and sign an adult's consent; returns the consent id."""
    req = request_consent(api, person_id, **request)
    sign(app, req["signers"][0]["id"], pn=pn, at=at, purposes=purposes)
    return str(req["consent_id"])


def count(app: Flask, model: Any) -> int:
    with tx(app) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def audit_types(app: Flask, tenant_id: str) -> list[str]:
    from app.audit import AuditEvent

    with tx(app) as s:
        return list(
            s.scalars(sa.select(AuditEvent.type).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq))
        )
