"""mail tokens: password resets and new addresses, by links sent by mail

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:40:00

A link holds a random token; the table keeps its SHA-256 alone, when it
expires and when it was used (it works once). Rows go with their account.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("new_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_mail_tokens_user", "mail_tokens", ["user_id", "purpose", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_tokens_user", table_name="mail_tokens")
    op.drop_table("mail_tokens")
