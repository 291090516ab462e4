"""the language each signature (and each signing attempt) was made in, and the one a request named

A person may read and sign the text in another language than the request's, so the
language signed is kept with the signature; the receipt shows the evidence in it.
Existing rows: the signed text itself says its language, through the fixed labels that
``consent.signatures.visible_text`` puts in it (the purposes heading of a consent, the
"signed on behalf of" line of an addendum); where none is found, the language the
request was made in.

A request that names its language opens in it whatever the browser says; one that
names none follows the browser. Existing consents: the language they were made in
counts as named (whether it was cannot be told any more, and the API has always
answered it as the request's).

Revision ID: 0004_signed_locale
Revises: 0003_audit_anchors
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_signed_locale"
down_revision = "0003_audit_anchors"
branch_labels = None
depends_on = None

# Each language's fixed block in a signed text, as consent.signed_text._LABELS writes it
# (copied, not imported: a migration must not change when the code does).
_MARKERS = {
    "sv": ("\n\n### Ändamål\n\n", "\n\nUndertecknas för "),
    "nb": ("\n\n### Formål\n\n", "\n\nSigneres på vegne av "),
    "en": ("\n\n### Purposes\n\n", "\n\nSigned on behalf of "),
}
_TABLES = ("signatures", "signature_orders")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_locale", sa.String(length=5), nullable=True))
    consents_table = sa.table("consents", sa.column("locale", sa.String), sa.column("requested_locale", sa.String))
    op.execute(consents_table.update().values(requested_locale=consents_table.c.locale))

    for name in _TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("locale", sa.String(length=5), nullable=True))

        table = sa.table(name, sa.column("locale", sa.String), sa.column("visible_text", sa.Text))
        for code, markers in _MARKERS.items():
            found = sa.or_(*[table.c.visible_text.like(_like(marker), escape="\\") for marker in markers])
            op.execute(table.update().where(table.c.locale.is_(None), found).values(locale=code))

    # No marker found: the language the request (or the addendum) was made in.
    consents = sa.table("consents", sa.column("id", sa.String), sa.column("locale", sa.String))
    addenda = sa.table("addenda", sa.column("id", sa.String), sa.column("locale", sa.String))
    signers = sa.table(
        "signers", sa.column("id", sa.String), sa.column("consent_id", sa.String), sa.column("addendum_id", sa.String)
    )
    signatures = sa.table(
        "signatures", sa.column("locale", sa.String), sa.column("signer_id", sa.String)
    )
    orders = sa.table("signature_orders", sa.column("locale", sa.String), sa.column("signer_id", sa.String))
    for table in (signatures, orders):
        requested = sa.func.coalesce(
            sa.select(consents.c.locale)
            .select_from(signers.join(consents, consents.c.id == signers.c.consent_id))
            .where(signers.c.id == table.c.signer_id)
            .scalar_subquery(),
            sa.select(addenda.c.locale)
            .select_from(signers.join(addenda, addenda.c.id == signers.c.addendum_id))
            .where(signers.c.id == table.c.signer_id)
            .scalar_subquery(),
            "sv",
        )
        op.execute(table.update().where(table.c.locale.is_(None)).values(locale=requested))

    for name in _TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.alter_column("locale", existing_type=sa.String(length=5), nullable=False)


def downgrade() -> None:
    for name in reversed(_TABLES):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column("locale")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("requested_locale")
