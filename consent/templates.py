"""Consent templates: versioned, per-locale texts offering a set of purposes.

A template is never edited: posting an existing key makes a new version, so a
consent always points at the exact text its subject saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.crypto import sha256_hex
from app.errors import NotFound, Unprocessable
from app.i18n import LOCALES
from consent.models import ConsentTemplate, Purpose
from consent.purposes import label_in


@dataclass(frozen=True)
class TemplateInput:
    key: str
    title: dict[str, str]
    body: dict[str, str]
    purposes: list[str]
    validity_days: int
    minor_age: int = 18
    guardians_required: str = "all"


def shown_text(title: str, body: str) -> str:
    """The exact text a subject is shown: the hash in ``text_sha256`` is over this."""
    return f"{title}\n\n{body}"


def text_hash(title: str, body: str) -> str:
    return sha256_hex(shown_text(title, body))


def unknown_purposes(session: Session, tenant_id: str, keys: list[str]) -> list[str]:
    known = set(
        session.scalars(sa.select(Purpose.key).where(Purpose.tenant_id == tenant_id, Purpose.key.in_(keys)))
    )
    return [k for k in keys if k not in known]


def create_version(session: Session, tenant_id: str, actor: str, data: TemplateInput) -> ConsentTemplate:
    if set(data.title) != set(data.body):
        raise Unprocessable(
            "title and body must be given in the same locales.",
            errors={"body": [f"Locales must match title: {sorted(data.title)}."]},
        )
    purposes = list(dict.fromkeys(data.purposes))
    audit.lock_tenant(session, tenant_id)  # also serialises the next version number
    unknown = unknown_purposes(session, tenant_id, purposes)
    if unknown:
        raise Unprocessable(
            f"Unknown purposes: {', '.join(unknown)}.", errors={"purposes": [f"Unknown: {', '.join(unknown)}."]}
        )
    latest = session.scalar(
        sa.select(sa.func.max(ConsentTemplate.version)).where(
            ConsentTemplate.tenant_id == tenant_id, ConsentTemplate.key == data.key
        )
    )
    locales = [loc for loc in LOCALES if loc in data.title]
    template = ConsentTemplate(
        tenant_id=tenant_id,
        key=data.key,
        version=(latest or 0) + 1,
        title={loc: data.title[loc] for loc in locales},
        body={loc: data.body[loc] for loc in locales},
        text_sha256={loc: text_hash(data.title[loc], data.body[loc]) for loc in locales},
        purposes=purposes,
        validity_days=data.validity_days,
        minor_age=data.minor_age,
        guardians_required=data.guardians_required,
    )
    session.add(template)
    session.flush()
    audit.append(
        session,
        tenant_id,
        "template.version_created",
        actor,
        {
            "template_id": template.id,
            "key": template.key,
            "version": template.version,
            "text_sha256s": dict(template.text_sha256),
        },
    )
    return template


def get_version(session: Session, tenant_id: str, key: str, version: int | None = None) -> ConsentTemplate:
    """The given version of a template, or its latest; 404 when there is none."""
    query = sa.select(ConsentTemplate).where(ConsentTemplate.tenant_id == tenant_id, ConsentTemplate.key == key)
    if version is None:
        query = query.order_by(ConsentTemplate.version.desc()).limit(1)
    else:
        query = query.where(ConsentTemplate.version == version)
    template = session.scalar(query)
    if template is None:
        what = f"version {version} of template '{key}'" if version is not None else f"template '{key}'"
        raise NotFound(f"No {what}.")
    return template


def list_latest(session: Session, tenant_id: str) -> list[ConsentTemplate]:
    latest = (
        sa.select(ConsentTemplate.key, sa.func.max(ConsentTemplate.version).label("version"))
        .where(ConsentTemplate.tenant_id == tenant_id)
        .group_by(ConsentTemplate.key)
        .subquery()
    )
    return list(
        session.scalars(
            sa.select(ConsentTemplate)
            .join(latest, sa.and_(ConsentTemplate.key == latest.c.key, ConsentTemplate.version == latest.c.version))
            .where(ConsentTemplate.tenant_id == tenant_id)
            .order_by(ConsentTemplate.key)
        )
    )


def default_locale(template: ConsentTemplate) -> str:
    return next(loc for loc in LOCALES if loc in template.title)


def purpose_labels(session: Session, tenant_id: str, keys: list[str], locale: str) -> dict[str, str]:
    """Each purpose's label in ``locale`` (falling back to another locale, then to the key)."""
    rows = session.execute(
        sa.select(Purpose.key, Purpose.label).where(Purpose.tenant_id == tenant_id, Purpose.key.in_(keys))
    )
    labels: dict[str, Any] = {key: label for key, label in rows}
    return {key: label_in(labels.get(key), locale, key) for key in keys}
