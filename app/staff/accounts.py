"""Staff accounts: argon2 password hashes, roles, lock-out after failed logins, disabling,
and the server-side sessions that a sign-out or an account change ends everywhere."""

from __future__ import annotations

import contextlib
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from app import audit
from app.crypto import sha256_hex
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.models import StaffSession, StaffUser, Tenant
from app.staff.permissions import ROLES
from app.text import EMAIL_PATTERN

_hasher = PasswordHasher()
_EMAIL = re.compile(EMAIL_PATTERN)
# Verified against when the e-mail is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not a real password")


def create_user(
    session: Session, tenant: Tenant, email: str, role: str, password: str | None, actor: str = "cli"
) -> StaffUser:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise Unprocessable("That is not an e-mail address.")
    _check_role(role)
    if password is not None:
        _check_password(password)
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


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise Unprocessable(f"Role must be one of {', '.join(ROLES)}.")


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise Unprocessable("A password needs at least 10 characters.")


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
            sa.select(StaffUser)
            .where(StaffUser.email == email, StaffUser.disabled_at.is_(None))
            .order_by(StaffUser.tenant_id)
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


# --- sessions -------------------------------------------------------------------

class SessionExpired(Exception):
    """The session ran past its idle or absolute limit (it is now ended)."""


def open_session(session: Session, user: StaffUser, method: str) -> str:
    """Record a completed sign-in and start a server-side session; returns the token for the cookie.

    Only the token's hash is stored, so the table alone opens no session.
    """
    if user.disabled_at is not None:
        raise Forbidden("This staff account is disabled.")
    record_login(session, user, method)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(StaffSession(
        tenant_id=user.tenant_id, staff_user_id=user.id, token_hash=sha256_hex(token), method=method,
        created_at=now, last_seen_at=now,
    ))
    session.flush()
    return token


