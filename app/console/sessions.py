"""The signed-in staff member: starting, checking and ending a console session.

The session lives in Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind
HTTPS: set in ``create_app``). It names the account and tenant only; the account
row is read again on every request, so a changed role or a deleted account takes
effect at once. Signing in clears the old session (a fresh CSRF token with it), so
a session planted before sign-in is worth nothing afterwards. A session ends after
``CONSOLE_IDLE_MINUTES`` without a request and at the latest ``CONSOLE_MAX_HOURS``
after sign-in.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from app.console.permissions import authorize
from app.db import get_session, utcnow
from app.models import StaffUser, Tenant

IDLE_MINUTES = 30
MAX_HOURS = 12
# Re-stamp "last seen" at most this often, so not every page view rewrites the cookie.
_TOUCH_SECONDS = 60


@dataclass(frozen=True)
class Staff:
    """Who is signed in, as plain values for views and templates."""

    id: str
    email: str
    role: str
    tenant_id: str
    tenant_name: str
    tenant_slug: str

    @property
    def actor(self) -> str:
        return f"user:{self.id}"


def _config(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def start(user: StaffUser) -> None:
    """Begin a fresh session for ``user`` (the account and tenant are already chosen)."""
    now = utcnow().isoformat()
    session.clear()
    session["staff_id"] = user.id
    session["tenant_id"] = user.tenant_id
    session["sid"] = secrets.token_urlsafe(16)
    session["auth_at"] = now
    session["seen_at"] = now


def end() -> None:
    session.clear()


def current() -> Staff | None:
    """The signed-in staff member, or None. Expired sessions are cleared here."""
    if "console_staff" in g:
        staff: Staff | None = g.console_staff
        return staff
    g.console_staff = None
    staff_id, tenant_id = session.get("staff_id"), session.get("tenant_id")
    if not staff_id or not tenant_id:
        return None
    now = utcnow()
    auth_at, seen_at = _parse(session.get("auth_at")), _parse(session.get("seen_at"))
    if (
        auth_at is None
        or seen_at is None
        or now - seen_at > timedelta(minutes=_config("CONSOLE_IDLE_MINUTES", IDLE_MINUTES))
        or now - auth_at > timedelta(hours=_config("CONSOLE_MAX_HOURS", MAX_HOURS))
    ):
        end()
        flash(_("You were signed out because the session expired. Please sign in again."), "warn")
        return None
    row = get_session().execute(
        sa.select(StaffUser, Tenant)
        .join(Tenant, Tenant.id == StaffUser.tenant_id)
        .where(StaffUser.id == staff_id, StaffUser.tenant_id == tenant_id)
    ).first()
    if row is None:
        end()
        return None
    user, tenant = row
    if (now - seen_at).total_seconds() > _TOUCH_SECONDS:
        session["seen_at"] = now.isoformat()
    g.console_staff = Staff(
        id=user.id, email=user.email, role=user.role, tenant_id=tenant.id, tenant_name=tenant.name,
        tenant_slug=tenant.slug,
    )
    return g.console_staff  # type: ignore[no-any-return]


def safe_next(target: str | None) -> str | None:
    """A local path to return to after sign-in, or None (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


F = TypeVar("F", bound=Callable[..., Any])


def signed_in(view: F) -> F:
    """The page needs a signed-in staff member; others go to the sign-in page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current() is None:
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("console.home", next=safe_next(target and target.rstrip("?"))))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def requires(action: str) -> Callable[[F], F]:
    """Signed in, and the role holds ``action`` in the permission matrix (else 403)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = current()
            if staff is None:
                return signed_in(view)(*args, **kwargs)
            authorize(staff.role, action)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def staff() -> Staff:
    """The signed-in staff member inside a view guarded by ``signed_in``/``requires``."""
    who = current()
    if who is None:  # pragma: no cover - the decorators make this unreachable
        raise RuntimeError("no staff member is signed in")
    return who
