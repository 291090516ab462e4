"""The usage-rights query: may asset A be used for purpose P at instant T?

DESIGN.md "Usage rights", in this order: an asset never registered nor linked is
not allowed (``unknown_asset``); fewer linked persons than the asset's
``persons_expected`` is not allowed (``persons_unidentified``); a purpose the
asset's legal basis covers allows every linked person who did not object
(``legal_basis`` / ``objected``); nobody linked is allowed (``no_linked_persons``);
otherwise every linked person needs a consent that is given, covers P and A, is
valid at T and was not withdrawn or revoked at or before T. An erased person's
asset is never allowed. :func:`status_of` reads the asset's status off the same answer.

This is the DAM's hot path: Core selects on the session's connection returning
tuples (no ORM objects), one query from the asset register outer-joining links,
persons and consents (on PostgreSQL one for any batch; elsewhere one per 1,000
ids, SQLite's limit on bound parameters), everything else in Python. JSON lists
are read as text and parsed once per distinct value, since most consents share
the same few purpose lists. Objections are read only when a legal basis covers
the purpose asked about.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.errors import BadRequest
from consent.models import Asset, AssetLink, Consent, Objection, Person, Purpose

# Person-level reasons, best first among one person's consents and worst first across persons.
REASONS = (
    "erased",
    "objected",
    "legal_basis",
    "consent_given",
    "withdrawn",
    "revoked",
    "expired",
    "not_yet_valid",
    "purpose_not_covered",
    "asset_not_covered",
    "signature_missing",
    "refused",
    "no_consent",
)
RANK = {reason: index for index, reason in enumerate(REASONS)}
# Asset-level reasons that no person decides.
ASSET_REASONS = ("unknown_asset", "persons_unidentified", "no_linked_persons")
# An asset's status for one purpose (FotoWare's idea, our rules), as rights.status_of reads it off an answer.
STATUSES = ("unknown", "persons_unidentified", "no_consent", "pending", "partial", "full", "no_persons")
CHUNK = 1_000  # below SQLite's bound-parameter limit


def _statements(postgres: bool) -> dict[str, sa.Select[Any]]:
    """One query shape for both paths: the requested assets' links, joined to the
    linked persons (erased or not) and, outer, to their consents. One row per
    (asset, person, consent).

    On PostgreSQL the driver already returns aware datetimes, so the columns skip
    the UTCDateTime decorator (a Python call per value), and a batch joins from
    ``unnest(:ids)``: one array parameter, and the planner walks the indexes
    instead of scanning whole tables as it does for a long ``= ANY(...)`` list.
    Elsewhere the decorator keeps times aware and IN lists are expanded (in chunks).
    """

    def when(column: Any) -> Any:
        return sa.type_coerce(column, sa.DateTime(timezone=True)) if postgres else column

    tenant: sa.BindParameter[str] = sa.bindparam("tenant_id")
    columns = (
        Asset.asset_id,
        AssetLink.person_id,
        when(Person.erased_at),
        Consent.id,
        sa.cast(Consent.purposes, sa.Text),
        sa.cast(Consent.asset_ids, sa.Text),
        *(when(c) for c in (
            Consent.valid_from, Consent.valid_until, Consent.given_at, Consent.refused_at,
            Consent.withdrawn_at, Consent.revoked_at, Consent.created_at,
        )),
        Asset.persons_expected,
        sa.cast(Asset.legal_bases, sa.Text),
    )

    def joined(query: sa.Select[Any]) -> sa.Select[Any]:
        # Outer all the way: a registered asset with nobody linked still answers one row.
        return (
            query.outerjoin(
                AssetLink, sa.and_(AssetLink.tenant_id == Asset.tenant_id, AssetLink.asset_id == Asset.asset_id)
            )
            .outerjoin(Person, Person.id == AssetLink.person_id)
            .outerjoin(Consent, sa.and_(Consent.tenant_id == tenant, Consent.person_id == AssetLink.person_id))
        )

    single = joined(
        sa.select(*columns).select_from(Asset)
    ).where(Asset.tenant_id == tenant, Asset.asset_id == sa.bindparam("asset_id"))
    if postgres:
        wanted = (
            sa.func.unnest(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)))
            .table_valued("id")
            .render_derived(name="wanted")
        )
        many = joined(
            sa.select(*columns)
            .select_from(wanted)
            .join(Asset, sa.and_(Asset.tenant_id == tenant, Asset.asset_id == wanted.c.id))
        )
    else:
        ids: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
        many = joined(sa.select(*columns).select_from(Asset)).where(
            Asset.tenant_id == tenant, Asset.asset_id.in_(ids)
        )
    return {"single": single, "many": many}


# Each consent row: (id, purposes JSON, asset_ids JSON or None, valid_from, valid_until,
# given_at, refused_at, withdrawn_at, revoked_at, created_at), i.e. a query row's columns 3 to 12.
ConsentRow = Sequence[Any]
_ID, _PURPOSES, _ASSETS, _FROM, _UNTIL, _GIVEN, _REFUSED, _WITHDRAWN, _REVOKED, _CREATED = range(10)
_EXPECTED, _BASES = 13, 14  # the asset's columns in a query row
_QUERIES = {True: _statements(postgres=True), False: _statements(postgres=False)}


@dataclass
class _Found:
    """What the query rows say, grouped: the known assets (persons expected, legal bases as JSON
    text), persons per asset, and each person's consents."""

    assets: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    persons_of: dict[str, dict[str, None]] = field(default_factory=lambda: defaultdict(dict))
    erased: dict[str, bool] = field(default_factory=dict)
    consents: dict[str, list[ConsentRow]] = field(default_factory=lambda: defaultdict(list))
    seen: set[str] = field(default_factory=set)
    per_asset: set[str] = field(default_factory=set)  # persons with an asset-limited consent

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            asset_id, person_id, consent_id = row[0], row[1], row[3]
            self.assets[asset_id] = (row[_EXPECTED], row[_BASES])
            if person_id is None:
                continue
            self.persons_of[asset_id][person_id] = None
            self.erased[person_id] = row[2] is not None
            if consent_id is not None and consent_id not in self.seen:
                self.seen.add(consent_id)
                consent = row[3:_EXPECTED]
                self.consents[person_id].append(consent)
                if consent[_ASSETS] is not None and consent[_ASSETS] != "null":
                    self.per_asset.add(person_id)


