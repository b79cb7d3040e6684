"""data versions moved at commit: on PostgreSQL, the lock on site_state for an instant

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 02:00:00

Every write moves `site_state` (migrations 0003 and 0005), so every writing
transaction locks its one row, and until now it took that lock at the statement
that changed a post and held it until its commit: across the round trips that
followed (a like's notification, then COMMIT). Under load each of those waits
for a busy worker to send the next statement, and every other write waited
behind it: the benchmark's mixed scenario found likes idle in transaction,
holding the row, more than they ran.

On PostgreSQL the triggers that move it are now deferred constraint triggers:
they fire at COMMIT, inside the transaction, so the row is locked for the
commit alone and a change still moves the version in the same transaction.
Constraint triggers are row triggers: the first row of a transaction moves the
version, and a transaction-local setting lets the rest return at once (a seed
of 100,000 posts moves it once, as the statement triggers did). TRUNCATE,
which row triggers do not see, keeps its statement trigger.

SQLite is unchanged: its one writer holds the whole database until commit.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTENT_COLUMNS = "title, content, published, owner_id, created_at, updated_at"

# name: (table, the row events, what it moves, whether TRUNCATE moved it too)
TRIGGERS = {
    "posts_bump_version": ("posts", "AFTER INSERT OR DELETE", "version", True),
    "posts_bump_version_on_edit": ("posts", f"AFTER UPDATE OF {CONTENT_COLUMNS}", "version", False),
    "posts_bump_likes": ("posts", "AFTER UPDATE OF votes, comments", "likes", False),
    "users_bump_version": ("users", "AFTER INSERT OR DELETE", "version", False),
    "follows_bump_version": ("follows", "AFTER INSERT OR DELETE", "version", True),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION agora_bump_version_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- Once a transaction for each of 'version' and 'likes'.
            IF current_setting('agora.moved_' || TG_ARGV[0], true) = 'on' THEN
                RETURN NULL;
            END IF;
            PERFORM set_config('agora.moved_' || TG_ARGV[0], 'on', true);
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
    for name, (table, event, column, truncate) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} {event} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"EXECUTE FUNCTION agora_bump_version_once('{column}')"
        )
        if truncate:
            op.execute(
                f"CREATE TRIGGER {name}_truncate AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('version')"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, event, column, truncate) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
        if truncate:
            op.execute(f"DROP TRIGGER {name}_truncate ON {table}")
            event += " OR TRUNCATE"
        op.execute(
            f"CREATE TRIGGER {name} {event} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('{column}')"
        )
    op.execute("DROP FUNCTION agora_bump_version_once()")
