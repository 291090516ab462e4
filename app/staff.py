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
    audit.lock_tenant(session, tenant.id)
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
    """The one account these credentials open, or None. Locks an account after repeated failures.

    An e-mail that opens accounts in two tenants gives None here; the console uses
    :func:`authenticate_all` and asks which tenant.
    """
    matches = authenticate_all(session, email, password, threshold=threshold, lockout_minutes=lockout_minutes)
    if len(matches) != 1:
        return None
    record_login(session, matches[0])
    return matches[0]


def authenticate_all(
    session: Session, email: str, password: str, *, threshold: int = 5, lockout_minutes: int = 15
) -> list[StaffUser]:
    """Every account (at most one per tenant) that this e-mail and password open.

    A wrong password counts as one failure on each unlocked account with that e-mail;
    ``threshold`` failures in a row lock an account for ``lockout_minutes``. A locked
    account opens for nobody until then, and the answer does not say which case applied.
    """
    email = email.strip().lower()
    users = [
        u
        for u in session.scalars(
            sa.select(StaffUser).where(StaffUser.email == email).order_by(StaffUser.tenant_id)
        )
        if u.password_hash is not None
    ]
    now = utcnow()
    if not users:
        # Same work as for a real account, so timing does not reveal which e-mails exist.
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password or "x")
        return []
    unlocked: list[StaffUser] = []
    matched: list[StaffUser] = []
    for user in users:
        assert user.password_hash is not None
        try:
            ok: bool = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if user.locked_until is not None and user.locked_until > now:
            continue
        unlocked.append(user)
        if ok:
            matched.append(user)
    # The counters change under the tenants' locks (ascending ids, as the users are sorted)
    # and on fresh rows, so concurrent failures all count; the slow hashing stays outside.
    for tenant_id in dict.fromkeys(u.tenant_id for u in unlocked):
        audit.lock_tenant(session, tenant_id)
    for user in unlocked:
        session.refresh(user)
    unlocked = [u for u in unlocked if u.locked_until is None or u.locked_until <= now]
    matched = [u for u in matched if u in unlocked]
    if not unlocked:
        return []
    if not matched:
        for user in unlocked:
            user.failed_logins += 1
            if user.failed_logins >= threshold:
                user.locked_until = now + timedelta(minutes=lockout_minutes)
                user.failed_logins = 0
                audit.append(session, user.tenant_id, "staff.locked", f"user:{user.id}", {"user_id": user.id})
        session.flush()
        return []
    for user in matched:
        assert user.password_hash is not None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.failed_logins = 0
        user.locked_until = None
    session.flush()
    return matched


def record_login(session: Session, user: StaffUser, method: str = "password") -> None:
    """Note a completed sign-in (the account and tenant are now chosen) in the account and the audit log."""
    audit.lock_tenant(session, user.tenant_id)
    user.last_login_at = utcnow()
    session.flush()
    audit.append(session, user.tenant_id, "staff.login", f"user:{user.id}", {"user_id": user.id, "method": method})
