"""Read models for the consent domain's console pages that no consent service offers (read-only,
tenant-scoped).

Everything that changes data goes through the consent services; these functions only
select. A consent's shown state is :func:`consent.consents.status_at`, and its lists are
:func:`consent.consents.list_query`, the API's list too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit_queries import StoredEvent, ref_text, stored_events
from app.crypto import Keyring
from app.errors import Unprocessable
from consent import consents, gdpr, personal_numbers, persons
from consent.console.records import records_for
from consent.models import AssetLink, Consent, ConsentRequest, Person, PersonGuardian, Signature, Signer


@dataclass(frozen=True)
class ConsentLine:
    """One consent in a list: the consent, its shown state and whom it is about."""

    consent: Consent
    status: str
    person_name: str | None
    person_erased: bool


def with_persons(session: Session, query: sa.Select[Any], now: datetime) -> list[ConsentLine]:
    """The consents ``query`` selects, each with its shown state and its person's name."""
    rows = session.execute(
        query.add_columns(Person.name, Person.erased_at).join(
            Person, sa.and_(Person.id == Consent.person_id, Person.tenant_id == Consent.tenant_id)
        )
    )
    return [ConsentLine(c, consents.status_at(c, now), name, erased is not None) for c, name, erased in rows]


def consent_lines(
    session: Session, tenant_id: str, flt: consents.ConsentFilter, now: datetime, *, offset: int = 0, limit: int = 50
) -> tuple[list[ConsentLine], bool]:
    """A page of :func:`consent.consents.list_query`, ``limit`` from ``offset``, and whether there is a next page."""
    query = consents.list_query(tenant_id, flt, now=now)
    lines = with_persons(session, query.offset(offset).limit(limit + 1), now)
    more = len(lines) > limit
    return [line for line in lines[:limit] if consents.matches(line.consent, flt)], more


def search_persons(
    session: Session, ring: Keyring, tenant_id: str, text: str, limit: int = 50, *,
    country: str | None = None, test_numbers: bool = False,
) -> list[Person]:
    """Persons whose name contains ``text``, whose external reference is ``text``, or whose
    personal number is ``text`` (when it is one of ``country``, or of any country when none is
    given), each at most once; with a country, only persons of that country."""
    found: dict[str, Person] = {}
    attempts: list[dict[str, Any]] = [
        {"personal_number": text, "country": number_country}
        for number_country in ([country] if country else personal_numbers.COUNTRIES)
    ]
    attempts += [{"external_ref": text, "country": country}, {"q": text, "country": country}]
    for criteria in attempts:
        try:
            page = persons.list_persons(
                session, ring, tenant_id, limit=limit, test_numbers=test_numbers, **criteria
            )
        except Unprocessable:  # not a personal number: that criterion simply finds nobody
            continue
        for person in page.items:
            found.setdefault(person.id, person)
    return list(found.values())[:limit]


def template_keys(session: Session, tenant_id: str) -> list[str]:
    return list(
        session.scalars(
            sa.select(Consent.template_key).where(Consent.tenant_id == tenant_id).distinct()
            .order_by(Consent.template_key)
        )
    )


def asset_ids_of(session: Session, tenant_id: str, person_id: str) -> list[tuple[str, datetime]]:
    return [
        (asset_id, created)
        for asset_id, created in session.execute(
            sa.select(AssetLink.asset_id, AssetLink.created_at)
            .where(AssetLink.tenant_id == tenant_id, AssetLink.person_id == person_id)
            .order_by(AssetLink.created_at, AssetLink.asset_id)
        )
    ]


def wards_of(session: Session, tenant_id: str, guardian_id: str) -> list[Person]:
    """Persons for whom this person is a guardian."""
    return list(
        session.scalars(
            sa.select(Person)
            .join(PersonGuardian, PersonGuardian.person_id == Person.id)
            .where(PersonGuardian.tenant_id == tenant_id, PersonGuardian.guardian_id == guardian_id,
                   Person.erased_at.is_(None))
            .order_by(Person.name_folded, Person.id)
        )
    )


