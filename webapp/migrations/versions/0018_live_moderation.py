"""live events of moderation: a comment hidden or shown again, a person
suspended or let back

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-09 10:00:00

- A comment hidden (by moderators or by reports) is `comment` `removed`, as a
  deletion is; shown again, `comment` `created`: open post pages drop it (or
  show "[removed by moderators]" in its place) and bring it back.
- A suspension, and its lifting, is `author` with the person's id and `op`
  `removed` or `created`: each worker finds what of theirs its sockets show
  (`webapp.live.hub`), since the person's posts and comments may be many. A
  suspension that ends by itself says nothing: nothing is written then.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT_FLIPPED = "(OLD.hidden IS NULL) <> (NEW.hidden IS NULL)"

POSTGRES_COMMENT = """
CREATE FUNCTION agora_live_comment_hidden() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_owner integer;
    v_published boolean;
BEGIN
    SELECT owner_id, published INTO v_owner, v_published FROM posts WHERE id = NEW.post_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM agora_live_send(json_build_object(
        't', 'comment', 'op', CASE WHEN NEW.hidden IS NULL THEN 'created' ELSE 'removed' END,
        'id', NEW.id, 'post', NEW.post_id, 'owner', v_owner, 'published', v_published
    )::text);
    RETURN NULL;
END
$$
"""

POSTGRES_AUTHOR = """
CREATE FUNCTION agora_live_author() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agora_live_send(json_build_object(
        't', 'author', 'op', CASE WHEN NEW.suspended_until IS NULL THEN 'created' ELSE 'removed' END,
        'user', NEW.id
    )::text);
    RETURN NULL;
END
$$
"""

SQLITE_COMMENT = (
    "CREATE TRIGGER live_comment_hidden_flip AFTER UPDATE OF hidden ON comments "
    f"WHEN {COMMENT_FLIPPED} BEGIN "
    "INSERT INTO live_events (payload, created_at) SELECT json_object("
    "'t', 'comment', 'op', CASE WHEN NEW.hidden IS NULL THEN 'created' ELSE 'removed' END, "
    "'id', NEW.id, 'post', NEW.post_id, 'owner', posts.owner_id, "
    "'published', json(CASE WHEN posts.published THEN 'true' ELSE 'false' END)"
    "), julianday('now') FROM posts WHERE posts.id = NEW.post_id; END"
)

SQLITE_AUTHOR = (
    "CREATE TRIGGER live_author_suspended AFTER UPDATE OF suspended_until ON users "
    "WHEN NEW.suspended_until IS NOT OLD.suspended_until BEGIN "
    "INSERT INTO live_events (payload, created_at) VALUES (json_object("
    "'t', 'author', "
    "'op', CASE WHEN NEW.suspended_until IS NULL THEN 'created' ELSE 'removed' END, "
    "'user', NEW.id), julianday('now')); END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_COMMENT)
        op.execute(POSTGRES_AUTHOR)
        op.execute(
            "CREATE TRIGGER comments_live_hidden AFTER UPDATE OF hidden ON comments "
            f"FOR EACH ROW WHEN ({COMMENT_FLIPPED}) "
            "EXECUTE FUNCTION agora_live_comment_hidden()"
        )
        op.execute(
            "CREATE TRIGGER users_live_suspended AFTER UPDATE OF suspended_until ON users "
            "FOR EACH ROW WHEN (NEW.suspended_until IS DISTINCT FROM OLD.suspended_until) "
            "EXECUTE FUNCTION agora_live_author()"
        )
        return
    op.execute(SQLITE_COMMENT)
    op.execute(SQLITE_AUTHOR)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER users_live_suspended ON users")
        op.execute("DROP TRIGGER comments_live_hidden ON comments")
        op.execute("DROP FUNCTION agora_live_author()")
        op.execute("DROP FUNCTION agora_live_comment_hidden()")
        return
    op.execute("DROP TRIGGER live_author_suspended")
    op.execute("DROP TRIGGER live_comment_hidden_flip")
