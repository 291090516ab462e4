"""The audit log as stored: its rows read without trusting their types, and the listings.

Readers never let the ORM convert these rows: a value changed behind the service's
back (a non-date ``at``, invalid JSON, ``'infinity'``) would make the conversion
raise and turn every page that lists the log into a 500. Each column is fetched as
the text the database holds and parsed here; what does not parse stays visible.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit import AuditEvent, canonical, chain_hash

_COLUMNS = ("id", "seq", "at", "type", "actor", "refs", "prev_hash", "hash")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
SHOWN_LIMIT = 2000  # characters of a corrupt value that listings show


@dataclass(frozen=True)
class StoredEvent:
    """One audit row as stored. A value that cannot be read as its type is None, and its
    stored text is in ``stored`` under the column's name: such a row is ``corrupt``."""

    id: str | None
    seq: int | None
    at: datetime | None
    type: str | None
    actor: str | None
    refs: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None
    stored: dict[str, str | None] = field(default_factory=dict)

    @property
    def corrupt(self) -> bool:
        return bool(self.stored)

    def recomputed_hash(self, tenant_id: str, prev_hash: str) -> str | None:
        """The hash this row should carry after ``prev_hash``; None when the row cannot be hashed."""
        if self.corrupt:
            return None
        assert self.seq is not None and self.at is not None and self.type is not None
        assert self.actor is not None and self.refs is not None
        try:
            payload = canonical(tenant_id, self.seq, self.at, self.type, self.actor, self.refs)
        except (ValueError, TypeError, OverflowError, RecursionError):
            return None
        return chain_hash(prev_hash, payload)


def as_stored(column: Any, dialect: str) -> sa.ColumnElement[Any]:
    """``column`` as the database holds it, for :func:`stored_text` (no type conversion that can raise)."""
    # SQLite returns whatever a value holds; as a BLOB, invalid UTF-8 cannot fail the whole query.
    return sa.cast(column, sa.LargeBinary if dialect == "sqlite" else sa.Text)


def stored_text(raw: object) -> str | None:
    """A value read through :func:`as_stored` as text; ValueError when it is not UTF-8."""
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw).decode("utf-8")  # UnicodeDecodeError is a ValueError: corrupt
    return str(raw)


def _shown(raw: object) -> str | None:
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if raw is None:
        return None
    text = str(raw)
    return text if len(text) <= SHOWN_LIMIT else text[:SHOWN_LIMIT] + "…"


def parse_seq(text: str) -> int | None:
    return int(text) if _INTEGER.fullmatch(text) else None


def parse_stored_time(text: str) -> datetime:
    """A stored timestamp: SQLite's ``2024-05-01 10:00:00.123456`` (UTC, no offset) or
    PostgreSQL's ``2024-05-01 10:00:00.1234+00``. ``infinity``, ``… BC`` and anything else
    raise ValueError."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # how UTCDateTime stores it on SQLite
    return at.astimezone(UTC)


def _parse_refs(text: str) -> dict[str, Any] | None:
    refs = json.loads(text)
    return refs if isinstance(refs, dict) else None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "id": str, "seq": parse_seq, "at": parse_stored_time, "type": str, "actor": str, "refs": _parse_refs,
    "prev_hash": str, "hash": str,
}


def stored_event(raw_row: Sequence[object]) -> StoredEvent:
    values: dict[str, Any] = {}
    stored: dict[str, str | None] = {}
    for name, raw in zip(_COLUMNS, raw_row, strict=True):
        try:
            text = stored_text(raw)
            value = None if text is None else _PARSERS[name](text)
        except (ValueError, TypeError, OverflowError, RecursionError):
            value = None
        if value is None:
            stored[name] = _shown(raw)
        values[name] = value
    return StoredEvent(**values, stored=stored)


def stored_columns(dialect: str) -> list[sa.ColumnElement[Any]]:
    return [as_stored(getattr(AuditEvent, name), dialect) for name in _COLUMNS]


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def stored_events(
    session: Session,
    tenant_id: str,
    *,
    after_seq: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
    limit: int | None = None,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> list[StoredEvent]:
    """The tenant's events as stored, in sequence order (or newest first)."""
    query = sa.select(*stored_columns(dialect_of(session))).where(AuditEvent.tenant_id == tenant_id, *where)
    if after_seq is not None:
        query = query.where(AuditEvent.seq > after_seq)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    query = query.order_by(AuditEvent.seq.desc() if newest_first else AuditEvent.seq)
    if limit is not None:
        query = query.limit(limit)
    return [stored_event(row) for row in session.execute(query)]


def ref_text(session: Session, key: str) -> sa.ColumnElement[Any]:
    """``refs[key]`` as text for SQL filters; NULL where refs is not valid JSON (SQLite's
    json_extract raises on malformed JSON, which would fail the query for every row)."""
    value = AuditEvent.refs[key].as_string()
    if dialect_of(session) == "sqlite":
        return sa.case((sa.func.json_valid(AuditEvent.refs) == 1, value), else_=sa.null())
    return value


def read_or_none(raw: object) -> str | None:
    try:
        return stored_text(raw)
    except ValueError:
        return None


def read_seq(raw: object) -> int | None:
    text = read_or_none(raw)
    return None if text is None else parse_seq(text)


def list_events(session: Session, tenant_id: str, *, after_seq: int = 0, limit: int = 100) -> list[StoredEvent]:
    return stored_events(session, tenant_id, after_seq=after_seq, limit=limit)

