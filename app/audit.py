"""The tamper-evident audit log: one hash chain per tenant.

``hash = sha256(prev_hash || canonical JSON of the event)``. Events carry ids and
hashes only, never personal data, so erasing a person never breaks the chain.
The head (last seq and hash) lives on the tenant row: appending locks that row,
which serialises concurrent writers, and a deleted tail shows up as a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, new_id, utcnow
from app.models import Tenant

GENESIS = "0" * 64

# Called inside the same transaction for every appended event, e.g. by the records
# domain to queue a PDF record for consent.given. Listeners must only add rows.
listeners: list[Callable[[Session, AuditEvent], None]] = []


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "seq"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column()
    type: Mapped[str] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(120))
    refs: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


def canonical(tenant_id: str, seq: int, at: datetime, type_: str, actor: str, refs: dict[str, Any]) -> bytes:
    body = {
        "tenant_id": tenant_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "type": type_,
        "actor": actor,
        "refs": refs,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()


def append(
    session: Session, tenant_id: str, type_: str, actor: str, refs: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event in the caller's transaction. ``refs`` must hold ids and hashes only."""
    refs = dict(refs or {})
    tenant = session.execute(
        sa.select(Tenant).where(Tenant.id == tenant_id).with_for_update()
    ).scalar_one()
    # Refresh the head under the lock: a concurrent writer may have moved it.
    session.refresh(tenant, ["audit_seq", "audit_head"])
    at = utcnow()
    seq = tenant.audit_seq + 1
    digest = chain_hash(tenant.audit_head, canonical(tenant_id, seq, at, type_, actor, refs))
    event = AuditEvent(
        tenant_id=tenant_id, seq=seq, at=at, type=type_, actor=actor, refs=refs,
        prev_hash=tenant.audit_head, hash=digest,
    )
    tenant.audit_seq = seq
    tenant.audit_head = digest
    session.add(event)
    session.flush()
    for listener in listeners:
        listener(session, event)
    return event


# --- reading what is stored ----------------------------------------------------
#
# Readers never let the ORM convert these rows: a value changed behind the service's
# back (a non-date ``at``, invalid JSON, ``'infinity'``) would make the conversion
# raise and turn every page that lists the log into a 500. Each column is fetched as
# the text the database holds and parsed here; what does not parse stays visible.

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


def _as_stored(column: Any, dialect: str) -> sa.ColumnElement[Any]:
    # SQLite returns whatever a value holds; as a BLOB, invalid UTF-8 cannot fail the whole query.
    return sa.cast(column, sa.LargeBinary if dialect == "sqlite" else sa.Text)


def _text(raw: object) -> str | None:
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


def _parse_seq(text: str) -> int | None:
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
    "id": str, "seq": _parse_seq, "at": parse_stored_time, "type": str, "actor": str, "refs": _parse_refs,
    "prev_hash": str, "hash": str,
}


def _stored_event(raw_row: Sequence[object]) -> StoredEvent:
    values: dict[str, Any] = {}
    stored: dict[str, str | None] = {}
    for name, raw in zip(_COLUMNS, raw_row, strict=True):
        try:
            text = _text(raw)
            value = None if text is None else _PARSERS[name](text)
        except (ValueError, TypeError, OverflowError, RecursionError):
            value = None
        if value is None:
            stored[name] = _shown(raw)
        values[name] = value
    return StoredEvent(**values, stored=stored)


def _stored_columns(dialect: str) -> list[sa.ColumnElement[Any]]:
    return [_as_stored(getattr(AuditEvent, name), dialect) for name in _COLUMNS]


def _dialect(session: Session) -> str:
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
    query = sa.select(*_stored_columns(_dialect(session))).where(AuditEvent.tenant_id == tenant_id, *where)
    if after_seq is not None:
        query = query.where(AuditEvent.seq > after_seq)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    query = query.order_by(AuditEvent.seq.desc() if newest_first else AuditEvent.seq)
    if limit is not None:
        query = query.limit(limit)
    return [_stored_event(row) for row in session.execute(query)]


def ref_text(session: Session, key: str) -> sa.ColumnElement[Any]:
    """``refs[key]`` as text for SQL filters; NULL where refs is not valid JSON (SQLite's
    json_extract raises on malformed JSON, which would fail the query for every row)."""
    value = AuditEvent.refs[key].as_string()
    if _dialect(session) == "sqlite":
        return sa.case((sa.func.json_valid(AuditEvent.refs) == 1, value), else_=sa.null())
    return value


# --- verification --------------------------------------------------------------


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None = None


def verify(session: Session, tenant_id: str) -> ChainVerification:
    """Walk the chain as stored; name the first sequence number where it breaks.

    Any value that does not read as its type, any changed link or hash, a gap, and a
    head on the tenant row that disagrees with the last event, are all breaks.
    """
    dialect = _dialect(session)
    # One statement for the head and the events: a concurrent append is then either
    # wholly seen or wholly unseen, never an event without its head.
    rows = session.execute(
        sa.select(_as_stored(Tenant.audit_seq, dialect), _as_stored(Tenant.audit_head, dialect),
                  *_stored_columns(dialect))
        .select_from(Tenant)
        .outerjoin(AuditEvent, AuditEvent.tenant_id == Tenant.id)
        .where(Tenant.id == tenant_id)
        .order_by(AuditEvent.seq)
    )
    prev = GENESIS
    expected_seq = 1
    count = 0
    head: tuple[object, object] | None = None
    for row in rows:
        head = (row[0], row[1])
        event_raw = row[2:]
        if event_raw[0] is None:
            continue  # the outer join's row for a tenant without events
        event = _stored_event(event_raw)
        if event.seq != expected_seq or event.prev_hash != prev:
            # A gap or a changed link: deleted, inserted or reordered rows.
            bad = expected_seq if event.seq is None else min(event.seq, expected_seq)
            return ChainVerification(False, count, prev, first_bad_seq=bad)
        digest = event.recomputed_hash(tenant_id, prev)
        if digest is None or digest != event.hash:
            return ChainVerification(False, count, prev, first_bad_seq=expected_seq)
        prev = event.hash
        expected_seq += 1
        count += 1
    if head is None:
        raise LookupError(tenant_id)
    head_seq = _read_head_seq(head[0])
    if head_seq != count or _read_or_none(head[1]) != prev:
        # The head on the tenant row remembers rows missing from the tail, or does not
        # know rows that were added behind it.
        bad = count + 1 if head_seq is None or head_seq >= count else head_seq + 1
        return ChainVerification(False, count, prev, first_bad_seq=bad)
    return ChainVerification(True, count, prev)


def _read_or_none(raw: object) -> str | None:
    try:
        return _text(raw)
    except ValueError:
        return None


def _read_head_seq(raw: object) -> int | None:
    text = _read_or_none(raw)
    return None if text is None else _parse_seq(text)


# --- listing ---------------------------------------------------------------------


def list_events(session: Session, tenant_id: str, *, after_seq: int = 0, limit: int = 100) -> list[StoredEvent]:
    return stored_events(session, tenant_id, after_seq=after_seq, limit=limit)


def events_referring(session: Session, tenant_id: str, key: str, value: str, limit: int = 200) -> list[StoredEvent]:
    """Events whose refs name an object (for a person's or consent's trail); filtered in Python
    because JSON containment differs between SQLite and PostgreSQL."""
    found: list[StoredEvent] = []
    for event in stored_events(session, tenant_id, newest_first=True):
        refs = event.refs or {}
        many = refs.get(key + "s")
        if refs.get(key) == value or (isinstance(many, list) and value in many):
            found.append(event)
            if len(found) >= limit:
                break
    return found
