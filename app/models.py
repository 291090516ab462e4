"""Models every domain shares: tenants, API clients and tokens, staff users and their sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, new_id, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Head of the audit chain, kept on the tenant row so that appending takes a
    # row lock (serialising writers) and a deleted tail is detectable.
    audit_seq: Mapped[int] = mapped_column(sa.Integer, default=0)
    audit_head: Mapped[str] = mapped_column(sa.String(64), default="0" * 64)


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    scopes: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_pk: Mapped[str] = mapped_column(sa.ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[str] = mapped_column(sa.Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class StaffUser(Base):
    __tablename__ = "staff_users"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "email"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    role: Mapped[str] = mapped_column(sa.String(16))
    oidc_issuer: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    oidc_subject: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # A disabled account signs in nowhere and its sessions are ended; the row stays for the audit trail.
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class StaffSession(Base):
    """One console sign-in. The cookie holds a random token whose hash is kept here, so ending
    the row ends every copy of the cookie, in every process, and a leaked table opens nothing."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    staff_user_id: Mapped[str] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    method: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # logout, expired, replaced, password, role, disabled, revoked
    end_reason: Mapped[str | None] = mapped_column(sa.String(16), default=None)


class JobRun(Base):
    """One run of a periodic job for one period (``app.jobs.periodic``).

    The first process to insert the row does the work; an ``IntegrityError`` on the primary key
    means another beat (or another worker of the same beat's message) already claimed this
    period. So however many beats are started, each periodic job runs once per period.
    """

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    worker: Mapped[str] = mapped_column(sa.String(200))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(sa.String(500), default=None)
