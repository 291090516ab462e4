"""Tenant-scoped look-ups shared by the consent services."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import NotFound

T = TypeVar("T")


def get_scoped(session: Session, model: type[T], tenant_id: str, object_id: str, what: str) -> T:
    """The row with this id in this tenant, or 404 (never 403: another tenant's id must not leak)."""
    query: Any = sa.select(model).where(
        model.id == object_id, model.tenant_id == tenant_id  # type: ignore[attr-defined]
    )
    row: T | None = session.scalar(query)
    if row is None:
        raise NotFound(f"No {what} with id {object_id}.")
    return row


def scoped(model: Any, tenant_id: str) -> sa.Select[Any]:
    return sa.select(model).where(model.tenant_id == tenant_id)
