"""Which persons appear in which assets (one link per asset and person, with an optional region).

Linking a person registers the asset (``register_known``): a linked asset is a known one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from app import audit
from app.db import utcnow
from app.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable
from consent.ids import check_asset_id, is_plain_id
from consent.models import Asset, AssetLink, Person
from consent.persons import get_person

MAX_BULK_LINKS = 10_000
# Rows or ids per statement: 500 rows x 4 columns stays well under SQLite's bound-parameter limit.
_CHUNK = 500
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _in(session: Session, column: Any, values: Sequence[str]) -> Iterator[sa.ColumnElement[bool]]:
    """``column IN values`` as few times as the backend allows: one array parameter on
    PostgreSQL, chunks of bound parameters elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        yield column == sa.any_(sa.bindparam(None, list(values), type_=pg.ARRAY(sa.String)))
        return
    for chunk in _chunks(values):
        yield column.in_(chunk)


def _valid_asset_id(asset_id: str) -> str:
    problem = check_asset_id(asset_id)
    if problem:
        raise Unprocessable(problem, errors={"asset_id": [problem]})
    return asset_id


def register_known(session: Session, tenant_id: str, asset_ids: Iterable[str]) -> None:
    """Register each asset not registered yet (linking a person registers the asset). One
    ``INSERT … ON CONFLICT DO NOTHING`` per 500 ids, so concurrent links never collide."""
    ids = list(dict.fromkeys(asset_ids))
    if not ids:
        return
    dialect = session.get_bind().dialect.name
    insert = pg.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    for start in range(0, len(ids), _CHUNK):
        rows = [
            {"tenant_id": tenant_id, "asset_id": aid, "no_persons": False, "legal_bases": [],
             "created_at": now, "updated_at": now}
            for aid in ids[start : start + _CHUNK]
        ]
        session.execute(insert(Asset).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "asset_id"]))


@dataclass(frozen=True)
class LinkedPerson:
    person_id: str
    name: str | None
    erased: bool
    region: dict[str, Any] | None
    created_at: datetime


