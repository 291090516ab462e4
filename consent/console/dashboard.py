"""The consent domain's part of the dashboard: consents by state, what expires soon, what ended
lately, requests waiting for signatures (read-only, tenant-scoped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consent import consents
from consent.console.queries import ConsentLine, consent_lines, with_persons
from consent.models import Consent, ConsentRequest, Person, Signer

WINDOW_DAYS = 30
LIMIT = 50


@dataclass(frozen=True)
class PendingRequest:
    request: ConsentRequest
    consent: Consent
    person_name: str | None
    signed: int
    signers: int


@dataclass(frozen=True)
class Board:
    counts: dict[str, int]
    expiring: list[ConsentLine]
    ended: list[ConsentLine]
    pending: list[PendingRequest]
    window: int = WINDOW_DAYS


def state_counts(session: Session, tenant_id: str, now: datetime) -> dict[str, int]:
    """How many consents show each state now (``expired`` included)."""
    shown = consents.status_sql(now)
    counts = dict.fromkeys(consents.STATUSES, 0)
    for state, count in session.execute(
        sa.select(shown, sa.func.count()).where(Consent.tenant_id == tenant_id).group_by(shown)
    ):
        counts[state] = counts.get(state, 0) + int(count)
    return counts


def pending_requests(session: Session, tenant_id: str, now: datetime, limit: int = LIMIT) -> list[PendingRequest]:
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


def ended_lately(
    session: Session, tenant_id: str, now: datetime, since: datetime, limit: int = LIMIT
) -> list[ConsentLine]:
    """Consents withdrawn or revoked since ``since``, newest first."""
    ended_at = sa.func.coalesce(Consent.withdrawn_at, Consent.revoked_at)
    return with_persons(
        session,
        sa.select(Consent)
        .where(Consent.tenant_id == tenant_id,
               sa.or_(sa.and_(Consent.status == "withdrawn", Consent.withdrawn_at >= since),
                      sa.and_(Consent.status == "revoked", Consent.revoked_at >= since)))
        .order_by(ended_at.desc(), Consent.id)
        .limit(limit),
        now,
    )


def board(session: Session, tenant_id: str, now: datetime) -> Board:
    """The section's data (its loader in :mod:`app.staff.dashboard`)."""
    window = timedelta(days=WINDOW_DAYS)
    expiring, _more = consent_lines(
        session, tenant_id, consents.ConsentFilter(expiring_by=now + window), now, limit=LIMIT
    )
    return Board(
        counts=state_counts(session, tenant_id, now),
        expiring=expiring,
        ended=ended_lately(session, tenant_id, now, now - window),
        pending=pending_requests(session, tenant_id, now),
    )
