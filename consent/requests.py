"""Consent requests: a pending consent plus one signing link per required signer.

An adult signs for themselves; a minor (younger than the template's
``minor_age`` today) needs their guardians, all of them or one, as the template
says. Each link's token is derived from the signer id and stored only hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.crypto import Keyring, sha256_hex
from app.db import new_id
from app.errors import NotFound, Unprocessable
from consent import persons, templates
from consent.models import Consent, ConsentRequest, Signer
from consent.queries import get_scoped

MAX_ASSET_IDS = 10_000


@dataclass(frozen=True)
class RequestInput:
    person_id: str
    template_key: str
    purposes: list[str] | None = None
    asset_ids: list[str] | None = None
    valid_until: datetime | None = None
    locale: str | None = None


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(message, errors={field: [message]})


def create(
    session: Session,
    keyring: Keyring,
    tenant_id: str,
    actor: str,
    data: RequestInput,
    *,
    now: datetime,
    link_days: int,
) -> ConsentRequest:
    audit.lock_tenant(session, tenant_id)  # before reading the person: an erasure waits, or went first
    person = persons.get_person(session, tenant_id, data.person_id)  # 404 for an erased person too
    try:
        template = templates.get_version(session, tenant_id, data.template_key)
    except NotFound as exc:
        raise _invalid("template", f"No template '{data.template_key}'.") from exc

    purposes = list(template.purposes)
    if data.purposes is not None:
        chosen = list(dict.fromkeys(data.purposes))
        outside = [p for p in chosen if p not in template.purposes]
        if not chosen or outside:
            raise _invalid(
                "purposes",
                f"Purposes must be a non-empty subset of the template's: {', '.join(template.purposes)}.",
            )
        purposes = chosen
    locale = data.locale or templates.default_locale(template)
    if locale not in template.title:
        raise _invalid("locale", f"Template '{template.key}' has no text in '{locale}'.")
    asset_ids = None
    if data.asset_ids is not None:
        asset_ids = list(dict.fromkeys(data.asset_ids))
        if not asset_ids or len(asset_ids) > MAX_ASSET_IDS:
            raise _invalid("asset_ids", f"Give 1 to {MAX_ASSET_IDS} asset ids, or leave it out for all assets.")
    if data.valid_until is not None and data.valid_until <= now:
        raise _invalid("valid_until", "valid_until must be in the future.")

    guardians_required: str | None = None
    signer_people: list[tuple[str, str]] = [("subject", person.id)]
    # A person with no birth date on file counts as an adult (is_minor answers None).
    if persons.is_minor(person.birth_date, now.date(), template.minor_age):
        guardians = [g for g in person.guardians if g.erased_at is None]
        if not guardians:
            raise _invalid("person_id", "The person is a minor: guardians required.")
        guardians_required = template.guardians_required
        signer_people = [("guardian", g.id) for g in guardians]

    consent = Consent(
        tenant_id=tenant_id,
        person_id=person.id,
        template_id=template.id,
        template_key=template.key,
        template_version=template.version,
        locale=locale,
        requested_locale=data.locale,
        text_sha256=template.text_sha256[locale],
        requested_purposes=purposes,
        purposes=purposes,
        asset_ids=asset_ids,
        guardians_required=guardians_required,
        validity_days=template.validity_days,
        requested_valid_until=data.valid_until,
        status="pending",
        created_at=now,
    )
    session.add(consent)
    session.flush()
    expires_at = now + timedelta(days=link_days)
    request = ConsentRequest(
        tenant_id=tenant_id, person_id=person.id, consent_id=consent.id, created_by=actor,
        created_at=now, expires_at=expires_at,
    )
    session.add(request)
    signers = []
    for position, (role, signer_person_id) in enumerate(signer_people):
        signer_id = new_id()
        signers.append(
            Signer(
                id=signer_id, tenant_id=tenant_id, consent_id=consent.id, role=role, person_id=signer_person_id,
                position=position, token_hash=sha256_hex(keyring.link_token(signer_id)), expires_at=expires_at,
                status="pending", created_at=now,
            )
        )
    session.add_all(signers)
    session.flush()
    audit.append(
        session,
        tenant_id,
        "consent.requested",
        actor,
        {
            "consent_id": consent.id,
            "request_id": request.id,
            "person_id": person.id,
            "template_id": template.id,
            "signer_ids": [s.id for s in signers],
        },
    )
    return request


def get(session: Session, tenant_id: str, request_id: str) -> ConsentRequest:
    return get_scoped(session, ConsentRequest, tenant_id, request_id, "consent request")


def end_pending_links(session: Session, now: datetime, *, consent_id: str | None = None,
                      addendum_id: str | None = None) -> None:
    """An unsigned link dies with the consent or addendum it was for (revoked): it expires now."""
    target = Signer.consent_id == consent_id if consent_id is not None else Signer.addendum_id == addendum_id
    session.execute(
        sa.update(Signer)
        .where(target, Signer.status == "pending", Signer.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session="fetch")
    )


def signers_of(session: Session, consent_id: str) -> list[Signer]:
    return list(session.scalars(sa.select(Signer).where(Signer.consent_id == consent_id).order_by(Signer.position)))
