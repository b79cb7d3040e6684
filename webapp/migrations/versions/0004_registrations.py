"""registrations, counted per client address

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:00:00

REGISTRATIONS_PER_HOUR limits the accounts one client address may create in an
hour. Each account created is a row here, so that the count holds across
workers and restarts; rows older than the hour are swept as new ones come.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_registrations_client", "registrations", ["client_ip", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_registrations_client", table_name="registrations")
    op.drop_table("registrations")