def _query(session: Session, at: datetime) -> tuple[bool, dict[str, sa.Select[Any]], Any, datetime]:
    """The statements for this database, its connection, and ``at`` in the tzinfo its rows
    will carry: comparing datetimes that share one tzinfo object is ten times faster."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    info = getattr(connection.connection.driver_connection, "info", None)  # psycopg 3
    if postgres and info is not None:
        at = at.astimezone(info.timezone)
    return postgres, _QUERIES[postgres], connection, at


_PURPOSE = sa.select(Purpose.id).where(
    Purpose.tenant_id == sa.bindparam("tenant_id"), Purpose.key == sa.bindparam("key")
)

# Known (tenant, purpose) pairs. Purposes are only ever added, so a positive
# answer stays true; caching it saves the hot path a round trip.
_known_purposes: set[tuple[str, str]] = set()
_KNOWN_PURPOSES_MAX = 50_000


def check_purpose(session: Session, tenant_id: str, purpose: str) -> None:
    if (tenant_id, purpose) in _known_purposes:
        return
    if session.execute(_PURPOSE, {"tenant_id": tenant_id, "key": purpose}).first() is None:
        raise BadRequest(f"Unknown purpose '{purpose}'.")
    if len(_known_purposes) >= _KNOWN_PURPOSES_MAX:
        _known_purposes.clear()
    _known_purposes.add((tenant_id, purpose))


def _json_set(text: str | None) -> frozenset[str] | None:
    if text is None or text == "null":
        return None
    return frozenset(json.loads(text))


# Purpose lists are short and shared by most consents; asset lists can hold
# 10,000 ids each, so only the few a batch is looking at are kept.
_purposes_set = lru_cache(maxsize=4096)(_json_set)
_assets_set = lru_cache(maxsize=64)(_json_set)


def consent_reason(row: ConsentRow, purpose: str, asset_id: str, at: datetime) -> str:
    """One consent's answer at ``at``; the first reason that applies, in this order, is the answer."""
    if row[_WITHDRAWN] is not None and row[_WITHDRAWN] <= at:
        return "withdrawn"
    if row[_REVOKED] is not None and row[_REVOKED] <= at:
        return "revoked"
    if row[_REFUSED] is not None and row[_REFUSED] <= at:
        return "refused"
    if row[_GIVEN] is None or row[_GIVEN] > at:
        return "signature_missing"
    if row[_UNTIL] is not None and row[_UNTIL] <= at:
        return "expired"
    if row[_FROM] is not None and row[_FROM] > at:
        return "not_yet_valid"
    if purpose not in (_purposes_set(row[_PURPOSES]) or ()):
        return "purpose_not_covered"
    assets = _assets_set(row[_ASSETS])
    if assets is not None and asset_id not in assets:
        return "asset_not_covered"
    return "consent_given"