def person_in_tenant(session: Session, tenant_id: str, person_id: str) -> Person | None:
    """A person of this tenant, erased or not (the console names erased persons too), else None."""
    person = session.get(Person, person_id)
    return person if person is not None and person.tenant_id == tenant_id else None


def names_of(session: Session, tenant_id: str, person_ids: Sequence[str | None]) -> dict[str, str | None]:
    ids = sorted({pid for pid in person_ids if pid})
    if not ids:
        return {}
    return {
        pid: name
        for pid, name in session.execute(
            sa.select(Person.id, Person.name).where(Person.tenant_id == tenant_id, Person.id.in_(ids))
        )
    }


def trail(
    session: Session,
    tenant_id: str,
    *,
    person_id: str | None = None,
    consent_ids: Sequence[str] = (),
    addendum_id: str | None = None,
    limit: int = 200,
) -> list[StoredEvent]:
    """Audit events that name a person, some consents or an addendum, oldest first."""
    conditions: list[sa.ColumnElement[bool]] = []
    if person_id:
        conditions.append(ref_text(session, "person_id") == person_id)
    if consent_ids:
        conditions.append(ref_text(session, "consent_id").in_(list(consent_ids)))
    if addendum_id:
        conditions.append(ref_text(session, "addendum_id") == addendum_id)
    if not conditions:
        return []
    return stored_events(session, tenant_id, where=[sa.or_(*conditions)], limit=limit)


def signers_of_consent(session: Session, tenant_id: str, consent_id: str) -> list[Signer]:
    return list(
        session.scalars(
            sa.select(Signer).where(Signer.tenant_id == tenant_id, Signer.consent_id == consent_id)
            .order_by(Signer.position)
        )
    )


def request_of_consent(session: Session, tenant_id: str, consent_id: str) -> ConsentRequest | None:
    return session.scalar(
        sa.select(ConsentRequest).where(ConsentRequest.tenant_id == tenant_id, ConsentRequest.consent_id == consent_id)
    )


@dataclass(frozen=True)
class ErasurePreview:
    """What an erasure would touch, counted (the confirmation page lists it)."""

    consents: int
    signatures: int
    open_links: int
    guardian_relations: int
    asset_links: int
    records: int
    consents_ended: int  # consents the person signed for someone else, revoked by the erasure
    records_remade: int  # records of those consents, made again without the person


def erasure_preview(session: Session, tenant_id: str, person_id: str, now: datetime) -> ErasurePreview:
    person = session.scalar(sa.select(Person).where(Person.tenant_id == tenant_id, Person.id == person_id))
    assert person is not None
    scope = gdpr.scope_of(session, None, person)
    consent_ids = sa.select(Consent.id).where(Consent.tenant_id == tenant_id, Consent.person_id == person_id)
    own_signers = sa.select(Signer.id).where(Signer.tenant_id == tenant_id, Signer.person_id == person_id)

    def count(query: sa.Select[Any]) -> int:
        return int(session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)

    return ErasurePreview(
        consents=len(scope.consent_ids),
        signatures=count(sa.select(Signature.id).where(
            Signature.tenant_id == tenant_id,
            sa.or_(Signature.consent_id.in_(consent_ids), Signature.signer_id.in_(own_signers)))),
        open_links=count(sa.select(Signer.id).where(
            Signer.tenant_id == tenant_id, Signer.status == "pending", Signer.expires_at > now,
            sa.or_(Signer.person_id == person_id, Signer.consent_id.in_(consent_ids)))),
        guardian_relations=count(sa.select(PersonGuardian.person_id).where(
            PersonGuardian.tenant_id == tenant_id,
            sa.or_(PersonGuardian.person_id == person_id, PersonGuardian.guardian_id == person_id))),
        asset_links=count(sa.select(AssetLink.asset_id).where(
            AssetLink.tenant_id == tenant_id, AssetLink.person_id == person_id)),
        records=len(records_for(session, tenant_id, consent_ids=scope.consent_ids)),
        consents_ended=len(gdpr.consents_to_end(session, scope, now)),
        records_remade=len(records_for(session, tenant_id, consent_ids=scope.signed_for)),
    )
