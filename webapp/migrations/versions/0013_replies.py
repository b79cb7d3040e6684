"""replies, edits and deleted comments; live comment events

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:10:00

- `comments.parent_id`: the comment a reply answers (on the same post; a reply
  goes with it, by cascade); `root_id`: its thread's first comment; `path`:
  the ids from below that one down to the reply (6 base-36 characters each),
  so that a thread reads in one ordered statement. `edited_at`: when its author
  last changed its text. `deleted`: a "[deleted]" placeholder that keeps its
  replies in place (a comment deleted without replies is gone).
- Hiding a comment (a placeholder, or gone) and changing its text take
  something away from what readers saw: they move the `removals` version
  (migration 0010), as a comment's deletion does.
- Live events: `comment` with `op` `created` (a comment written) or `removed`
  (deleted, or made a placeholder), with the post's owner and whether
  it is published, so that a draft's comments reach its owner alone. A
  comment that goes with its post (a cascade) says nothing: the post's own
  `deleted` tells.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_LIVE = """
CREATE FUNCTION agora_live_comments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_comment integer;
    v_post integer;
    v_op text;
    v_owner integer;
    v_published boolean;
BEGIN
    IF current_setting('agora.quiet', true) = 'on' THEN
        RETURN NULL;  -- the seed's bulk rows: nobody watches them arrive
    END IF;
    IF TG_OP = 'INSERT' THEN
        v_comment := NEW.id; v_post := NEW.post_id; v_op := 'created';
    ELSIF TG_OP = 'DELETE' THEN
        v_comment := OLD.id; v_post := OLD.post_id; v_op := 'removed';
    ELSE
        IF NOT NEW.deleted OR OLD.deleted THEN
            RETURN NULL;
        END IF;
        v_comment := NEW.id; v_post := NEW.post_id; v_op := 'removed';
    END IF;
    SELECT owner_id, published INTO v_owner, v_published FROM posts WHERE id = v_post;
    IF NOT FOUND THEN
        RETURN NULL;  -- the post went, and its comments with it
    END IF;
    PERFORM agora_live_send(json_build_object(
        't', 'comment', 'op', v_op, 'id', v_comment, 'post', v_post,
        'owner', v_owner, 'published', v_published
    )::text);
    RETURN NULL;
