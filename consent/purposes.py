"""Purposes a consent can cover (web, print, social ...), labelled in every supported locale."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.errors import Conflict, Unprocessable
from app.i18n import LOCALES
from consent.ids import KEY_HINT, KEY_MAX_LENGTH, SLUG_PATTERN
from consent.models import Purpose

_SLUG = re.compile(SLUG_PATTERN)


def create_purpose(session: Session, tenant_id: str, actor: str, *, key: str, label: dict[str, str]) -> Purpose:
    if not _SLUG.match(key) or len(key) > KEY_MAX_LENGTH:
        raise Unprocessable("key must be a slug.", errors={"key": [KEY_HINT]})
    missing = [loc for loc in LOCALES if not (label.get(loc) or "").strip()]
    if missing:
        raise Unprocessable(
            f"label needs a text for {', '.join(missing)}.",
            errors={"label": {loc: ["Missing data for required field."] for loc in missing}},
        )
    audit.lock_tenant(session, tenant_id)
    if session.scalar(sa.select(Purpose.id).where(Purpose.tenant_id == tenant_id, Purpose.key == key)):
        raise Conflict(f"A purpose with key '{key}' already exists.", errors={"key": ["Already exists."]})
    purpose = Purpose(tenant_id=tenant_id, key=key, label={loc: label[loc].strip() for loc in LOCALES})
    session.add(purpose)
    session.flush()
    audit.append(session, tenant_id, "purpose.created", actor, {"purpose_id": purpose.id, "key": key})
    return purpose


def list_purposes(session: Session, tenant_id: str) -> list[Purpose]:
    return list(session.scalars(sa.select(Purpose).where(Purpose.tenant_id == tenant_id).order_by(Purpose.key)))


def purpose_by_key(session: Session, tenant_id: str, key: str) -> Purpose | None:
    return session.scalar(sa.select(Purpose).where(Purpose.tenant_id == tenant_id, Purpose.key == key))


def label_in(label: Any, locale: str, fallback: str) -> str:
    """A purpose's label in ``locale``, else in the first of the other languages that has one, else ``fallback``."""
    if not isinstance(label, dict):
        return fallback
    text = next((label[loc] for loc in (locale, *LOCALES, *label) if label.get(loc)), None)
    return str(text) if text else fallback
