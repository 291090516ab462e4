"""Database: declarative base, engine and the request-scoped session.

Services receive a ``Session`` and only ``flush()``; the one commit per request
or CLI command happens in the factory's after-request hook (``_finish_transaction`` in
``app/__init__.py``) or in :func:`transaction`, the CLI's and the jobs' wrapper.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), list[Any]: sa.JSON()}


def guarded_by_status(status: Any) -> dict[str, Any]:
    """Mapper arguments that make every ORM UPDATE (and DELETE) of a row conditional on
    the status it was read with: ``UPDATE … WHERE id = :id AND status = :as_read``.

    SQLAlchemy's programmatic version counter (``version_id_generator=False``): a
    status change is the new "version", other changes keep it. When the row moved
    on meanwhile the statement matches no row and the flush raises
    ``StaleDataError``, answered 409. So two requests can never both move a
    consent, signer, addendum or order on from the same state, even on a path
    that forgot to lock (Core ``update()`` statements must say ``WHERE status`` themselves).
    """
    return {"version_id_col": status, "version_id_generator": False}


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLite transactions. pysqlite's default ("legacy") handling is kept on purpose:
# it sends BEGIN (deferred) just before the first INSERT/UPDATE/DELETE, so a
# transaction starts with a write and takes the database write lock at once
# (waiting up to busy_timeout); reads before it run in autocommit and may be stale.
# Writers therefore take the lock explicitly (app.audit.lock_tenant: a no-op
# UPDATE as the first statement) and read again after it. SQLAlchemy's recipe
# (isolation_level=None, BEGIN emitted in the "begin" event) would put those reads
# in a deferred transaction whose snapshot goes stale as soon as another
# connection commits, which the in-process BankID simulator does in the middle
# of a signing request; the first write then fails at once with
# SQLITE_BUSY_SNAPSHOT, busy_timeout or not. BEGIN IMMEDIATE for every request
# would instead hold the write lock across the simulator's nested request, which
# then waits on its own caller. Read-only requests never write, so they never
# open a transaction or wait on a writer (WAL).
@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # Only SQLite connections have this module name; PostgreSQL is left alone.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()


def make_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        # UTC sessions: the driver then hands back UTC datetimes without per-value conversion.
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args={"options": "-c timezone=UTC"})
    return sa.create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work outside a request (CLI, jobs, tests): commit or roll back."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session() -> Session:
    """The session of the current request (HTTP layer only; services get it passed)."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions["samtycke.sessionmaker"]()
    session: Session = g.db_session
    return session



def after_commit(session: Session, callback: Any) -> None:
    """Run ``callback()`` once ``session``'s transaction has committed.

    Side effects outside the database (PDF records, webhooks) wait for the commit,
    so nothing is produced for a change that was rolled back. Works the same in a
    request, a CLI command and a test.
    """
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    import logging

    if session.in_nested_transaction():
        return  # SQLAlchemy fires after_commit for a SAVEPOINT release too; wait for the real commit
    for callback in session.info.pop("after_commit", []):
        try:
            callback()
        except Exception:  # the change is committed; a failed side effect must not undo that
            logging.getLogger(__name__).exception("after-commit callback failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested and previous_transaction.parent is None:
        session.info.pop("after_commit", None)
