"""moderation: roles, reports, hidden posts and comments, the moderation log

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 10:00:00

- `users.role`: `member`, `moderator` or `admin`.
- `posts.hidden` and `comments.hidden`: NULL while shown; `reports` when the
  reports of day-old accounts hid it, `moderators` when a moderator did; with
  the reason a moderator gave.
- `reports`: one open report per reporter and target (a partial unique index
  settles racing repeats).
- `moderation_actions`: the public log, with the target's label as it was.
- `notifications` gain the action and reason of a `moderation` notification.

A hide takes something away: it moves the `removals` version (as a deletion
does, migration 0010) and tells every socket the post is gone; a restore, and
every log entry, move `version`, so that no page cache keeps what they changed.
Columns are added in place (no table copy on SQLite, which would drop the
tables' triggers).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HIDDEN = "OLD.hidden IS NULL AND NEW.hidden IS NOT NULL"
SHOWN = "OLD.hidden IS NOT NULL AND NEW.hidden IS NULL"
# name: (table, the row event, the condition, which version it moves)
VERSION_TRIGGERS = {
    "posts_hidden": ("posts", "AFTER UPDATE OF hidden", HIDDEN, "removals"),
    "posts_shown": ("posts", "AFTER UPDATE OF hidden", SHOWN, "version"),
    "comments_hidden": ("comments", "AFTER UPDATE OF hidden", HIDDEN, "removals"),
    "comments_shown": ("comments", "AFTER UPDATE OF hidden", SHOWN, "version"),
    "moderation_logged": ("moderation_actions", "AFTER INSERT", None, "version"),
    "users_role_changed": ("users", "AFTER UPDATE OF role", "NEW.role <> OLD.role", "version"),
    "users_suspended": (
        "users",
        "AFTER UPDATE OF suspended_until",
        "NEW.suspended_until IS NOT NULL",
        "removals",
    ),
    "users_unsuspended": (
        "users",
        "AFTER UPDATE OF suspended_until",
        "OLD.suspended_until IS NOT NULL AND NEW.suspended_until IS NULL",
        "version",
    ),
}

LIVE_HIDDEN_POSTGRES = """
CREATE FUNCTION agora_live_post_hidden() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agora_live_send(json_build_object('t', 'deleted', 'id', NEW.id)::text);
    RETURN NULL;
END
$$
"""


# A like's check of the post (migration 0011's function, same signature): a
# post hidden by moderators or reports, or by a suspended person, is refused
# like a missing one, to everyone but its author.
CHANGE_LIKE_CHECK_0011 = """
    SELECT owner_id, published INTO v_owner, v_published
    FROM posts WHERE id = p_post FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT (v_published OR v_owner = p_user) THEN"""
CHANGE_LIKE_CHECK = """
    SELECT owner_id, published AND hidden IS NULL AND NOT EXISTS (
        SELECT 1 FROM users WHERE users.id = posts.owner_id AND users.suspended_until > now()
    ) INTO v_owner, v_published
    FROM posts WHERE id = p_post FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT (v_published OR v_owner = p_user) THEN"""


def _change_like(check: str) -> str:
    """Migration 0011's `agora_change_like`, its check of the post replaced."""
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    spec = spec_from_file_location("writes_alone", Path(__file__).with_name("0011_writes_alone.py"))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    original: str = module.CHANGE_LIKE
    assert CHANGE_LIKE_CHECK_0011 in original, "agora_change_like changed since 0011"
    replaced = original.replace(CHANGE_LIKE_CHECK_0011, check)
    return replaced.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


# A report on something deleted goes with it, whichever commits first: a
# report that waited for the deletion finds nothing (`webapp.rules.reports`).
REPORTS_GO = {"posts": "post", "comments": "comment", "users": "user"}

