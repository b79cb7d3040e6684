"""posts and comments keep their rendered Markdown; posts carry tags

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:30:00

- `posts.content_html`, `posts.excerpt`, `posts.tags` and
  `comments.content_html`, `comments.excerpt`: the HTML made from the
  Markdown when it is written (`webapp.rules.markup`), its plain-text start,
  and a post's tags (separated by spaces). Existing rows are rendered here,
  their mentions linked to the accounts that exist now; nobody is notified.
- `post_tags(post_id, tag, published, created_at)`: each post's tags, with
  what a tag's page orders and filters by, so that the page walks one index.
- On PostgreSQL, `agora_new_post` takes the rendered HTML, the excerpt, the
  tags and the ids of the people a published post mentions, and writes the
  post, its tags and the mentions' notifications in its one statement.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from webapp.rules import markup

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500

NEW_POST = """
CREATE FUNCTION agora_new_post(
    p_title text, p_content text, p_published boolean, p_owner integer, p_at timestamptz,
    p_html text, p_excerpt text, p_tags text[], p_mentioned integer[],
    OUT post_id integer, OUT events text
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('agora.live_later', 'on', true);
    PERFORM set_config('agora.live_queue', '', true);
    INSERT INTO posts (
        title, content, published, owner_id, created_at, updated_at,
        content_html, excerpt, tags
    )
    VALUES (
        p_title, p_content, p_published, p_owner, p_at, p_at,
        p_html, p_excerpt, array_to_string(p_tags, ' ')
    )
    RETURNING posts.id INTO post_id;
    INSERT INTO post_tags (post_id, tag, published, created_at)
    SELECT post_id, tag, p_published, p_at FROM unnest(p_tags) AS tag;
    IF p_published THEN
        INSERT INTO notifications (recipient_id, kind, actor_id, post_id, comment_id, created_at, read)
        SELECT users.id, 'mention', p_owner, post_id, NULL, p_at, false
        FROM users WHERE users.id = ANY(p_mentioned) AND users.id <> p_owner;
    END IF;
    events := current_setting('agora.live_queue');
END
$$
"""

# 0011's, for the way down.
OLD_NEW_POST = """
CREATE FUNCTION agora_new_post(
    p_title text, p_content text, p_published boolean, p_owner integer, p_at timestamptz,
    OUT post_id integer, OUT events text
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('agora.live_later', 'on', true);
    PERFORM set_config('agora.live_queue', '', true);
    INSERT INTO posts (title, content, published, owner_id, created_at, updated_at)
    VALUES (p_title, p_content, p_published, p_owner, p_at, p_at)
    RETURNING posts.id INTO post_id;
    events := current_setting('agora.live_queue');
END
$$
"""


def _text_column(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), nullable=False, server_default="")


def upgrade() -> None:
    for name in ("content_html", "excerpt", "tags"):
        op.add_column("posts", _text_column(name))
    for name in ("content_html", "excerpt"):
        op.add_column("comments", _text_column(name))
    op.create_table(
        "post_tags",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "tag"),
    )
    op.create_index(
        "ix_post_tags_feed", "post_tags", ["tag", "published", "created_at", "post_id"]
    )
    op.create_index("ix_post_tags_recent", "post_tags", ["published", "created_at"])
    _render_posts()
    _render_comments()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION agora_new_post(text, text, boolean, integer, timestamptz)")
        op.execute(NEW_POST)


def _known(connection: sa.Connection, parsed: list[markup.Parsed]) -> dict[str, int]:
    names = sorted({name for one in parsed for name in one.mentions})
    if not names:
        return {}
    found = connection.execute(
        sa.text("SELECT id, lower(username) FROM users WHERE lower(username) IN :names").bindparams(
            sa.bindparam("names", expanding=True)
        ),
        {"names": names},
    )
    return {name: user_id for user_id, name in found}


def _render_posts() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT id, title, content, published, created_at FROM posts "
                "WHERE id > :after ORDER BY id LIMIT :batch"
            ),
            {"after": after, "batch": BATCH},
        ).all()
        if not rows:
            return
        parsed = [markup.parse(row.content, "post") for row in rows]
        known = _known(connection, parsed)
        changes, tags = [], []
        for row, one in zip(rows, parsed, strict=True):
            rendered = one.render(known)
            its_tags = markup.post_tags(row.title, one)
            changes.append(
                {
                    "id": row.id,
                    "html": rendered.html,
                    "excerpt": rendered.excerpt,
                    "tags": " ".join(its_tags),
                }
            )
            tags += [
                {"id": row.id, "tag": tag, "published": row.published, "at": row.created_at}
                for tag in its_tags
            ]
        connection.execute(
            sa.text(
                "UPDATE posts SET content_html = :html, excerpt = :excerpt, tags = :tags "
                "WHERE id = :id"
            ),
            changes,
        )
        if tags:
            connection.execute(
                sa.text(
                    "INSERT INTO post_tags (post_id, tag, published, created_at) "
                    "VALUES (:id, :tag, :published, :at)"
                ),
                tags,
            )
        after = rows[-1].id


def _render_comments() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.text("SELECT id, content FROM comments WHERE id > :after ORDER BY id LIMIT :batch"),
            {"after": after, "batch": BATCH},
        ).all()
        if not rows:
            return
        parsed = [markup.parse(row.content, "comment") for row in rows]
        known = _known(connection, parsed)
        changes = []
        for row, one in zip(rows, parsed, strict=True):
            rendered = one.render(known)
            changes.append({"id": row.id, "html": rendered.html, "excerpt": rendered.excerpt})
        connection.execute(
            sa.text("UPDATE comments SET content_html = :html, excerpt = :excerpt WHERE id = :id"),
            changes,
        )
        after = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION agora_new_post("
            "text, text, boolean, integer, timestamptz, text, text, text[], integer[])"
        )
        op.execute(OLD_NEW_POST)
    op.drop_index("ix_post_tags_recent", table_name="post_tags")
    op.drop_index("ix_post_tags_feed", table_name="post_tags")
    op.drop_table("post_tags")
    # Dropped in place (SQLite 3.35 and later can): a table made anew would
    # lose its triggers and its AUTOINCREMENT.
    for table, name in (
        ("comments", "excerpt"),
        ("comments", "content_html"),
        ("posts", "tags"),
        ("posts", "excerpt"),
        ("posts", "content_html"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
