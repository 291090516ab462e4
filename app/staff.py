"""Staff accounts: argon2 password hashes, roles, lock-out after failed logins."""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from app import audit
from app.db import utcnow
from app.errors import Conflict, Unprocessable
from app.models import StaffUser, Tenant

ROLES = ("dpo", "editor", "viewer")
_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Verified against when the e-mail is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not a real password")


def create_user(
    session: Session, tenant: Tenant, email: str, role: str, password: str | None, actor: str = "cli"
) -> StaffUser:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise Unprocessable("That is not an e-mail address.")
    if role not in ROLES:
        raise Unprocessable(f"Role must be one of {', '.join(ROLES)}.")
    if password is not None and len(password) < 10:
        raise Unprocessable("A password needs at least 10 characters.")
    exists = session.scalar(
        sa.select(StaffUser.id).where(StaffUser.tenant_id == tenant.id, StaffUser.email == email)
    )
    if exists:
        raise Conflict(f"A staff account for {email} already exists in this tenant.")
    user = StaffUser(
        tenant_id=tenant.id, email=email, role=role, password_hash=_hasher.hash(password) if password else None
    )
    session.add(user)
    session.flush()
    audit.append(session, tenant.id, "staff.created", actor, {"user_id": user.id, "role": role})
    return user


def authenticate(
    session: Session, email: str, password: str, *, threshold: int = 5, lockout_minutes: int = 15
) -> StaffUser | None:
    """The account for these credentials, or None. Locks an account after repeated failures."""
    email = email.strip().lower()
    users = list(session.scalars(sa.select(StaffUser).where(StaffUser.email == email)))
    now = utcnow()
    if len(users) != 1 or users[0].password_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password or "x")
        return None
    user = users[0]
    if user.locked_until is not None and user.locked_until > now:
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= threshold:
            user.locked_until = now + timedelta(minutes=lockout_minutes)
            user.failed_logins = 0
            audit.append(session, user.tenant_id, "staff.locked", f"user:{user.id}", {"user_id": user.id})
        session.flush()
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user