def _better(reason: str, row: ConsentRow, than_reason: str, than: ConsentRow) -> bool:
    """Best reason first; among given consents the one lasting longest, otherwise the newest."""
    if RANK[reason] != RANK[than_reason]:
        return RANK[reason] < RANK[than_reason]
    if reason == "consent_given":
        return than[_UNTIL] is not None and (row[_UNTIL] is None or row[_UNTIL] > than[_UNTIL])
    return bool(row[_CREATED] > than[_CREATED])


# A person's answer: the JSON object, and the end of the consent it relies on (when allowed).
PersonAnswer = tuple[dict[str, Any], datetime | None]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def person_answer(
    person_id: str, erased: bool, consents: Iterable[ConsentRow], purpose: str, asset_id: str, at: datetime
) -> PersonAnswer:
    if erased:
        return {"person_id": person_id, "allowed": False, "reason": "erased", "consent_id": None,
                "valid_until": None}, None
    best: tuple[str, ConsentRow] | None = None
    for row in consents:
        reason = consent_reason(row, purpose, asset_id, at)
        if best is None or _better(reason, row, *best):
            best = (reason, row)
    if best is None:
        return {"person_id": person_id, "allowed": False, "reason": "no_consent", "consent_id": None,
                "valid_until": None}, None
    reason, row = best
    until = row[_UNTIL] if reason == "consent_given" else None
    answer = {
        "person_id": person_id,
        "allowed": reason == "consent_given",
        "reason": reason,
        "consent_id": row[_ID],
        "valid_until": _iso(until),
    }
    return answer, until


def _legal_person_answer(person_id: str, erased: bool, objected: bool) -> PersonAnswer:
    """A person in an asset whose legal basis covers the purpose: allowed unless erased or objecting."""
    reason = "erased" if erased else "objected" if objected else "legal_basis"
    return {"person_id": person_id, "allowed": reason == "legal_basis", "reason": reason, "consent_id": None,
            "valid_until": None}, None


def _bases_by_purpose(text: str | None) -> dict[str, str]:
    if text is None or text == "null":
        return {}
    return {purpose: entry["basis"] for entry in json.loads(text) for purpose in entry["purposes"]}


_bases = lru_cache(maxsize=1024)(_bases_by_purpose)


def basis_for(bases_text: str | None, purpose: str) -> str | None:
    """The legal basis (other than consent) the asset declares for ``purpose``, if any."""
    return _bases(bases_text).get(purpose)


def asset_answer(
    asset_id: str, purpose: str, at_iso: str, persons: list[PersonAnswer], *,
    persons_expected: int | None = None, legal_basis: bool = False,
) -> dict[str, Any]:
    """A known asset: too few persons linked → persons_unidentified; nobody linked → allowed; all
    persons allowed → allowed until the earliest end; otherwise the worst person's reason (DESIGN order)."""
    # One plain loop: this runs once per asset of a 10,000-id batch.
    worst: int | None = None
    earliest: datetime | None = None
    earliest_iso: str | None = None
    for answer, until in persons:
        if not answer["allowed"]:
            rank = RANK[answer["reason"]]
            if worst is None or rank < worst:
                worst = rank
        elif until is not None and (earliest is None or until < earliest):
            earliest, earliest_iso = until, answer["valid_until"]
    if persons_expected is not None and len(persons) < persons_expected:
        allowed, reason, valid_until = False, "persons_unidentified", None
    elif not persons:
        allowed, reason, valid_until = True, "no_linked_persons", None
    elif worst is None:
        allowed, reason = True, "legal_basis" if legal_basis else "consent_given"
        valid_until = earliest_iso
    else:
        allowed, reason, valid_until = False, REASONS[worst], None
    return {
        "asset_id": asset_id,
        "purpose": purpose,
        "at": at_iso,
        "allowed": allowed,
        "reason": reason,
        "valid_until": valid_until,
        "persons": [answer for answer, _ in persons],
    }


def unknown_answer(asset_id: str, purpose: str, at_iso: str) -> dict[str, Any]:
    """Never registered nor linked: not allowed, so that a typo never reads as a green light."""
    return {"asset_id": asset_id, "purpose": purpose, "at": at_iso, "allowed": False,
            "reason": "unknown_asset", "valid_until": None, "persons": []}


