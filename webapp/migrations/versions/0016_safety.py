"""personal safety: blocks, mutes, hourly posting limits, confirmed addresses

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09 10:00:00

- `blocks(blocker_id, blocked_id)` and `mutes(muter_id, muted_id)`, one row a
  pair, never oneself (`webapp.rules.safety`).
- `users.email_confirmed`: the accounts already there predate the rule and
  count as confirmed.
- `ix_comments_author` gains `created_at`: the hourly comment limit counts an
  author's last hour from it.
- A notification whose recipient blocks or mutes its actor is never written:
  a trigger before the insert drops the row, whichever statement writes it (a
  page, the API, `agora_like`, `agora_new_post`), so the rule has one place.
  A moderator's notification is not silenced.
- PostgreSQL: `agora_change_like` refuses (NULL, a 404) a like between two
  people when either blocks the other (taking a like back still works);
  `agora_new_post` takes the hourly limit and, past it, writes nothing and
  answers how many seconds until one more may be made. It counts after
  locking the owner's row, so racing posts of one person count one after
  another.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SILENCED = (
    "NEW.kind <> 'moderation' AND ("
    "EXISTS (SELECT 1 FROM blocks WHERE blocker_id = NEW.recipient_id AND blocked_id = NEW.actor_id)"
    " OR EXISTS (SELECT 1 FROM mutes WHERE muter_id = NEW.recipient_id AND muted_id = NEW.actor_id))"
)

SILENCE_POSTGRES = f"""
CREATE FUNCTION agora_notification_silenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF {SILENCED} THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$
"""

LIKE_INSERT = """
    INSERT INTO votes (user_id, post_id, created_at) VALUES (p_user, p_post, p_at)"""
LIKE_INSERT_UNLESS_BLOCKED = """
    IF EXISTS (
        SELECT 1 FROM blocks
        WHERE (blocker_id = v_owner AND blocked_id = p_user)
           OR (blocker_id = p_user AND blocked_id = v_owner)
    ) THEN
        RETURN NULL;
    END IF;""" + LIKE_INSERT

NEW_POST_0012_ARGS = "text, text, boolean, integer, timestamptz, text, text, text[], integer[]"

NEW_POST = """
CREATE FUNCTION agora_new_post(
    p_title text, p_content text, p_published boolean, p_owner integer, p_at timestamptz,
    p_html text, p_excerpt text, p_tags text[], p_mentioned integer[], p_per_hour integer,
    OUT post_id integer, OUT events text, OUT retry_after integer
) LANGUAGE plpgsql AS $$
DECLARE
    v_made integer;
    v_oldest timestamptz;
BEGIN
    IF p_per_hour > 0 THEN
        -- Racing posts of one person count one after another.
        PERFORM 1 FROM users WHERE id = p_owner FOR NO KEY UPDATE;
        SELECT count(*), min(created_at) INTO v_made, v_oldest FROM (
            SELECT created_at FROM posts
            WHERE owner_id = p_owner AND created_at > p_at - interval '1 hour'
            ORDER BY created_at DESC LIMIT p_per_hour
        ) AS recent;
        IF v_made >= p_per_hour THEN
            retry_after := greatest(
                1, ceil(extract(epoch FROM v_oldest + interval '1 hour' - p_at))::integer
            );
            RETURN;
        END IF;
    END IF;
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


def _load(name: str) -> object:
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    spec = spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _change_like(blocked: bool) -> str:
    """Migration 0015's `agora_change_like`, with the block check or without."""
    moderation: object = _load("0015_moderation")
    original: str = moderation._change_like(moderation.CHANGE_LIKE_CHECK)  # type: ignore[attr-defined]
    assert LIKE_INSERT in original, "agora_change_like changed since 0015"
    return original.replace(LIKE_INSERT, LIKE_INSERT_UNLESS_BLOCKED) if blocked else original


def _pair_table(name: str, who: str, whom: str) -> None:
    op.create_table(
        name,
        sa.Column(who, sa.Integer(), nullable=False),
        sa.Column(whom, sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"{who} <> {whom}", name=f"ck_{name}_not_self"),
        sa.ForeignKeyConstraint([who], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint([whom], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(who, whom),
    )


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_confirmed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute("UPDATE users SET email_confirmed = true")
    _pair_table("blocks", "blocker_id", "blocked_id")
    op.create_index("ix_blocks_blocked", "blocks", ["blocked_id", "blocker_id"])
    _pair_table("mutes", "muter_id", "muted_id")
    op.drop_index("ix_comments_author", table_name="comments")
    op.create_index("ix_comments_author", "comments", ["author_id", "created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SILENCE_POSTGRES)
        op.execute(
            "CREATE TRIGGER notifications_silenced BEFORE INSERT ON notifications "
            "FOR EACH ROW EXECUTE FUNCTION agora_notification_silenced()"
        )
        op.execute(_change_like(blocked=True))
        op.execute(f"DROP FUNCTION agora_new_post({NEW_POST_0012_ARGS})")
        op.execute(NEW_POST)
    else:
        op.execute(
            "CREATE TRIGGER notifications_silenced BEFORE INSERT ON notifications "
            f"WHEN {SILENCED} BEGIN SELECT RAISE(IGNORE); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER notifications_silenced ON notifications")
        op.execute("DROP FUNCTION agora_notification_silenced()")
        op.execute(_change_like(blocked=False))
        op.execute(f"DROP FUNCTION agora_new_post({NEW_POST_0012_ARGS}, integer)")
        markdown: object = _load("0012_markdown")
        op.execute(markdown.NEW_POST)  # type: ignore[attr-defined]
    else:
        op.execute("DROP TRIGGER notifications_silenced")
    op.drop_index("ix_comments_author", table_name="comments")
    op.create_index("ix_comments_author", "comments", ["author_id"])
    op.drop_table("mutes")
    op.drop_index("ix_blocks_blocked", table_name="blocks")
    op.drop_table("blocks")
    op.execute("ALTER TABLE users DROP COLUMN email_confirmed")
