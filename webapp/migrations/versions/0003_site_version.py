"""version numbers that move with every change to the posts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:50:00

Each worker keeps the busiest pages in memory and must learn, within a second,
that what they show has changed, whoever changed it: another worker, another
host, the seed command, or someone at a SQL prompt. Triggers on `posts` (and on
`users`, for people who join or leave) move `site_state` in the same
transaction as the change, so it cannot be forgotten by a code path: `likes`
when only a like count changed, `version` otherwise.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a change moves: `likes` when only the like count changes (a like is the
# most frequent write, and it leaves every list and text as it was), `version`
# for everything else.
CONTENT_COLUMNS = "title, content, published, owner_id, created_at, updated_at"
# A person who joins or leaves changes the pages too (a profile appears or goes).
SQLITE_TRIGGERS = {
    "posts_bump_version_insert": ("AFTER INSERT ON posts", "version"),
    "posts_bump_version_delete": ("AFTER DELETE ON posts", "version"),
    "posts_bump_version_update": (f"AFTER UPDATE OF {CONTENT_COLUMNS} ON posts", "version"),
    "posts_bump_likes": ("AFTER UPDATE OF votes ON posts", "likes"),
    "users_bump_version_insert": ("AFTER INSERT ON users", "version"),
    "users_bump_version_delete": ("AFTER DELETE ON users", "version"),
}


def upgrade() -> None:
    op.create_table(
        "site_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO site_state (id, version, likes) VALUES (1, 0, 0)")
    if op.get_bind().dialect.name == "postgresql":
        # Once per statement, not per row: a seed of 100,000 posts moves it once.
        # An upsert, so that emptying site_state (as the tests do) cannot stop it.
        op.execute(
            """
            CREATE FUNCTION agora_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_ARGV[0] = 'likes' THEN
                    INSERT INTO site_state (id, version, likes) VALUES (1, 0, 1)
                    ON CONFLICT (id) DO UPDATE SET likes = site_state.likes + 1;
                ELSE
                    INSERT INTO site_state (id, version, likes) VALUES (1, 1, 0)
                    ON CONFLICT (id) DO UPDATE SET version = site_state.version + 1;
                END IF;
                RETURN NULL;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER posts_bump_version "
            "AFTER INSERT OR DELETE OR TRUNCATE ON posts "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('version')"
        )
        op.execute(
            f"CREATE TRIGGER posts_bump_version_on_edit AFTER UPDATE OF {CONTENT_COLUMNS} "
            "ON posts FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('version')"
        )
        op.execute(
            "CREATE TRIGGER posts_bump_likes AFTER UPDATE OF votes ON posts "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('likes')"
        )
        op.execute(
            "CREATE TRIGGER users_bump_version AFTER INSERT OR DELETE ON users "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('version')"
        )
        return
    # SQLite has row triggers only.
    for name, (event, column) in SQLITE_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {event} "
            f"BEGIN UPDATE site_state SET {column} = {column} + 1 WHERE id = 1; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("posts_bump_version", "posts_bump_version_on_edit", "posts_bump_likes"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON posts")
        op.execute("DROP TRIGGER IF EXISTS users_bump_version ON users")
        op.execute("DROP FUNCTION IF EXISTS agora_bump_version()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("site_state")
