"""The tenant's contacts kept with the DPA: data protection officer, incident and operations."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.db import utcnow
from app.errors import Unprocessable
from consent.models import TenantContact

ROLES = ("dpo", "incident", "operations")
FIELDS = ("name", "email", "phone")


def get_contacts(session: Session, tenant_id: str) -> dict[str, TenantContact | None]:
    """Every role, None where no contact is kept yet."""
    rows = {
        row.role: row
        for row in session.scalars(sa.select(TenantContact).where(TenantContact.tenant_id == tenant_id))
    }
    return {role: rows.get(role) for role in ROLES}


def put_contacts(
    session: Session, tenant_id: str, actor: str, contacts: dict[str, dict[str, Any]]
) -> dict[str, TenantContact | None]:
    """Replace all three contacts; audits which roles changed (never the contact data)."""
    missing = [role for role in ROLES if role not in contacts]
    if missing or set(contacts) - set(ROLES):
        raise Unprocessable(
            "Give exactly the roles dpo, incident and operations.",
            errors={role: ["Missing data for required field."] for role in missing},
        )
    audit.lock_tenant(session, tenant_id)
    current = get_contacts(session, tenant_id)
    changed: list[str] = []
    now = utcnow()
    for role in ROLES:
        wanted = {field: contacts[role][field] for field in FIELDS}
        row = current[role]
        if row is None:
            row = TenantContact(tenant_id=tenant_id, role=role, **wanted, updated_at=now)
            session.add(row)
            current[role] = row
            changed.append(role)
        elif any(getattr(row, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(row, field, value)
            row.updated_at = now
            changed.append(role)
    if changed:
        session.flush()
        audit.append(session, tenant_id, "contacts.updated", actor, {"roles": changed})
    return current
