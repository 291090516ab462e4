"""Signing in and out: password (with tenant choice), OIDC single sign-on, sign-out."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.db import get_session, utcnow
from app.extensions import limiter
from app.models import StaffUser
from app.staff import sessions, sso
from app.staff.accounts import authenticate_all, enabled_users, tenant_choices
from app.staff.blueprint import PREFIX, bp
from app.staff.forms import ActionForm, LoginForm, TenantChoiceForm

log = logging.getLogger(__name__)

PENDING_KEY = "console_pending_login"
PENDING_MINUTES = 5


def _login_limit() -> str:
    return str(current_app.config.get("LOGIN_RATE_LIMIT", "20 per minute"))


def login_page(form: LoginForm | None = None, status: int = 200) -> tuple[str, int]:
    form = form or LoginForm(next=sessions.safe_next(request.args.get("next")))
    cfg = sso.config()
    return render_template(
        "console/login.html", form=form, sso_label=(cfg or {}).get("label") or _("Single sign-on"),
        sso_enabled=cfg is not None, page_title=_("Sign in"),
    ), status


def _signed_in(user: StaffUser, method: str, target: str | None) -> Response:
    sessions.start(user, method)
    return redirect(sessions.safe_next(target) or url_for("console.home"))


@bp.route(f"{PREFIX}/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Any:
    if request.method == "GET":
        if sessions.current() is not None:
            return redirect(url_for("console.home"))
        return login_page()
    form = LoginForm()
    if not form.validate():
        return login_page(form)
    cfg = current_app.config
    matches = authenticate_all(
        get_session(), form.email.data or "", form.password.data or "",
        threshold=int(cfg.get("LOGIN_LOCKOUT_THRESHOLD", 5)),
        lockout_minutes=int(cfg.get("LOGIN_LOCKOUT_MINUTES", 15)),
    )
    if len(matches) == 1:
        return _signed_in(matches[0], "password", form.next.data)
    if len(matches) > 1:
        sessions.end("replaced")
        session[PENDING_KEY] = {
            "ids": [u.id for u in matches],
            "at": utcnow().isoformat(),
            "next": sessions.safe_next(form.next.data),
        }
        return redirect(url_for("console.choose_tenant"))
    form.password.data = ""
    form.form_errors.append(
        _("The e-mail address or the password is wrong, or the account is locked for a while "
          "after too many failed attempts.")
    )
    # 200, not 401: the failed attempt must be committed, or lock-out would never happen.
    return login_page(form)


def _pending() -> tuple[list[StaffUser], dict[str, Any]] | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    try:
        at = datetime.fromisoformat(pending["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if utcnow() - at > timedelta(minutes=PENDING_MINUTES):
        session.pop(PENDING_KEY, None)
        return None
    users = enabled_users(get_session(), list(pending.get("ids") or []))
    return (users, pending) if users else None


@bp.route(f"{PREFIX}/login/organisation", methods=["GET", "POST"])
def choose_tenant() -> Any:
    found = _pending()
    if found is None:
        flash(_("Please sign in again."), "warn")
        return redirect(url_for("console.home"))
    users, pending = found
    form = TenantChoiceForm()
    form.tenant.choices = tenant_choices(get_session(), users)
    if request.method == "POST" and form.validate():
        user = next(u for u in users if u.id == form.tenant.data)
        session.pop(PENDING_KEY, None)
        return _signed_in(user, "password", pending.get("next"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "console/choose_tenant.html", form=form, page_title=_("Choose organisation")
    ), status


@bp.route(f"{PREFIX}/logout", methods=["POST"])
def logout() -> Response:
    ActionForm()  # the CSRF token was checked before the view ran
    sessions.end()
    flash(_("You have signed out."), "ok")
    return redirect(url_for("console.home"))


@bp.route(f"{PREFIX}/login/sso")
@limiter.limit(_login_limit)
def sso_start() -> Any:
    if sso.config() is None:
        abort(404)
    redirect_uri = url_for("console.sso_callback", _external=True)
    return sso.client().authorize_redirect(redirect_uri)


@bp.route(f"{PREFIX}/login/sso/callback")
def sso_callback() -> Any:
    cfg = sso.config()
    if cfg is None:
        abort(404)
    try:
        token = sso.client().authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        user = sso.account_for(get_session(), claims, cfg["tenant"])
    except (OAuthError, sso.SsoRefused) as exc:
        log.info("staff single sign-on refused: %s", exc)
        form = LoginForm()
        form.form_errors.append(_("Single sign-on did not give access to a staff account here."))
        return login_page(form, 200)
    return _signed_in(user, "oidc", None)
