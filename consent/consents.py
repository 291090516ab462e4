"""Consents: reading them, and the controller's withdraw/revoke actions.

States (W3C DPV): ``pending`` → ``given`` | ``refused``; ``given`` →
``withdrawn`` | ``revoked`` | ``expired`` (computed from ``valid_until``).
Nothing leaves ``withdrawn``, ``revoked`` or ``refused``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.bounds import storable_instant
from app.errors import BadRequest, Conflict, Unprocessable
from consent import requests, signals
from consent.ids import is_plain_id
from consent.models import AssetLink, Consent
from consent.queries import get_scoped

STATUSES = ("pending", "given", "refused", "withdrawn", "revoked", "expired")


# --- the one rule for "expired at T", in Python and in SQL -----------------------------
# A given consent is expired from its ``valid_until`` on; without one (NULL) it is open-ended.
# The Python function and the SQL expressions below say the same thing; use them, never a copy.


def is_expired(status: str, valid_until: datetime | None, at: datetime) -> bool:
    return status == "given" and valid_until is not None and valid_until <= at


def status_at(consent: Consent, now: datetime) -> str:
    """The status shown to callers: ``expired`` is a given consent whose validity has ended."""
    return "expired" if is_expired(consent.status, consent.valid_until, now) else consent.status


def expired_sql(at: datetime) -> sa.ColumnElement[bool]:
    """:func:`is_expired` as a SQL condition on ``Consent``."""
    return sa.and_(Consent.status == "given", Consent.valid_until.is_not(None), Consent.valid_until <= at)


def active_sql(at: datetime) -> sa.ColumnElement[bool]:
    """Given and not expired at ``at``: what :func:`status_at` shows as ``given``."""
    return sa.and_(Consent.status == "given", sa.or_(Consent.valid_until.is_(None), Consent.valid_until > at))


def status_sql(at: datetime) -> sa.ColumnElement[str]:
    """:func:`status_at` as a SQL expression (to count or group by the shown status)."""
    return sa.case((expired_sql(at), sa.literal("expired")), else_=Consent.status)


def has_status_sql(status: str, at: datetime) -> sa.ColumnElement[bool]:
    """The consents :func:`status_at` shows as ``status`` at ``at``."""
    if status == "expired":
        return expired_sql(at)
    if status == "given":
        return active_sql(at)
    return Consent.status == status


def expiring_sql(at: datetime, by: datetime) -> sa.ColumnElement[bool]:
    """Active at ``at`` and expired by ``by``: the consents that are about to end."""
    return sa.and_(active_sql(at), Consent.valid_until <= by)


def get(session: Session, tenant_id: str, consent_id: str) -> Consent:
    return get_scoped(session, Consent, tenant_id, consent_id, "consent")


@dataclass(frozen=True)
class ConsentFilter:
    """What a consent list is narrowed to. ``limit`` and ``cursor`` page the API's list;
    the console pages its own way over the same :func:`list_query`."""

    person_id: str | None = None
    asset_id: str | None = None
    status: str | None = None  # as :func:`status_at` shows it
    purpose: str | None = None
    template: str | None = None
    expiring_by: datetime | None = None  # active now and ending by then, soonest first
    limit: int = 100
    cursor: str | None = None


def _encode_cursor(consent: Consent) -> str:
    return base64.urlsafe_b64encode(f"{consent.created_at.isoformat()}|{consent.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, consent_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        # A forged instant near year 1 or 9999 would overflow when the query converts it to UTC,
        # and a forged id could hold what no database stores (NUL).
        at = storable_instant(datetime.fromisoformat(created))
    except (ValueError, binascii.Error):
        at = None
    if at is None or not is_plain_id(consent_id):
        raise BadRequest("The cursor is not one this API gave out.")
    return at, consent_id


def list_query(tenant_id: str, flt: ConsentFilter, *, now: datetime) -> sa.Select[Any]:
    """The one consent list (the API's and the console's): the tenant's consents that ``flt``
    selects, newest first, or soonest to end first with ``expiring_by``.

    Purposes and assets are JSON lists, whose operators differ between backends: the SQL
    only narrows them down (a purpose by its quoted key in the JSON text, which reads the
    same on SQLite and PostgreSQL), and callers check them exactly with :func:`matches`.
    """
    query = sa.select(Consent).where(Consent.tenant_id == tenant_id)
    if flt.person_id is not None:
        query = query.where(Consent.person_id == flt.person_id)
    if flt.asset_id is not None:
        linked = sa.select(AssetLink.person_id).where(
            AssetLink.tenant_id == tenant_id, AssetLink.asset_id == flt.asset_id
        )
        query = query.where(Consent.person_id.in_(linked))
    if flt.status is not None:
        query = query.where(has_status_sql(flt.status, now))
    if flt.template is not None:
        query = query.where(Consent.template_key == flt.template)
    if flt.purpose is not None:
        query = query.where(sa.cast(Consent.purposes, sa.Text).contains(f'"{flt.purpose}"', autoescape=True))
    if flt.expiring_by is not None:
        return query.where(expiring_sql(now, flt.expiring_by)).order_by(Consent.valid_until, Consent.id)
    return query.order_by(Consent.created_at.desc(), Consent.id.desc())


def matches(consent: Consent, flt: ConsentFilter) -> bool:
    """The exact check of what :func:`list_query` narrows down in SQL: purpose and asset coverage."""
    if flt.purpose is not None and flt.purpose not in (consent.purposes or []):
        return False
    return flt.asset_id is None or consent.asset_ids is None or flt.asset_id in consent.asset_ids


def list_page(
    session: Session, tenant_id: str, flt: ConsentFilter, *, now: datetime
) -> tuple[list[Consent], str | None]:
    """A page of :func:`list_query` for the API: ``flt.limit`` consents and the cursor of the next page."""
    query = list_query(tenant_id, flt, now=now)
    if flt.cursor:
        created, consent_id = _decode_cursor(flt.cursor)
        query = query.where(
            sa.or_(Consent.created_at < created, sa.and_(Consent.created_at == created, Consent.id < consent_id))
        )
    items: list[Consent] = []
    more = False
    for consent in session.scalars(query.execution_options(yield_per=500)):
        if not matches(consent, flt):
            continue
        if len(items) == flt.limit:
            more = True
            break
        items.append(consent)
    return items, (_encode_cursor(items[-1]) if more else None)


def sealed_record_ids(
    session: Session, tenant_id: str, object_ids: Iterable[str], column: str = "consent_id"
) -> set[str]:
    """Which of these consents (or addenda, with ``column="addendum_id"``) have a sealed PDF record,
    as the records domain answers (``consent.signals.sealed_records``)."""
    ids = list(object_ids)
    if not ids:
        return set()
    found: set[str] = set()
    for _receiver, sealed in signals.sealed_records.send(session, tenant_id=tenant_id, ids=ids, column=column):
        found.update(sealed)
    return found


def _lock(session: Session, tenant_id: str, consent_id: str) -> Consent:
    """The tenant, then the consent, locked and read afresh (the lock order of ``app.audit``)."""
    audit.lock_tenant(session, tenant_id)
    consent = session.scalar(
        sa.select(Consent)
        .where(Consent.id == consent_id, Consent.tenant_id == tenant_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if consent is None:
        return get(session, tenant_id, consent_id)  # raises the 404
    return consent


def withdraw(
    session: Session, tenant_id: str, actor: str, consent_id: str, *, reason: str | None, now: datetime
) -> Consent:
    """The subject withdrew (Art. 7(3)), as told to staff. Only a given, unexpired consent."""
    consent = _lock(session, tenant_id, consent_id)
    current = status_at(consent, now)
    if current != "given":
        raise Conflict(f"Only a given consent can be withdrawn; this one is {current}.", consent_status=current)
    consent.status = "withdrawn"
    consent.withdrawn_at = now
    consent.withdraw_reason = reason or None
    session.flush()
    audit.append(session, tenant_id, "consent.withdrawn", actor, {"consent_id": consent.id})
    return consent


def revoke(session: Session, tenant_id: str, actor: str, consent_id: str, *, reason: str, now: datetime) -> Consent:
    """The controller ends a given or pending consent; a pending one's unsigned links die with it."""
    if not reason.strip():
        raise Unprocessable("A reason is required.", errors={"reason": ["A reason is required."]})
    consent = _lock(session, tenant_id, consent_id)
    current = status_at(consent, now)
    if current not in ("given", "pending"):
        raise Conflict(f"Only a given or pending consent can be revoked; this one is {current}.",
                       consent_status=current)
    consent.status = "revoked"
    consent.revoked_at = now
    consent.revoke_reason = reason.strip()
    requests.end_pending_links(session, now, consent_id=consent.id)
    session.flush()
    audit.append(session, tenant_id, "consent.revoked", actor, {"consent_id": consent.id})
    return consent
