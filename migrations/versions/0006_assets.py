"""the asset register and Art. 21 objections

An asset the service has never seen must answer "not allowed, unknown_asset" (a typo is never a
green light), so assets get a table of their own: registered by PUT /assets/{id}, or implicitly by
a link. Every asset that already has a link is registered here, so nothing known today turns unknown.

Objections (Art. 21) are a person's "no" to a purpose processed under a legal basis other than
consent; withdrawn by staff, never deleted except with the person.

Revision ID: 0006_assets
Revises: 0005_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0006_assets"
down_revision = "0005_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("asset_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("thumbnail_url", sa.String(length=2000), nullable=True),
        sa.Column("no_persons", sa.Boolean(), nullable=False),
        sa.Column("persons_expected", sa.Integer(), nullable=True),
        sa.Column("legal_bases", sa.JSON(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_assets_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "asset_id", name=op.f("pk_assets")),
    )
    op.create_table(
        "objections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_objections_person_id_persons"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_objections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.create_index("ix_objections_tenant_person", ["tenant_id", "person_id"], unique=False)

    # Every linked asset is known: register each one, first linked time as its creation.
    op.execute(
        sa.text(
            "INSERT INTO assets (tenant_id, asset_id, no_persons, legal_bases, created_at, updated_at) "
            "SELECT tenant_id, asset_id, :false, :empty, MIN(created_at), MIN(created_at) "
            "FROM asset_links GROUP BY tenant_id, asset_id"
        ).bindparams(
            sa.bindparam("false", False, type_=sa.Boolean), sa.bindparam("empty", [], type_=sa.JSON)
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_index("ix_objections_tenant_person")
    op.drop_table("objections")
    op.drop_table("assets")
