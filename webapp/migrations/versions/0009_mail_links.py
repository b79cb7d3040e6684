"""mail links bound to the account's address and stamp; one pending address change; request counts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 22:40:00

An attack review found links that outlived what they were asked
under: an address-change link kept by someone who once had the password still
worked after the owner reset it, and a reset link read in an old mailbox still
worked after the owner moved to a new address and changed the password. Each
link now records the account's address and security stamp when it was made
(`account_email`, `stamp`) and works only while both are unchanged.

Racing requests for a new address could leave several working links; a partial
unique index keeps one pending change per account, replaced in place.

`mail_requests` counts links asked for: resets per address asked for (so that a
reset's work is the same whether or not an account has the address) and
address changes per account (5 an hour).

Existing links are deleted: they have no stamp to check, and they are
short-lived (an hour for a reset, a day for an address), so asking again is
the whole cost. On SQLite the new NOT NULL columns need batch mode (the table
is copied).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING_EMAIL = "purpose = 'email' AND used_at IS NULL"


def upgrade() -> None:
    op.execute("DELETE FROM mail_tokens")
    with op.batch_alter_table("mail_tokens") as batch:
        batch.add_column(sa.Column("account_email", sa.String(length=254), nullable=False))
        batch.add_column(sa.Column("stamp", sa.String(length=32), nullable=False))
    op.create_index(
        "uq_mail_tokens_pending_email",
        "mail_tokens",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text(PENDING_EMAIL),
        sqlite_where=sa.text(PENDING_EMAIL),
    )
    op.create_table(
        "mail_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_requests_key", "mail_requests", ["key", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_requests_key", table_name="mail_requests")
    op.drop_table("mail_requests")
    op.drop_index("uq_mail_tokens_pending_email", table_name="mail_tokens")
    with op.batch_alter_table("mail_tokens") as batch:
        batch.drop_column("stamp")
        batch.drop_column("account_email")
