"""what takes something away moves a version of its own; SQLite ids never come back

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:00:00

`site_state.removals` moves with every change that takes something away from
what strangers may see: a published post deleted or made a draft, a comment
deleted, an account deleted. The page cache serves pages retired by other
changes for a moment more (its grace); a page retired by a removal, never
(`webapp.core.page_cache`). On PostgreSQL it moves at commit, once a
transaction, as the other versions do (migration 0008).

SQLite gives a new row the largest id plus one, so the id of the newest row,
once deleted, went to the next row: a new session got a swept session's id
(and its socket was closed by the old one's "ended" event), a new post a
deleted post's. Sessions, posts, comments and notifications are rebuilt with
AUTOINCREMENT, which never hands an id out twice. SQLite cannot add it to a
table: each is made anew, its rows copied, and its indexes and every trigger
of the schema made again as they were (a trigger goes with its table, and
renaming a table checks the triggers that name it). The migrations runner
turns foreign keys off for this on SQLite (`webapp.core.db.migrate`), as
SQLite's own procedure for changing a table says, and checks them before it
commits. PostgreSQL's sequences never reuse an id: nothing to do there.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (table, the row event, when the row took something away)
REMOVALS = {
    "posts_removed": ("posts", "AFTER DELETE", "OLD.published"),
    "posts_unpublished": (
        "posts",
        "AFTER UPDATE OF published",
        "OLD.published AND NOT NEW.published",
    ),
    "comments_removed": ("comments", "AFTER DELETE", None),
    "users_removed": ("users", "AFTER DELETE", None),
}
# Parents before children: each copy's foreign keys find their rows.
AUTOINCREMENT_TABLES = ("posts", "comments", "notifications", "sessions")

BUMP_ONCE = """
CREATE OR REPLACE FUNCTION agora_bump_version_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Once a transaction for each of 'version', 'likes' and 'removals'.
    IF current_setting('agora.moved_' || TG_ARGV[0], true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('agora.moved_' || TG_ARGV[0], 'on', true);
    PERFORM agora_move_version(TG_ARGV[0]);
    RETURN NULL;
END
$$
"""
BUMP_STATEMENT = """
CREATE OR REPLACE FUNCTION agora_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agora_move_version(TG_ARGV[0]);
    RETURN NULL;
END
$$
"""
# An upsert, so that emptying site_state (as the tests do) cannot stop it.
MOVE = """
CREATE FUNCTION agora_move_version(which text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF which = 'likes' THEN
        INSERT INTO site_state (id, version, likes, removals) VALUES (1, 0, 1, 0)
        ON CONFLICT (id) DO UPDATE SET likes = site_state.likes + 1;
    ELSIF which = 'removals' THEN
        INSERT INTO site_state (id, version, likes, removals) VALUES (1, 0, 0, 1)
        ON CONFLICT (id) DO UPDATE SET removals = site_state.removals + 1;
    ELSE
        INSERT INTO site_state (id, version, likes, removals) VALUES (1, 1, 0, 0)
        ON CONFLICT (id) DO UPDATE SET version = site_state.version + 1;
    END IF;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "site_state", sa.Column("removals", sa.Integer(), server_default="0", nullable=False)
    )
    if op.get_bind().dialect.name == "postgresql":
        _removal_triggers_postgresql()
    else:
        _removal_triggers_sqlite()
        for table in AUTOINCREMENT_TABLES:
            _rebuild_with_autoincrement(table)


def _removal_triggers_postgresql() -> None:
    op.execute(MOVE)
    op.execute(BUMP_ONCE)
    op.execute(BUMP_STATEMENT)
    for name, (table, event, condition) in REMOVALS.items():
        when = f"WHEN ({condition}) " if condition else ""
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} {event} ON {table} "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when}"
            "EXECUTE FUNCTION agora_bump_version_once('removals')"
        )
    for table in ("posts", "comments", "users"):
        op.execute(
            f"CREATE TRIGGER {table}_removed_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION agora_bump_version('removals')"
        )


def _removal_triggers_sqlite() -> None:
    for name, (table, event, condition) in REMOVALS.items():
        when = f"WHEN {condition} " if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} {event} ON {table} {when}"
            "BEGIN UPDATE site_state SET removals = removals + 1 WHERE id = 1; END"
        )


def _rebuild_with_autoincrement(table: str) -> None:
    """SQLite's way to change a table: make the new one, copy, drop, rename;
    then its indexes and every trigger again, from the schema's own text."""
    bind = op.get_bind()
    (create,) = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).one()
    indexes = _schema_sql(bind, "index", table)
    triggers = _schema_sql(bind, "trigger", None)
    for (name,) in bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    ).fetchall():
        op.execute(f'DROP TRIGGER "{name}"')
    new = create.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}_new (", 1)
    new = re.sub(r"\bid INTEGER NOT NULL,", "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", new)
    new = re.sub(r"\s*PRIMARY KEY \(id\),", "", new)
    if "AUTOINCREMENT" not in new or "PRIMARY KEY (id)" in new:
        raise RuntimeError(f"unexpected schema of {table}: {create}")
    op.execute(new)
    op.execute(f"INSERT INTO {table}_new SELECT * FROM {table}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
    for statement in indexes + triggers:
        op.execute(statement)


def _schema_sql(bind: sa.Connection, kind: str, table: str | None) -> list[str]:
    # Indexes that SQLite makes itself (UNIQUE columns) have no text: they
    # come back with the table.
    query = "SELECT sql FROM sqlite_master WHERE type = ? AND sql IS NOT NULL"
    params: tuple[str, ...] = (kind,)
    if table is not None:
        query += " AND tbl_name = ?"
        params += (table,)
    return [sql for (sql,) in bind.exec_driver_sql(query + " ORDER BY rowid", params).fetchall()]


def downgrade() -> None:
    # The tables keep AUTOINCREMENT: ids that are never reused harm nothing.
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _, _) in REMOVALS.items():
            op.execute(f"DROP TRIGGER {name} ON {table}")
        for table in ("posts", "comments", "users"):
            op.execute(f"DROP TRIGGER {table}_removed_truncate ON {table}")
    else:
        for name in REMOVALS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_column("site_state", "removals")
    if op.get_bind().dialect.name == "postgresql":
        # 0008's and 0003's functions as they were, which know two versions.
        op.execute(
            BUMP_ONCE.replace("PERFORM agora_move_version(TG_ARGV[0]);", LEGACY_MOVE).replace(
                "'version', 'likes' and 'removals'", "'version' and 'likes'"
            )
        )
        op.execute(BUMP_STATEMENT.replace("PERFORM agora_move_version(TG_ARGV[0]);", LEGACY_MOVE))
        op.execute("DROP FUNCTION agora_move_version(text)")


LEGACY_MOVE = """
    IF TG_ARGV[0] = 'likes' THEN
        INSERT INTO site_state (id, version, likes) VALUES (1, 0, 1)
        ON CONFLICT (id) DO UPDATE SET likes = site_state.likes + 1;
    ELSE
        INSERT INTO site_state (id, version, likes) VALUES (1, 1, 0)
        ON CONFLICT (id) DO UPDATE SET version = site_state.version + 1;
    END IF;"""
