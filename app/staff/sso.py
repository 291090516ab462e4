"""Staff single sign-on through an OpenID Provider (authlib), when a deployment configures it.

``STAFF_OIDC = {"discovery_url", "client_id", "client_secret", "tenant", "label"}``.
Authorization code flow with PKCE, ``state`` and ``nonce``; the id_token is checked
against the provider's keys by authlib. The provider's *verified* e-mail picks an
existing staff account of the configured tenant; nobody is created here. The first
sign-in binds the account to the provider's (issuer, subject), and a later sign-in
with a different subject for the same e-mail is refused.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

from app import audit
from app.models import StaffUser, Tenant

CLIENT = "staff"


def config() -> dict[str, Any] | None:
    cfg = current_app.config.get("STAFF_OIDC")
    return cfg if isinstance(cfg, dict) and cfg.get("discovery_url") else None


def init_app(app: Flask) -> None:
    cfg = app.config.get("STAFF_OIDC")
    if not (isinstance(cfg, dict) and cfg.get("discovery_url")):
        return
    # Complete by now: app.config.check_identity_providers refused anything less at start-up.
    oauth = OAuth(app)
    oauth.register(
        CLIENT,
        client_id=cfg["client_id"],
        client_secret=cfg["client_secret"],
        server_metadata_url=cfg["discovery_url"],
        client_kwargs={"scope": cfg.get("scope", "openid email profile"), "code_challenge_method": "S256"},
    )
    app.extensions["console.oauth"] = oauth


def client() -> Any:
    return current_app.extensions["console.oauth"].create_client(CLIENT)


class SsoRefused(Exception):
    """The provider's answer does not open a staff account (the message is for the log, not the user)."""


def account_for(session: Any, claims: dict[str, Any], tenant_slug: str) -> StaffUser:
    """The staff account the verified claims name in ``tenant_slug``; binds it on first use."""
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise SsoRefused("the provider gave no e-mail address")
    if claims.get("email_verified") is not True:
        raise SsoRefused("the provider does not vouch for the e-mail address")
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    if not issuer or not subject:
        raise SsoRefused("the id_token has no issuer or subject")
    user = session.scalar(
        sa.select(StaffUser)
        .join(Tenant, Tenant.id == StaffUser.tenant_id)
        .where(Tenant.slug == tenant_slug, StaffUser.email == email)
    )
    if user is None:
        raise SsoRefused("no staff account with that e-mail in the configured tenant")
    if user.disabled_at is not None:
        raise SsoRefused("the staff account is disabled")
    if user.oidc_subject is None:
        audit.lock_tenant(session, user.tenant_id)  # the lock order of every write (app.audit)
        session.refresh(user)
    if user.oidc_subject is None:
        user.oidc_issuer, user.oidc_subject = issuer, subject
    elif (user.oidc_issuer, user.oidc_subject) != (issuer, subject):
        raise SsoRefused("the account is bound to another identity at the provider")
    session.flush()
    return user