def status_of(answer: dict[str, Any]) -> str:
    """The asset's status for the answer's purpose, read off the usage-rights answer itself."""
    reason = answer["reason"]
    if reason == "unknown_asset":
        return "unknown"
    if reason == "persons_unidentified":
        return "persons_unidentified"
    if reason == "no_linked_persons":
        return "no_persons"
    if answer["allowed"]:
        return "full"
    persons = answer["persons"]
    if any(p["allowed"] for p in persons):
        return "partial"
    if any(p["reason"] == "signature_missing" for p in persons):
        return "pending"
    return "no_consent"


def _objectors(
    session: Session, tenant_id: str, purpose: str, person_ids: Iterable[str], at: datetime
) -> set[str]:
    """The persons among ``person_ids`` whose objection to ``purpose`` stands at ``at``."""
    wanted = sorted(set(person_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            sa.select(Objection.person_id, Objection.created_at, Objection.withdrawn_at).where(
                Objection.tenant_id == tenant_id, Objection.purpose == purpose,
                Objection.person_id.in_(wanted[start : start + CHUNK]),
            )
        )
        found.update(pid for pid, created, withdrawn in rows if created <= at and (withdrawn is None or withdrawn > at))
    return found


def _answers(
    session: Session, tenant_id: str, found: _Found, asset_ids: Iterable[str], purpose: str, at: datetime,
) -> dict[str, dict[str, Any]]:
    """Every asset's answer from what the query found: the one place the rules are applied."""
    at_iso = _iso(at) or ""
    unique = list(dict.fromkeys(asset_ids))
    covered = [aid for aid in unique if aid in found.assets and basis_for(found.assets[aid][1], purpose)]
    objectors = (
        _objectors(session, tenant_id, purpose, (p for aid in covered for p in found.persons_of.get(aid, ())), at)
        if covered else set()
    )
    # A person whose consents all cover every asset has one answer for all of them.
    memo: dict[str, PersonAnswer] = {}
    answers: dict[str, dict[str, Any]] = {}
    for aid in unique:
        known = found.assets.get(aid)
        if known is None:
            answers[aid] = unknown_answer(aid, purpose, at_iso)
            continue
        expected, bases_text = known
        pids = sorted(found.persons_of.get(aid, ()))
        if basis_for(bases_text, purpose):
            persons = [_legal_person_answer(pid, found.erased[pid], pid in objectors) for pid in pids]
            answers[aid] = asset_answer(aid, purpose, at_iso, persons, persons_expected=expected, legal_basis=True)
            continue
        persons = []
        for pid in pids:
            answer = memo.get(pid)
            if answer is None:
                answer = person_answer(pid, found.erased[pid], found.consents.get(pid, ()), purpose, aid, at)
                if pid not in found.per_asset:
                    memo[pid] = answer
            persons.append(answer)
        answers[aid] = asset_answer(aid, purpose, at_iso, persons, persons_expected=expected)
    return answers


def for_asset(session: Session, tenant_id: str, asset_id: str, purpose: str, at: datetime) -> dict[str, Any]:
    """One asset: one query for the asset, its links, persons and their consents together."""
    check_purpose(session, tenant_id, purpose)
    return for_asset_purposes(session, tenant_id, asset_id, [purpose], at)[purpose]


def for_asset_purposes(
    session: Session, tenant_id: str, asset_id: str, purposes: Sequence[str], at: datetime
) -> dict[str, dict[str, Any]]:
    """One asset's answer for each of ``purposes`` (known keys), from one query."""
    _, queries, connection, at = _query(session, at)
    found = _Found()
    found.add(connection.execute(queries["single"], {"tenant_id": tenant_id, "asset_id": asset_id}).all())
    return {purpose: _answers(session, tenant_id, found, [asset_id], purpose, at)[asset_id] for purpose in purposes}


def for_assets(
    session: Session, tenant_id: str, asset_ids: list[str], purpose: str, at: datetime
) -> list[dict[str, Any]]:
    """Many assets, answered in request order (duplicates answered in place). PostgreSQL
    takes every id in one query; other databases get one query per 1,000 ids."""
    check_purpose(session, tenant_id, purpose)
    unique = list(dict.fromkeys(asset_ids))
    postgres, queries, connection, at = _query(session, at)
    found = _Found()
    chunks = [unique] if postgres else [unique[i : i + CHUNK] for i in range(0, len(unique), CHUNK)]
    for chunk in chunks:
        found.add(connection.execute(queries["many"], {"tenant_id": tenant_id, "ids": chunk}).all())
    answers = _answers(session, tenant_id, found, unique, purpose, at)
    return [answers[aid] for aid in asset_ids]
