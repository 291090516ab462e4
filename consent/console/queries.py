"""Read models for console pages that no consent service offers (read-only, tenant-scoped).

Everything that changes data goes through the consent, signing and records services;
these functions only select. The consent state shown is :func:`consent.consents.status_at`
("expired" is computed from ``valid_until``); the SQL filters below express the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.audit import StoredEvent
from consent.consents import STATUSES
from consent.models import AssetLink, Consent, ConsentRequest, Person, PersonGuardian, Signer
from reports import services as records
from reports.models import Record

WINDOW_DAYS = 30


@dataclass(frozen=True)
class ConsentLine:
    """One consent in a list: the consent, its shown state and whom it is about."""

    consent: Consent
    status: str
    person_name: str | None
    person_erased: bool


@dataclass(frozen=True)
class PendingRequest:
    request: ConsentRequest
    consent: Consent
    person_name: str | None
    signed: int
    signers: int


@dataclass
class Dashboard:
    counts: dict[str, int]
    expiring: list[ConsentLine]
    ended: list[ConsentLine]
    pending: list[PendingRequest]
    failed_records: list[Any] = field(default_factory=list)


def _status_condition(status: str, now: datetime) -> sa.ColumnElement[bool]:
    if status == "expired":
        return sa.and_(Consent.status == "given", Consent.valid_until <= now)
    if status == "given":
        return sa.and_(Consent.status == "given", sa.or_(Consent.valid_until.is_(None), Consent.valid_until > now))
    return Consent.status == status


def _shown_status(consent: Consent, now: datetime) -> str:
    from consent.consents import status_at

    return status_at(consent, now)


def _lines(session: Session, query: sa.Select[Any], now: datetime) -> list[ConsentLine]:
    rows = session.execute(
        query.add_columns(Person.name, Person.erased_at).join(
            Person, sa.and_(Person.id == Consent.person_id, Person.tenant_id == Consent.tenant_id)
        )
    )
    return [ConsentLine(c, _shown_status(c, now), name, erased is not None) for c, name, erased in rows]


def state_counts(session: Session, tenant_id: str, now: datetime) -> dict[str, int]:
    expired = sa.and_(Consent.status == "given", Consent.valid_until <= now)
    shown = sa.case((expired, sa.literal("expired")), else_=Consent.status)
    counts = dict.fromkeys(STATUSES, 0)
    for state, count in session.execute(
        sa.select(shown, sa.func.count()).where(Consent.tenant_id == tenant_id).group_by(shown)
    ):
        counts[state] = counts.get(state, 0) + int(count)
    return counts


def dashboard(session: Session, tenant_id: str, now: datetime, limit: int = 50) -> Dashboard:
    window = timedelta(days=WINDOW_DAYS)
    expiring = _lines(
        session,
        sa.select(Consent)
        .where(Consent.tenant_id == tenant_id, Consent.status == "given",
               Consent.valid_until > now, Consent.valid_until <= now + window)
        .order_by(Consent.valid_until, Consent.id)
        .limit(limit),
        now,
    )
    ended_at = sa.func.coalesce(Consent.withdrawn_at, Consent.revoked_at)
    ended = _lines(
        session,
        sa.select(Consent)
        .where(Consent.tenant_id == tenant_id,
               sa.or_(sa.and_(Consent.status == "withdrawn", Consent.withdrawn_at >= now - window),
                      sa.and_(Consent.status == "revoked", Consent.revoked_at >= now - window)))
        .order_by(ended_at.desc(), Consent.id)
        .limit(limit),
        now,
    )
    board = Dashboard(
        counts=state_counts(session, tenant_id, now),
        expiring=expiring,
        ended=ended,
        pending=pending_requests(session, tenant_id, now, limit),
    )
    board.failed_records = records.failed_records(session, tenant_id, limit)
    return board


def pending_requests(session: Session, tenant_id: str, now: datetime, limit: int = 50) -> list[PendingRequest]:
    rows = list(
        session.execute(
            sa.select(ConsentRequest, Consent, Person.name)
            .join(Consent, Consent.id == ConsentRequest.consent_id)
            .join(Person, Person.id == ConsentRequest.person_id)
            .where(ConsentRequest.tenant_id == tenant_id, Consent.tenant_id == tenant_id,
                   Consent.status == "pending", ConsentRequest.expires_at > now)
            .order_by(ConsentRequest.created_at.desc(), ConsentRequest.id)
            .limit(limit)
        )
    )
    consent_ids = [consent.id for _, consent, _ in rows]
    tally: dict[str, list[int]] = {cid: [0, 0] for cid in consent_ids}
    if consent_ids:
        for consent_id, signer_status, count in session.execute(
            sa.select(Signer.consent_id, Signer.status, sa.func.count())
            .where(Signer.tenant_id == tenant_id, Signer.consent_id.in_(consent_ids))
            .group_by(Signer.consent_id, Signer.status)
        ):
            tally[str(consent_id)][1] += int(count)
            if signer_status == "signed":
                tally[str(consent_id)][0] += int(count)
    return [
        PendingRequest(req, consent, name, tally[consent.id][0], tally[consent.id][1]) for req, consent, name in rows
    ]


@dataclass(frozen=True)
class ConsentQuery:
    status: str | None = None
    purpose: str | None = None
    template: str | None = None
    expires_within_days: int | None = None
    person_id: str | None = None
    offset: int = 0
    limit: int = 50


def consent_lines(session: Session, tenant_id: str, q: ConsentQuery, now: datetime) -> tuple[list[ConsentLine], bool]:
    """A page of consents, newest first (soonest to expire first with an expiry filter), and
    whether there is a next page.

    Purposes are a JSON list of slugs; the quoted key is matched in its text form, which
    reads the same on SQLite and PostgreSQL, and checked exactly in Python after.
    """
    query = sa.select(Consent).where(Consent.tenant_id == tenant_id)
    if q.status:
        query = query.where(_status_condition(q.status, now))
    if q.template:
        query = query.where(Consent.template_key == q.template)
    if q.person_id:
        query = query.where(Consent.person_id == q.person_id)
    if q.purpose:
        query = query.where(sa.cast(Consent.purposes, sa.Text).contains(f'"{q.purpose}"', autoescape=True))
    if q.expires_within_days is not None:
        query = query.where(
            Consent.status == "given", Consent.valid_until > now,
            Consent.valid_until <= now + timedelta(days=q.expires_within_days),
        )
        query = query.order_by(Consent.valid_until, Consent.id)
    else:
        query = query.order_by(Consent.created_at.desc(), Consent.id.desc())
    lines = _lines(session, query.offset(q.offset).limit(q.limit + 1), now)
    more = len(lines) > q.limit
    lines = lines[: q.limit]
    if q.purpose:
        lines = [line for line in lines if q.purpose in (line.consent.purposes or [])]
    return lines, more


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
        conditions.append(audit.ref_text(session, "person_id") == person_id)
    if consent_ids:
        conditions.append(audit.ref_text(session, "consent_id").in_(list(consent_ids)))
    if addendum_id:
        conditions.append(audit.ref_text(session, "addendum_id") == addendum_id)
    if not conditions:
        return []
    return audit.stored_events(session, tenant_id, where=[sa.or_(*conditions)], limit=limit)


def audit_page(session: Session, tenant_id: str, *, before_seq: int | None, limit: int = 50) -> list[StoredEvent]:
    """The newest events first, ``limit`` at a time, older than ``before_seq`` when given."""
    return audit.stored_events(session, tenant_id, before_seq=before_seq, newest_first=True, limit=limit)


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
    from consent import gdpr
    from consent.models import Signature

    person = session.scalar(sa.select(Person).where(Person.tenant_id == tenant_id, Person.id == person_id))
    assert person is not None
    scope = gdpr.scope_of(session, None, person)
    consent_ids = sa.select(Consent.id).where(Consent.tenant_id == tenant_id, Consent.person_id == person_id)
    own_signers = sa.select(Signer.id).where(Signer.tenant_id == tenant_id, Signer.person_id == person_id)

    def count(query: sa.Select[Any]) -> int:
        return int(session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)

    records = count(sa.select(Record.id).where(Record.tenant_id == tenant_id, Record.consent_id.in_(consent_ids)))
    return ErasurePreview(
        consents=count(consent_ids),
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
        records=records,
        consents_ended=len(gdpr.consents_to_end(session, scope, now)),
        records_remade=count(sa.select(Record.id).where(
            Record.tenant_id == tenant_id, Record.consent_id.in_(scope.signed_for))) if scope.signed_for else 0,
    )
