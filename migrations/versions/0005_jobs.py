"""background work on Celery: periodic runs claimed once per period, record leases and back-off

``job_runs`` holds one row per periodic job and period; the first beat's message to insert it
does the work, so several beats never run a job twice in one period. A record being sealed is
leased (``claimed_until``) so a second message for it waits; a failed record names when it is
tried again (``next_attempt_at``); ``nudged_at`` (records and webhook deliveries) keeps the sweep
from re-sending a backlog's messages every minute. Existing failed records are retried by the next sweep.

Revision ID: 0005_jobs
Revises: 0004_signed_locale
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision = "0005_jobs"
down_revision = "0004_signed_locale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("job", "period_start", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("nudged_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nudged_at", UTCDateTime(), nullable=True))
    records = sa.table("records", sa.column("status", sa.String), sa.column("next_attempt_at", UTCDateTime()),
                       sa.column("last_attempt_at", UTCDateTime()), sa.column("created_at", UTCDateTime()))
    op.execute(
        records.update()
        .where(records.c.status == "failed")
        .values(next_attempt_at=sa.func.coalesce(records.c.last_attempt_at, records.c.created_at))
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("nudged_at")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("nudged_at")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("claimed_until")
    op.drop_table("job_runs")
