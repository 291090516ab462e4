"""the country of a person's national identity number (SE, NO, DK or FI)

Until now every number was Swedish, so every existing person is SE. Blind indexes of
Swedish numbers stay as they are; other countries' numbers are indexed with their country
(``consent.persons``), which makes search and uniqueness per country without rewriting
any existing index.

Revision ID: 0007_person_country
Revises: 0006_assets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_person_country"
down_revision = "0006_assets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), server_default="SE", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_column("country")