END
$$
"""
POSTGRES_TRIGGERS = {
    "comments_live": "AFTER INSERT OR DELETE OR UPDATE OF deleted ON comments",
}


def _sqlite_event(row: str, op_name: str) -> str:
    return (
        "INSERT INTO live_events (payload, created_at) SELECT json_object("
        f"'t', 'comment', 'op', '{op_name}', 'id', {row}.id, 'post', {row}.post_id, "
        "'owner', posts.owner_id, "
        "'published', json(CASE WHEN posts.published THEN 'true' ELSE 'false' END)"
        f"), julianday('now') FROM posts WHERE posts.id = {row}.post_id;"
    )


SQLITE_TRIGGERS = {
    "live_comment_created": (
        "AFTER INSERT ON comments",
        _sqlite_event("NEW", "created"),
    ),
    "live_comment_hidden": (
        "AFTER UPDATE OF deleted ON comments WHEN NEW.deleted AND NOT OLD.deleted",
        _sqlite_event("NEW", "removed"),
    ),
    "live_comment_deleted": (
        "AFTER DELETE ON comments",
        _sqlite_event("OLD", "removed"),
    ),
}

# What takes something away from readers, as migration 0010 counts it.
HIDDEN_WHEN = "(NEW.deleted AND NOT OLD.deleted) OR NEW.content <> OLD.content"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "comments",
            sa.Column(
                "parent_id",
                sa.Integer(),
                sa.ForeignKey("comments.id", ondelete="CASCADE"),
                nullable=True,
            ),
        )
    else:
        op.add_column("comments", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.add_column("comments", sa.Column("root_id", sa.Integer(), nullable=True))
    op.add_column(
        "comments",
        sa.Column("path", sa.String(), server_default="", nullable=False),
    )
    op.add_column("comments", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "comments", sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_index("ix_comments_parent", "comments", ["parent_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_LIVE)
        for name, event in POSTGRES_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {event} FOR EACH ROW EXECUTE FUNCTION agora_live_comments()"
            )
        op.execute(
            "CREATE CONSTRAINT TRIGGER comments_taken_back AFTER UPDATE OF deleted, content "
            "ON comments DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"WHEN ({HIDDEN_WHEN}) EXECUTE FUNCTION agora_bump_version_once('removals')"
        )
        return
    _reference_parent_sqlite()
    for name, (event, action) in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {action} END")
    op.execute(
        "CREATE TRIGGER comments_taken_back AFTER UPDATE OF deleted, content ON comments "
        f"WHEN {HIDDEN_WHEN} "
        "BEGIN UPDATE site_state SET removals = removals + 1 WHERE id = 1; END"
    )


def _reference_parent_sqlite() -> None:
    """SQLite adds no table constraint to a table (and reads a column's own
    REFERENCES back without its ON DELETE): the table is made anew with it,
    its rows copied, and its indexes and the schema's triggers made again, as
    migration 0010 does (the runner turns foreign keys off meanwhile)."""
    bind = op.get_bind()
    (create,) = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'comments'"
    ).one()
    indexes = _schema_sql(bind, "index", "comments")
    triggers = _schema_sql(bind, "trigger", None)
    for sql in triggers:
        name = sql.split()[2]
        op.execute(f"DROP TRIGGER {name}")
    head, tail = create.rsplit(")", 1)
    if tail.strip() or not head.startswith("CREATE TABLE "):
        raise RuntimeError(f"unexpected schema of comments: {create}")
    new = head.replace('CREATE TABLE "comments" (', "CREATE TABLE comments_new (", 1)
    new = new.replace("CREATE TABLE comments (", "CREATE TABLE comments_new (", 1)
    if "comments_new" not in new:
        raise RuntimeError(f"unexpected schema of comments: {create}")
    op.execute(
        new + ", \n\tFOREIGN KEY(parent_id) REFERENCES comments (id) ON DELETE CASCADE\n)"
    )
    op.execute("INSERT INTO comments_new SELECT * FROM comments")
    op.execute("DROP TABLE comments")
    op.execute("ALTER TABLE comments_new RENAME TO comments")
    for sql in indexes + triggers:
        op.execute(sql)


def _schema_sql(bind: sa.Connection, kind: str, table: str | None) -> list[str]:
    query = "SELECT sql FROM sqlite_master WHERE type = ? AND sql IS NOT NULL"
    params: tuple[str, ...] = (kind,)
    if table is not None:
        query += " AND tbl_name = ?"
        params += (table,)
    return [sql for (sql,) in bind.exec_driver_sql(query + " ORDER BY rowid", params).fetchall()]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER comments_taken_back ON comments")
        for name in POSTGRES_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON comments")
        op.execute("DROP FUNCTION agora_live_comments()")
    else:
        op.execute("DROP TRIGGER comments_taken_back")
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    # What a downgraded schema cannot hold: replies and placeholders go.
    op.execute("DELETE FROM comments WHERE parent_id IS NOT NULL OR deleted")
    op.drop_index("ix_comments_parent", "comments")
    bind = op.get_bind()
    # SQLite makes the table anew to drop a column with a foreign key, and its
    # triggers go with the old one: they are made again as they were.
    triggers = []
    if bind.dialect.name == "sqlite":
        triggers = [
            sql
            for (sql,) in bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'comments'"
            ).fetchall()
        ]
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("deleted")
        batch.drop_column("edited_at")
        batch.drop_column("path")
        batch.drop_column("root_id")
        batch.drop_column("parent_id")
    for sql in triggers:
        op.execute(sql)