def resume_session(
    session: Session, token: str, *, now: datetime, idle: timedelta, max_age: timedelta, touch_after: timedelta
) -> tuple[StaffUser, Tenant] | None:
    """The account and tenant of a live session, or None when it is unknown, ended or its account disabled.

    One query per request; "last seen" is written at most every ``touch_after``.
    Raises :class:`SessionExpired` (after ending it) when it ran past ``idle`` or ``max_age``.
    """
    row = session.execute(
        sa.select(StaffSession, StaffUser, Tenant)
        .join(StaffUser, sa.and_(StaffUser.id == StaffSession.staff_user_id,
                                 StaffUser.tenant_id == StaffSession.tenant_id))
        .join(Tenant, Tenant.id == StaffSession.tenant_id)
        .where(
            StaffSession.token_hash == sha256_hex(token),
            StaffSession.ended_at.is_(None),
            StaffUser.disabled_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    staff_session, user, tenant = row
    expired = now - staff_session.last_seen_at > idle or now - staff_session.created_at > max_age
    if expired or now - staff_session.last_seen_at > touch_after:
        # A write: the tenant lock comes first, as in every writing transaction (app.audit.lock_tenant),
        # so this request's later writes and an account change ending the session never wait on each other.
        audit.lock_tenant(session, tenant.id)
    if expired:
        staff_session.ended_at, staff_session.end_reason = now, "expired"
        session.flush()
        raise SessionExpired()
    if now - staff_session.last_seen_at > touch_after:
        staff_session.last_seen_at = now
        session.flush()
    return user, tenant


def end_session(session: Session, token: str, reason: str = "logout") -> None:
    """End the session this token opened (every copy of the cookie with it); unknown tokens are ignored."""
    staff_session = session.scalar(
        sa.select(StaffSession).where(StaffSession.token_hash == sha256_hex(token), StaffSession.ended_at.is_(None))
    )
    if staff_session is None:
        return
    audit.lock_tenant(session, staff_session.tenant_id)
    staff_session.ended_at, staff_session.end_reason = utcnow(), reason
    session.flush()
    if reason == "logout":
        audit.append(session, staff_session.tenant_id, "staff.logout", f"user:{staff_session.staff_user_id}",
                     {"user_id": staff_session.staff_user_id})


def _end_all_sessions(session: Session, user: StaffUser, reason: str) -> int:
    result = session.execute(
        sa.update(StaffSession)
        .where(StaffSession.staff_user_id == user.id, StaffSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


# --- account changes (each ends the account's sessions) -------------------------------

def enabled_users(session: Session, user_ids: list[str]) -> list[StaffUser]:
    """The accounts with these ids that are not disabled (a sign-in waiting for its organisation)."""
    return list(session.scalars(
        sa.select(StaffUser).where(StaffUser.id.in_(user_ids), StaffUser.disabled_at.is_(None))
    ))


def tenant_choices(session: Session, users: list[StaffUser]) -> list[tuple[str, str]]:
    """(user id, organisation name) for each account, by organisation name: whom to sign in as."""
    names = {
        tenant_id: name
        for tenant_id, name in session.execute(
            sa.select(Tenant.id, Tenant.name).where(Tenant.id.in_([u.tenant_id for u in users]))
        )
    }
    return sorted(((u.id, names[u.tenant_id]) for u in users), key=lambda pair: pair[1].casefold())


def user_by_email(session: Session, tenant: Tenant, email: str) -> StaffUser:
    user = session.scalar(
        sa.select(StaffUser).where(StaffUser.tenant_id == tenant.id, StaffUser.email == email.strip().lower())
    )
    if user is None:
        raise NotFound(f"No staff account {email.strip().lower()} in tenant '{tenant.slug}'.")
    return user


def set_role(session: Session, user: StaffUser, role: str, actor: str = "cli") -> int:
    """Give ``user`` another role; returns how many sessions were ended (none when the role is unchanged)."""
    _check_role(role)
    if role == user.role:
        return 0
    audit.lock_tenant(session, user.tenant_id)
    before, user.role = user.role, role
    ended = _end_all_sessions(session, user, "role")
    audit.append(session, user.tenant_id, "staff.role_changed", actor,
                 {"user_id": user.id, "from": before, "to": role, "sessions_ended": ended})
    return ended


def set_password(session: Session, user: StaffUser, password: str, actor: str = "cli") -> int:
    """Replace the password; every session signed in with the old one ends. Returns how many."""
    _check_password(password)
    audit.lock_tenant(session, user.tenant_id)
    user.password_hash = _hasher.hash(password)
    ended = _end_all_sessions(session, user, "password")
    audit.append(session, user.tenant_id, "staff.password_changed", actor,
                 {"user_id": user.id, "sessions_ended": ended})
    return ended


def disable_user(session: Session, user: StaffUser, actor: str = "cli") -> int:
    """The account signs in nowhere any more and its sessions end. Returns how many ended."""
    audit.lock_tenant(session, user.tenant_id)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    ended = _end_all_sessions(session, user, "disabled")
    audit.append(session, user.tenant_id, "staff.disabled", actor, {"user_id": user.id, "sessions_ended": ended})
    return ended


def enable_user(session: Session, user: StaffUser, actor: str = "cli") -> None:
    if user.disabled_at is None:
        return
    audit.lock_tenant(session, user.tenant_id)
    user.disabled_at = None
    session.flush()
    audit.append(session, user.tenant_id, "staff.enabled", actor, {"user_id": user.id})


def end_user_sessions(session: Session, user: StaffUser, actor: str = "cli") -> int:
    """Sign the account out everywhere (a lost laptop, a suspected stolen cookie). Returns how many ended."""
    audit.lock_tenant(session, user.tenant_id)
    ended = _end_all_sessions(session, user, "revoked")
    audit.append(session, user.tenant_id, "staff.sessions_ended", actor, {"user_id": user.id, "sessions_ended": ended})
    return ended