def link(
    session: Session,
    tenant_id: str,
    asset_id: str,
    person_id: str,
    actor: str,
    *,
    region: dict[str, float] | None = None,
    region_given: bool = False,
) -> tuple[AssetLink, bool]:
    """Link a person to an asset; returns (link, created). An existing link gets the region when given."""
    _valid_asset_id(asset_id)
    audit.lock_tenant(session, tenant_id)
    person = get_person(session, tenant_id, person_id)
    row = session.get(AssetLink, (tenant_id, asset_id, person.id))
    if row is not None:
        if region_given and row.region != region:
            row.region = dict(region) if region is not None else None
            session.flush()
            audit.append(
                session, tenant_id, "link.updated", actor, {"asset_id": asset_id, "person_id": person.id}
            )
        return row, False
    register_known(session, tenant_id, [asset_id])
    row = AssetLink(
        tenant_id=tenant_id, asset_id=asset_id, person_id=person.id,
        region=dict(region) if region is not None else None, created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.append(session, tenant_id, "link.added", actor, {"asset_id": asset_id, "person_id": person.id})
    return row, True


class ErasedPersonLink(Conflict):
    status, slug, title = 409, "erased-person-link", "The link of an erased person stays"


def unlink(session: Session, tenant_id: str, asset_id: str, person_id: str, actor: str) -> None:
    """Remove a link. An erased person's link is refused: it is the tombstone that keeps the asset
    at "not allowed, erased", and removing it would turn that "no" into a "yes"."""
    _valid_asset_id(asset_id)
    audit.lock_tenant(session, tenant_id)
    row = session.get(AssetLink, (tenant_id, asset_id, person_id)) if is_plain_id(person_id) else None
    if row is None:
        raise NotFound("That person is not linked to this asset.")
    erased = session.scalar(sa.select(Person.erased_at).where(Person.id == row.person_id))
    if erased is not None:
        raise ErasedPersonLink(
            "This person has been erased. Their link keeps the asset at \"not allowed\" (reason erased) "
            "and cannot be removed.",
            asset_id=asset_id, person_id=person_id,
        )
    session.delete(row)
    session.flush()
    audit.append(session, tenant_id, "link.removed", actor, {"asset_id": asset_id, "person_id": person_id})


def persons_in(session: Session, tenant_id: str, asset_id: str) -> list[LinkedPerson]:
    """The persons linked to an asset (erased ones too: they show as erased, without a name)."""
    _valid_asset_id(asset_id)
    rows = session.execute(
        sa.select(AssetLink.person_id, Person.name, Person.erased_at, AssetLink.region, AssetLink.created_at)
        .join(Person, sa.and_(Person.id == AssetLink.person_id, Person.tenant_id == AssetLink.tenant_id))
        .where(AssetLink.tenant_id == tenant_id, AssetLink.asset_id == asset_id)
        .order_by(AssetLink.created_at, AssetLink.person_id)
    )
    return [
        LinkedPerson(person_id=pid, name=name, erased=erased_at is not None, region=region, created_at=created)
        for pid, name, erased_at, region, created in rows
    ]


def _insert_links(session: Session, tenant_id: str, pairs: list[tuple[str, str]]) -> None:
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the whole batch: INSERT ... SELECT FROM unnest(two arrays).
        rows = sa.func.unnest(
            sa.bindparam("assets", type_=pg.ARRAY(sa.String)), sa.bindparam("persons", type_=pg.ARRAY(sa.String))
        ).table_valued("asset_id", "person_id").render_derived()
        table = cast(sa.Table, AssetLink.__table__)
        statement = sa.insert(table).from_select(
            ["tenant_id", "asset_id", "person_id", "created_at"],
            sa.select(
                sa.literal(tenant_id, sa.String), rows.c.asset_id, rows.c.person_id,
                sa.literal(now, AssetLink.created_at.type),
            ),
        )
        session.execute(statement, {"assets": [a for a, _ in pairs], "persons": [p for _, p in pairs]})
        return
    # SQLite runs executemany in-process; it is fast without network round trips.
    session.execute(
        sa.insert(AssetLink),
        [{"tenant_id": tenant_id, "asset_id": asset, "person_id": pid, "created_at": now} for asset, pid in pairs],
    )


@dataclass(frozen=True)
class BulkResult:
    created: int
    existing: int


def pairs_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over the sorted (asset_id, person_id) pairs, one ``asset\\tperson`` per line."""
    text = "\n".join(f"{asset}\t{person}" for asset, person in sorted(pairs))
    return hashlib.sha256(text.encode()).hexdigest()


def bulk_link(session: Session, tenant_id: str, pairs: Sequence[tuple[str, str]], actor: str) -> BulkResult:
    """Link many (asset_id, person_id) pairs at once: idempotent and all-or-nothing.

    Unknown (or erased, or another tenant's) person ids fail the whole request with 422.
    """
    if not pairs:
        raise Unprocessable("Give at least one link.", errors={"links": ["Must not be empty."]})
    if len(pairs) > MAX_BULK_LINKS:
        raise PayloadTooLarge(f"At most {MAX_BULK_LINKS} links per request; got {len(pairs)}.")
    for asset_id, _ in pairs:
        _valid_asset_id(asset_id)
    wanted = list(dict.fromkeys(pairs))  # duplicates in the request count once; order kept
    person_ids = list(dict.fromkeys(pid for _, pid in wanted))
    audit.lock_tenant(session, tenant_id)

    known: set[str] = set()
    for condition in _in(session, Person.id, [pid for pid in person_ids if is_plain_id(pid)]):
        known.update(
            session.scalars(
                sa.select(Person.id).where(Person.tenant_id == tenant_id, condition, Person.erased_at.is_(None))
            )
        )
    unknown = [pid for pid in person_ids if pid not in known]
    if unknown:
        shown = unknown[:10]
        raise Unprocessable(
            f"{len(unknown)} person id(s) are unknown in this tenant: {', '.join(shown)}"
            + (" …" if len(unknown) > len(shown) else "") + ". Nothing was linked.",
            errors={"links": {"unknown_person_ids": shown}},
            unknown_person_ids=shown,
        )

    # Existing links of the requested assets (a plain IN on the primary key's prefix), matched in Python.
    wanted_set = set(wanted)
    existing: set[tuple[str, str]] = set()
    asset_ids = list(dict.fromkeys(asset for asset, _ in wanted))
    for condition in _in(session, AssetLink.asset_id, asset_ids):
        rows = session.execute(
            sa.select(AssetLink.asset_id, AssetLink.person_id).where(AssetLink.tenant_id == tenant_id, condition)
        )
        existing.update(pair for pair in ((asset, pid) for asset, pid in rows) if pair in wanted_set)
    new = [pair for pair in wanted if pair not in existing]
    if new:
        register_known(session, tenant_id, [asset for asset, _ in new])
        _insert_links(session, tenant_id, new)
        audit.append(
            session, tenant_id, "links.added", actor, {"count": len(new), "sha256": pairs_digest(new)}
        )
    return BulkResult(created=len(new), existing=len(wanted) - len(new))
