"""a version number that moves with every change to the posts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:50:00

Each worker keeps the busiest pages in memory and must learn, within a second,
that what they show has changed, whoever changed it: another worker, another
host, the seed command, or someone at a SQL prompt. A trigger on `posts` moves
`site_state.version` in the same transaction as the change, so it cannot be
forgotten by a code path. A like changes `posts.votes`, so it moves it too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "site_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO site_state (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        # Once per statement, not per row: a seed of 100,000 posts moves it once.
        # An upsert, so that emptying site_state (as the tests do) cannot stop it.
        op.execute(
            """
            CREATE FUNCTION agora_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO site_state (id, version) VALUES (1, 1)
                ON CONFLICT (id) DO UPDATE SET version = site_state.version + 1;
                RETURN NULL;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER posts_bump_version "
            "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON posts "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version()"
        )
        return
    # SQLite has row triggers only.
    for event in SQLITE_EVENTS:
        op.execute(
            f"CREATE TRIGGER posts_bump_version_{event.lower()} AFTER {event} ON posts "
            "BEGIN UPDATE site_state SET version = version + 1 WHERE id = 1; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS posts_bump_version ON posts")
        op.execute("DROP FUNCTION IF EXISTS agora_bump_version()")
    else:
        for event in SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS posts_bump_version_{event.lower()}")
    op.drop_table("site_state")
