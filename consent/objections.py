"""Objections (GDPR Art. 21): a person's "no" to a purpose the asset's owner processes under a
legal basis other than consent. An objection stands from when it is recorded until staff
withdraw it; the usage-rights query reads it only for assets whose legal basis covers the purpose.
Objections are exported with the person and erased with them (``consent.gdpr``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.db import utcnow
from app.errors import Conflict, NotFound, Unprocessable
from consent.ids import is_plain_id
from consent.models import Objection
from consent.persons import get_person
from consent.purposes import purpose_by_key


def record(session: Session, tenant_id: str, person_id: str, purpose: str, actor: str) -> tuple[Objection, bool]:
    """Record the person's objection to ``purpose``; returns (objection, created). An objection that
    already stands for that purpose is returned as it is."""
    audit.lock_tenant(session, tenant_id)
    person = get_person(session, tenant_id, person_id)
    if purpose_by_key(session, tenant_id, purpose) is None:
        raise Unprocessable(f"Unknown purpose '{purpose}'.", errors={"purpose": ["Unknown purpose."]})
    standing = session.scalar(
        sa.select(Objection).where(
            Objection.tenant_id == tenant_id, Objection.person_id == person.id, Objection.purpose == purpose,
            Objection.withdrawn_at.is_(None),
        )
    )
    if standing is not None:
        return standing, False
    objection = Objection(tenant_id=tenant_id, person_id=person.id, purpose=purpose, created_by=actor,
                          created_at=utcnow())
    session.add(objection)
    session.flush()
    audit.append(
        session, tenant_id, "objection.recorded", actor,
        {"objection_id": objection.id, "person_id": person.id, "purpose": purpose},
    )
    return objection, True


def of_person(session: Session, tenant_id: str, person_id: str) -> list[Objection]:
    """The person's objections, standing and withdrawn, oldest first."""
    return list(
        session.scalars(
            sa.select(Objection)
            .where(Objection.tenant_id == tenant_id, Objection.person_id == person_id)
            .order_by(Objection.created_at, Objection.id)
        )
    )


def get_objection(session: Session, tenant_id: str, objection_id: str) -> Objection:
    objection = (
        session.scalar(sa.select(Objection).where(Objection.tenant_id == tenant_id, Objection.id == objection_id))
        if is_plain_id(objection_id) else None
    )
    if objection is None:
        raise NotFound("No objection with that id.")
    return objection


class ObjectionWithdrawn(Conflict):
    status, slug, title = 409, "objection-withdrawn", "The objection was already withdrawn"


def withdraw(session: Session, tenant_id: str, objection_id: str, actor: str) -> Objection:
    """Staff withdraw an objection (the person took it back): from now on the legal basis applies again."""
    audit.lock_tenant(session, tenant_id)
    objection = get_objection(session, tenant_id, objection_id)
    if objection.withdrawn_at is not None:
        raise ObjectionWithdrawn("This objection was already withdrawn.")
    objection.withdrawn_at = utcnow()
    objection.withdrawn_by = actor
    session.flush()
    audit.append(
        session, tenant_id, "objection.withdrawn", actor,
        {"objection_id": objection.id, "person_id": objection.person_id, "purpose": objection.purpose},
    )
    return objection
