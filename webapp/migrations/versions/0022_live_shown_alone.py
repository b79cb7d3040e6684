"""live events of what is hidden reach its post's owner alone; blocks and
mutes made while sockets are open

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-10 10:00:00

A socket may have subscribed to a post before it was hidden, or before its
author was suspended; the hub (`webapp.live.hub`) sends an event for a post
that is not `published` to its owner's sockets alone. So `published` in a
payload now means what everyone may see: published, not hidden, by someone
not suspended now. Of a comment (`comment`), also: written by someone not
suspended now, and shown (not hidden) on the side of the change that
readers saw or will see. A post of that kind published again (`created`)
is announced to nobody. Its `deleted` goes to everyone as before: it takes
away, and tells nothing new.

A block or a mute made or taken back is `shield` with the id of the person
who made it: the workers holding that person's sockets read again whose new
posts not to announce to them (`post.created`), before the next one.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

from webapp.core.db import earlier_migration

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whether a person is not suspended now (as `webapp.rules.suspensions`
# compares, with the database's clock).
ACTIVE_POSTGRES = """
CREATE FUNCTION agora_active(p_user integer) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM users WHERE id = p_user AND suspended_until > CURRENT_TIMESTAMP
    )
$$
"""

LIVE_POSTS = """
        DECLARE
            payload json;
            v_shown boolean;
        BEGIN
            IF current_setting('agora.quiet', true) = 'on' THEN
                RETURN NULL;  -- the seed's bulk rows: nobody watches them arrive
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.published AND NEW.hidden IS NULL AND agora_active(NEW.owner_id) THEN
                    payload := json_build_object('t', 'created', 'id', NEW.id, 'author', NEW.owner_id);
                END IF;
            ELSIF TG_OP = 'DELETE' THEN
                IF OLD.published THEN
                    payload := json_build_object('t', 'deleted', 'id', OLD.id);
                END IF;
            ELSIF NEW.published IS DISTINCT FROM OLD.published THEN
                IF NOT NEW.published THEN
                    payload := json_build_object('t', 'deleted', 'id', NEW.id);
                ELSIF NEW.hidden IS NULL AND agora_active(NEW.owner_id) THEN
                    payload := json_build_object('t', 'created', 'id', NEW.id, 'author', NEW.owner_id);
                END IF;
            ELSIF NEW.votes IS DISTINCT FROM OLD.votes OR NEW.comments IS DISTINCT FROM OLD.comments THEN
                v_shown := NEW.published AND NEW.hidden IS NULL AND agora_active(NEW.owner_id);
                payload := json_build_object(
                    't', 'changed', 'id', NEW.id, 'votes', NEW.votes, 'comments', NEW.comments,
                    'owner', NEW.owner_id, 'published', v_shown
                );
            END IF;
            IF payload IS NOT NULL THEN
                PERFORM agora_live_send(payload::text);
            END IF;
            RETURN NULL;
        END
    """

LIVE_ANNOUNCE = """
CREATE OR REPLACE FUNCTION agora_live_announce(p_events text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    payload text;
    event json;
    post record;
    v_shown boolean;
BEGIN
    -- It changes no data: nothing to wait for the disk for, and the server's
    -- lock on notifications is held for an instant.
    PERFORM set_config('synchronous_commit', 'off', true);
    FOREACH payload IN ARRAY string_to_array(p_events, chr(10)) LOOP
        event := payload::json;
        IF event->>'t' IN ('changed', 'created') THEN
            SELECT id, votes, comments, owner_id, published, hidden INTO post
            FROM posts WHERE id = (event->>'id')::integer FOR SHARE;
            CONTINUE WHEN NOT FOUND;  -- gone since: its deletion told everyone
            v_shown := post.published AND post.hidden IS NULL AND agora_active(post.owner_id);
            IF event->>'t' = 'created' THEN
                CONTINUE WHEN NOT v_shown;  -- a draft since (told as deleted), or hidden
                payload := json_build_object('t', 'created', 'id', post.id, 'author', post.owner_id)::text;
            ELSE
                payload := json_build_object(
                    't', 'changed', 'id', post.id, 'votes', post.votes,
                    'comments', post.comments, 'owner', post.owner_id, 'published', v_shown
                )::text;
            END IF;
        END IF;
        PERFORM pg_notify('agora_live', payload);
    END LOOP;
END
$$
"""

LIVE_COMMENTS = """
CREATE OR REPLACE FUNCTION agora_live_comments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_comment integer;
    v_post integer;
    v_author integer;
    v_op text;
    v_owner integer;
    v_shown boolean;
BEGIN
    IF current_setting('agora.quiet', true) = 'on' THEN
        RETURN NULL;  -- the seed's bulk rows: nobody watches them arrive
    END IF;
    IF TG_OP = 'INSERT' THEN
        v_comment := NEW.id; v_post := NEW.post_id; v_author := NEW.author_id; v_op := 'created';
        v_shown := NEW.hidden IS NULL;
    ELSIF TG_OP = 'DELETE' THEN
        v_comment := OLD.id; v_post := OLD.post_id; v_author := OLD.author_id; v_op := 'removed';
        v_shown := OLD.hidden IS NULL;
    ELSE
        IF NOT NEW.deleted OR OLD.deleted THEN
            RETURN NULL;
        END IF;
        v_comment := NEW.id; v_post := NEW.post_id; v_author := NEW.author_id; v_op := 'removed';
        v_shown := NEW.hidden IS NULL;
    END IF;
    SELECT owner_id, published AND hidden IS NULL AND v_shown
           AND agora_active(owner_id) AND agora_active(v_author)
    INTO v_owner, v_shown FROM posts WHERE id = v_post;
    IF NOT FOUND THEN
        RETURN NULL;  -- the post went, and its comments with it
    END IF;
    PERFORM agora_live_send(json_build_object(
        't', 'comment', 'op', v_op, 'id', v_comment, 'post', v_post,
        'owner', v_owner, 'published', v_shown
    )::text);
    RETURN NULL;
END
$$
"""

LIVE_COMMENT_HIDDEN = """
CREATE OR REPLACE FUNCTION agora_live_comment_hidden() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_owner integer;
    v_shown boolean;
BEGIN
    SELECT owner_id, published AND hidden IS NULL
           AND agora_active(owner_id) AND agora_active(NEW.author_id)
    INTO v_owner, v_shown FROM posts WHERE id = NEW.post_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM agora_live_send(json_build_object(
        't', 'comment', 'op', CASE WHEN NEW.hidden IS NULL THEN 'created' ELSE 'removed' END,
        'id', NEW.id, 'post', NEW.post_id, 'owner', v_owner, 'published', v_shown
    )::text);
    RETURN NULL;
END
$$
"""


LIVE_SHIELD = """
CREATE FUNCTION agora_live_shield() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_user integer;
BEGIN
    IF TG_TABLE_NAME = 'blocks' THEN
        IF TG_OP = 'DELETE' THEN v_user := OLD.blocker_id; ELSE v_user := NEW.blocker_id; END IF;
    ELSE
        IF TG_OP = 'DELETE' THEN v_user := OLD.muter_id; ELSE v_user := NEW.muter_id; END IF;
    END IF;
    PERFORM agora_live_send(json_build_object('t', 'shield', 'user', v_user)::text);
    RETURN NULL;
END
$$
"""
# table: the column of the person who blocks or mutes
SHIELDS = {"blocks": "blocker_id", "mutes": "muter_id"}


def _active(user: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM users WHERE users.id = {user} "
        "AND users.suspended_until > CURRENT_TIMESTAMP)"
    )


def _json_bool(condition: str) -> str:
    return f"json(CASE WHEN {condition} THEN 'true' ELSE 'false' END)"


def _event(*pairs: str) -> str:
    return (
        f"INSERT INTO live_events (payload, created_at) "
        f"VALUES (json_object({', '.join(pairs)}), julianday('now'));"
    )


NEW_POST_SHOWN = f"NEW.published AND NEW.hidden IS NULL AND {_active('NEW.owner_id')}"


def _comment_event(row: str, op_name: str, comment_shown: str) -> str:
    shown = (
        f"posts.published AND posts.hidden IS NULL AND {comment_shown} "
        f"AND {_active('posts.owner_id')} AND {_active(f'{row}.author_id')}"
    )
    return (
        "INSERT INTO live_events (payload, created_at) SELECT json_object("
        f"'t', 'comment', 'op', {op_name}, 'id', {row}.id, 'post', {row}.post_id, "
        f"'owner', posts.owner_id, 'published', {_json_bool(shown)}"
        f"), julianday('now') FROM posts WHERE posts.id = {row}.post_id;"
    )


# name: (the row event, what it does), replacing the trigger of that name.
SQLITE_TRIGGERS = {
    "live_post_created": (
        f"AFTER INSERT ON posts WHEN {NEW_POST_SHOWN}",
        _event("'t', 'created'", "'id', NEW.id", "'author', NEW.owner_id"),
    ),
    "live_post_published": (
        "AFTER UPDATE OF published ON posts WHEN NEW.published IS NOT OLD.published "
        f"AND (NOT NEW.published OR ({NEW_POST_SHOWN}))",
        _event(
            "'t', CASE WHEN NEW.published THEN 'created' ELSE 'deleted' END",
            "'id', NEW.id",
            "'author', NEW.owner_id",
        ),
    ),
    "live_post_changed": (
        "AFTER UPDATE OF votes, comments ON posts "
        "WHEN NEW.votes IS NOT OLD.votes OR NEW.comments IS NOT OLD.comments",
        _event(
            "'t', 'changed'",
            "'id', NEW.id",
            "'votes', NEW.votes",
            "'comments', NEW.comments",
            "'owner', NEW.owner_id",
            f"'published', {_json_bool(NEW_POST_SHOWN)}",
        ),
    ),
    "live_comment_created": (
        "AFTER INSERT ON comments",
        _comment_event("NEW", "'created'", "NEW.hidden IS NULL"),
    ),
    "live_comment_hidden": (
        "AFTER UPDATE OF deleted ON comments WHEN NEW.deleted AND NOT OLD.deleted",
        _comment_event("NEW", "'removed'", "NEW.hidden IS NULL"),
    ),
    "live_comment_deleted": (
        "AFTER DELETE ON comments",
        _comment_event("OLD", "'removed'", "OLD.hidden IS NULL"),
    ),
    "live_comment_hidden_flip": (
        "AFTER UPDATE OF hidden ON comments "
        "WHEN (OLD.hidden IS NULL) <> (NEW.hidden IS NULL)",
        _comment_event(
            "NEW", "CASE WHEN NEW.hidden IS NULL THEN 'created' ELSE 'removed' END", "1"
        ),
    ),
}



def _replace_trigger_function(name: str, body: str) -> None:
    op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ACTIVE_POSTGRES)
        _replace_trigger_function("agora_live_posts", LIVE_POSTS)
        op.execute(LIVE_ANNOUNCE)
        op.execute(LIVE_COMMENTS)
        op.execute(LIVE_COMMENT_HIDDEN)
        op.execute(LIVE_SHIELD)
        for table in SHIELDS:
            op.execute(
                f"CREATE TRIGGER {table}_live AFTER INSERT OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION agora_live_shield()"
            )
        return
    for name, (event, action) in SQLITE_TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name}")
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {action} END")
    for table, who in SHIELDS.items():
        for change, row in (("INSERT", "NEW"), ("DELETE", "OLD")):
            shield = _event("'t', 'shield'", f"'user', {row}.{who}")
            op.execute(
                f"CREATE TRIGGER live_{table}_{change.lower()} AFTER {change} ON {table} "
                f"BEGIN {shield} END"
            )


def downgrade() -> None:
    """The functions and triggers as migrations 0006, 0011, 0013 and 0018 left them."""
    live, writes, replies, moderation = (
        earlier_migration(name)
        for name in (
            "0006_live.py",
            "0011_writes_alone.py",
            "0013_replies.py",
            "0018_live_moderation.py",
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in SHIELDS:
            op.execute(f"DROP TRIGGER {table}_live ON {table}")
        op.execute("DROP FUNCTION agora_live_shield()")
        posts_body: str = live.POSTGRES_FUNCTIONS["agora_live_posts"]
        _replace_trigger_function(
            "agora_live_posts",
            posts_body.replace("PERFORM pg_notify('agora_live', ", "PERFORM agora_live_send("),
        )
        for created in (writes.LIVE_ANNOUNCE, replies.POSTGRES_LIVE, moderation.POSTGRES_COMMENT):
            op.execute(created.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
        op.execute("DROP FUNCTION agora_active(integer)")
        return
    for table in SHIELDS:
        for change in ("insert", "delete"):
            op.execute(f"DROP TRIGGER live_{table}_{change}")
    before: dict[str, tuple[str, str]] = {
        **{name: live.SQLITE_TRIGGERS[name] for name in SQLITE_TRIGGERS if name.startswith("live_post")},
        **{
            name: (event, action)
            for name, (event, action) in replies.SQLITE_TRIGGERS.items()
            if name in SQLITE_TRIGGERS
        },
    }
    for name, (event, action) in before.items():
        op.execute(f"DROP TRIGGER {name}")
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {action} END")
    op.execute("DROP TRIGGER live_comment_hidden_flip")
    op.execute(moderation.SQLITE_COMMENT)
