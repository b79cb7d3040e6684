"""a trigram index for searching posts on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 11:45:00

Search keeps the posts where every word appears in the title or the text, as
`(title || ' ' || content) ILIKE '%word%'`. A B-tree cannot serve a pattern
with a leading wildcard; a pg_trgm GIN index can. SQLite has no such index and
scans, which is fine at its scale. The models cannot express an operator-class
expression index portably, so it lives here only (see webapp.core.db.DATABASE_ONLY_INDEXES).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE INDEX ix_posts_search ON posts "
        "USING gin ((title || ' ' || content) gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_posts_search")
