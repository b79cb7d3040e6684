"""when a draft was first published: what feeds call an entry's `published`

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 01:00:00

A post published as it was written was first published when it was created,
so the column stays empty for it (and for every post before this migration:
which of them were drafts once is not known). Publishing a draft sets it,
once; unpublishing and publishing again keeps it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a nullable column with no default rewrites nothing, on either database.
    op.add_column("posts", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not a batch: on SQLite that makes the table anew, and its triggers with
    # it would be gone. Both databases drop a plain column in place.
    op.execute("ALTER TABLE posts DROP COLUMN published_at")
