"""The signed-in staff member: starting, checking and ending a console session.

Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS: set in
``create_app``) carries only a random session token; the session itself is a
``staff_sessions`` row. Every request looks the row up together with the account
and tenant (one query), so signing out, a password or role change and disabling
the account end every copy of the cookie at once, in every process and on every
machine, and a changed role takes effect at once. Signing in clears the old
cookie (a fresh CSRF token with it), so a session planted before sign-in is worth
nothing afterwards. A session ends after ``CONSOLE_IDLE_MINUTES`` without a
request and at the latest ``CONSOLE_MAX_HOURS`` after sign-in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from app.db import get_session, utcnow
from app.models import StaffUser
from app.staff.accounts import SessionExpired, end_session, open_session, resume_session
from app.staff.permissions import authorize

IDLE_MINUTES = 30
MAX_HOURS = 12
# Write "last seen" at most this often, so not every page view writes to the database.
_TOUCH_SECONDS = 60
_SESSION_KEY = "sid"  # the cookie field holding the session token


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


def _token() -> str | None:
    token = session.get(_SESSION_KEY)
    return token if isinstance(token, str) and token else None


def start(user: StaffUser, method: str) -> None:
    """Begin a fresh session for ``user`` (the account and tenant are already chosen)."""
    db = get_session()
    old = _token()
    if old is not None:
        end_session(db, old, "replaced")
    token = open_session(db, user, method)
    session.clear()
    session[_SESSION_KEY] = token
    g.pop("console_staff", None)


def end(reason: str = "logout") -> None:
    """End the session server-side (so a copied cookie is worthless too) and clear the cookie."""
    token = _token()
    if token is not None:
        end_session(get_session(), token, reason)
    session.clear()
    g.pop("console_staff", None)


def current() -> Staff | None:
    """The signed-in staff member, or None. Ended or expired sessions clear the cookie here."""
    if "console_staff" in g:
        staff: Staff | None = g.console_staff
        return staff
    g.console_staff = None
    token = _token()
    if token is None:
        return None
    try:
        found = resume_session(
            get_session(), token, now=utcnow(),
            idle=timedelta(minutes=_config("CONSOLE_IDLE_MINUTES", IDLE_MINUTES)),
            max_age=timedelta(hours=_config("CONSOLE_MAX_HOURS", MAX_HOURS)),
            touch_after=timedelta(seconds=_TOUCH_SECONDS),
        )
    except SessionExpired:
        session.clear()
        flash(_("You were signed out because the session expired. Please sign in again."), "warn")
        return None
    if found is None:
        # Signed out elsewhere, or the account was changed or disabled.
        session.clear()
        flash(_("Your session has ended. Please sign in again."), "warn")
        return None
    user, tenant = found
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
