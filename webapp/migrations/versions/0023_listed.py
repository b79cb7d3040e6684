"""the listed posts' own indexes: a deep page of the feed, and a person's count
of posts, from an index alone

Revision ID: 0023
Revises: 0022_search
Create Date: 2026-12-06 07:40:00

`ix_posts_feed` holds `published` but not `hidden`, nor the author whose
suspension also keeps a post out of the lists: since moderation, every list
read each skipped row from the table (page 4,500 of the API read 90,000 rows
and sorted them on disk, 0.65 s). This index holds only the listed posts,
in feed order, with their author, so a page at any depth walks index entries;
the second, by author, counts a profile's posts without reading them (96
pages of a random profile's statement became 7).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_posts_listed": ["created_at", "id", "owner_id"],
    "ix_posts_listed_by_owner": ["owner_id", "created_at", "id"],
}


def upgrade() -> None:
    # Built inside the migration's transaction: on 100,000 posts they take about
    # half a second for both, the time writes to the posts wait for them.
    for name, columns in INDEXES.items():
        op.create_index(
            name,
            "posts",
            columns,
            postgresql_where=sa.text("published IS TRUE AND hidden IS NULL"),
            sqlite_where=sa.text("published IS 1 AND hidden IS NULL"),
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="posts")