REPORTS_GO_POSTGRES = """
CREATE FUNCTION agora_reports_go() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM reports WHERE target_type = TG_ARGV[0] AND target_id = OLD.id;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("role", sa.String(length=10), server_default="member", nullable=False)
    )
    for table in ("posts", "comments"):
        op.add_column(table, sa.Column("hidden", sa.String(length=10), nullable=True))
        op.add_column(table, sa.Column("hidden_reason", sa.String(length=500), nullable=True))
    op.add_column("users", sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("suspension_reason", sa.String(length=500), nullable=True))
    op.create_index(
        "ix_users_suspended",
        "users",
        ["suspended_until"],
        postgresql_where=sa.text("suspended_until IS NOT NULL"),
        sqlite_where=sa.text("suspended_until IS NOT NULL"),
    )
    op.create_table(
        "suspension_ends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_suspension_ends_ends_at", "suspension_ends", ["ends_at"])
    op.add_column("notifications", sa.Column("action", sa.String(length=10), nullable=True))
    op.add_column("notifications", sa.Column("reason", sa.String(length=500), nullable=True))
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_reports_open",
        "reports",
        ["reporter_id", "target_type", "target_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
        sqlite_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_reports_target", "reports", ["target_type", "target_id", "status"])
    op.create_index("ix_reports_status", "reports", ["status", "created_at", "id"])
    op.create_index("ix_reports_reporter", "reports", ["reporter_id", "created_at"])
    op.create_table(
        "moderation_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=True),
        sa.Column("moderator_name", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("target_label", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["moderator_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_moderation_actions_newest", "moderation_actions", ["created_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        _triggers_postgresql()
    else:
        _triggers_sqlite()


def _triggers_postgresql() -> None:
    for name, (table, event, condition, which) in VERSION_TRIGGERS.items():
        when = f"WHEN ({condition}) " if condition else ""
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} {event} ON {table} "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when}"
            f"EXECUTE FUNCTION agora_bump_version_once('{which}')"
        )
    op.execute(_change_like(CHANGE_LIKE_CHECK))
    op.execute(LIVE_HIDDEN_POSTGRES)
    op.execute(REPORTS_GO_POSTGRES)
    for table, kind in REPORTS_GO.items():
        op.execute(
            f"CREATE TRIGGER {table}_reports_go AFTER DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION agora_reports_go('{kind}')"
        )
    op.execute(
        "CREATE TRIGGER live_post_hidden AFTER UPDATE OF hidden ON posts FOR EACH ROW "
        f"WHEN (NEW.published AND {HIDDEN}) EXECUTE FUNCTION agora_live_post_hidden()"
    )


def _triggers_sqlite() -> None:
    for name, (table, event, condition, which) in VERSION_TRIGGERS.items():
        when = f"WHEN {condition} " if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} {event} ON {table} {when}"
            f"BEGIN UPDATE site_state SET {which} = {which} + 1 WHERE id = 1; END"
        )
    for table, kind in REPORTS_GO.items():
        op.execute(
            f"CREATE TRIGGER {table}_reports_go AFTER DELETE ON {table} BEGIN "
            f"DELETE FROM reports WHERE target_type = '{kind}' AND target_id = OLD.id; END"
        )
    op.execute(
        "CREATE TRIGGER live_post_hidden AFTER UPDATE OF hidden ON posts "
        f"WHEN NEW.published AND {HIDDEN} BEGIN "
        "INSERT INTO live_events (payload, created_at) "
        "VALUES (json_object('t', 'deleted', 'id', NEW.id), julianday('now')); END"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, (table, *_rest) in VERSION_TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    op.execute("DROP TRIGGER live_post_hidden ON posts" if postgres else "DROP TRIGGER live_post_hidden")
    for table in REPORTS_GO:
        name = f"{table}_reports_go"
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        op.execute("DROP FUNCTION agora_reports_go()")
    if postgres:
        op.execute("DROP FUNCTION agora_live_post_hidden()")
        op.execute(_change_like(CHANGE_LIKE_CHECK_0011))
    op.drop_table("suspension_ends")
    op.drop_index("ix_users_suspended", "users")
    op.drop_column("users", "suspension_reason")
    op.drop_column("users", "suspended_until")
    op.drop_table("moderation_actions")
    op.drop_table("reports")
    op.drop_column("notifications", "reason")
    op.drop_column("notifications", "action")
    for table in ("comments", "posts"):
        op.drop_column(table, "hidden_reason")
        op.drop_column(table, "hidden")
    op.drop_column("users", "role")
