"""a like in one statement; the data versions spread over rows that writers do not queue on

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 22:10:00

PostgreSQL only; SQLite has one writer at a time anyway, and keeps its one row.

- `agora_like(post, user, change, at)` runs a like's unit of work inside the
  database: the post's row locked first (FOR NO KEY UPDATE, the lock order of
  `webapp.rules.likes`), then the like's row added or removed, the kept count
  moved, and the owner's notification written or taken back. Called as one
  autocommitted statement it is one round trip instead of seven (BEGIN, five
  statements, COMMIT), and it holds the post's lock for no round trip at all.
  Each statement in a PL/pgSQL function takes a snapshot of its own, as the
  statements sent one by one did: a like that waited for the post's lock sees
  what the holder committed (a data-modifying CTE would not: its one snapshot
  is taken before the wait).
- `site_state` holds SHARDS rows instead of one, and the data versions are the
  sums of its columns: every write moved the one row at its commit, so every
  writer in the site queued on it. A transaction now moves the first row that
  no other commit holds (SKIP LOCKED), in an order that starts from a row of
  its own backend's; only when every row is held does it wait, on its own.
  Each row only grows, inside the transaction that changes the data, so the
  sums only grow and move exactly when a change commits: a reader that reads
  the versions and then the data can never label older data with newer
  versions. (Readers of the one row `id = 1` would miss changes: every reader
  is in this code, and reads the sums.)
- A like's live events, and a new post's, are sent after its commit, not in it. PostgreSQL
  serializes every transaction that notifies, from its commit's start until
  it has ended, through one lock for the whole server, so every like waited
  for the disk flush of every other. The live triggers now hand their payload
  to `agora_live_send`, which sends it at once as before, or, in a transaction
  that asked for it (`agora.live_later`), holds it back in `agora.live_queue`;
  `agora_like` and `agora_new_post` (the post's INSERT) ask for it and return
  what was held back, and the app gives
  that to `agora_live_announce` as soon as the like is answered by the
  database: a transaction of its own that does not wait for the disk (it
  changes no data), so it holds the lock for an instant. Counts may no longer
  arrive in the order of the commits that made them, so the announcement
  does not send the counts it was given: it reads the post's row, under a
  share lock that a later change of the post waits for, and sends what the
  row says then (nothing for a post gone, no `created` for a post made a
  draft since). Whatever order two announcements
  of one post take, the last one sent holds the latest counts. Everything
  else (the other writes, a cascade, a statement at a SQL prompt) notifies in
  its own transaction as before.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# More rows than the commits that can be under way at once in practice (a
# commit holds its row only while it commits); each read sums them all.
SHARDS = 32

CHANGE_LIKE = """
CREATE FUNCTION agora_change_like(p_post integer, p_user integer, p_change text, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
-- p_change 'add': true when the like went in, false when it was there;
-- 'remove': true when it was taken back, false when there was none;
-- 'toggle': true when the post is now liked.
-- NULL: no such post, or a draft the user may not see.
DECLARE
    v_owner integer;
    v_published boolean;
BEGIN
    SELECT owner_id, published INTO v_owner, v_published
    FROM posts WHERE id = p_post FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT (v_published OR v_owner = p_user) THEN
        RETURN NULL;
    END IF;
    IF p_change <> 'add' THEN
        DELETE FROM votes WHERE user_id = p_user AND post_id = p_post;
        IF FOUND THEN
            UPDATE posts SET votes = votes - 1 WHERE id = p_post;
            DELETE FROM notifications
            WHERE actor_id = p_user AND kind = 'like' AND recipient_id = v_owner
              AND post_id = p_post;
            RETURN p_change = 'remove';
        END IF;
        IF p_change = 'remove' THEN
            RETURN false;
        END IF;
    END IF;
    INSERT INTO votes (user_id, post_id, created_at) VALUES (p_user, p_post, p_at)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN p_change = 'toggle';
    END IF;
    UPDATE posts SET votes = votes + 1 WHERE id = p_post;
    IF v_owner <> p_user THEN  -- nobody is told of their own like
        INSERT INTO notifications (recipient_id, kind, actor_id, post_id, comment_id, created_at, read)
        VALUES (v_owner, 'like', p_user, p_post, NULL, p_at, false);
    END IF;
    RETURN true;
END
$$
"""

# Meant to be a statement, and a transaction, of its own: what it holds back
# is what the whole transaction's triggers described.
LIKE = """
CREATE FUNCTION agora_like(
    p_post integer, p_user integer, p_change text, p_at timestamptz,
    OUT done boolean, OUT events text
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('agora.live_later', 'on', true);
    PERFORM set_config('agora.live_queue', '', true);
    done := agora_change_like(p_post, p_user, p_change, p_at);
    events := current_setting('agora.live_queue');
END
$$
"""

NEW_POST = """
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

LIVE_SEND = """
CREATE FUNCTION agora_live_send(payload text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('agora.live_later', true) = 'on' THEN
        -- One payload a line: JSON of ids, counts and names, never a raw newline.
        PERFORM set_config(
            'agora.live_queue',
            coalesce(nullif(current_setting('agora.live_queue', true), '') || chr(10), '')
                || payload,
            true
        );
    ELSE
        PERFORM pg_notify('agora_live', payload);
    END IF;
END
$$
"""

LIVE_ANNOUNCE = """
CREATE FUNCTION agora_live_announce(p_events text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    payload text;
    event json;
    post record;
BEGIN
    -- It changes no data: nothing to wait for the disk for, and the server's
    -- lock on notifications is held for an instant.
    PERFORM set_config('synchronous_commit', 'off', true);
    FOREACH payload IN ARRAY string_to_array(p_events, chr(10)) LOOP
        event := payload::json;
        IF event->>'t' IN ('changed', 'created') THEN
            SELECT id, votes, comments, owner_id, published INTO post
            FROM posts WHERE id = (event->>'id')::integer FOR SHARE;
            CONTINUE WHEN NOT FOUND;  -- gone since: its deletion told everyone
            IF event->>'t' = 'created' THEN
                CONTINUE WHEN NOT post.published;  -- a draft since: told as deleted
                payload := json_build_object('t', 'created', 'id', post.id, 'author', post.owner_id)::text;
            ELSE
                payload := json_build_object(
                    't', 'changed', 'id', post.id, 'votes', post.votes,
                    'comments', post.comments, 'owner', post.owner_id, 'published', post.published
                )::text;
            END IF;
        END IF;
        PERFORM pg_notify('agora_live', payload);
    END LOOP;
END
$$
"""

MOVE_SHARDED = f"""
CREATE OR REPLACE FUNCTION agora_move_version(which text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    shard integer;
BEGIN
    SELECT id INTO shard FROM site_state
    ORDER BY (id + pg_backend_pid()) % {SHARDS}
    LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        -- Every row held by a commit: wait for the first. Or none there (an
        -- upsert, so that emptying site_state, as the tests do, cannot stop
        -- it; the migration made the others, and they do not come back).
        shard := 1;
        INSERT INTO site_state (id, version, likes, removals) VALUES (1, 0, 0, 0)
        ON CONFLICT (id) DO NOTHING;
    END IF;
    IF which = 'likes' THEN
        UPDATE site_state SET likes = likes + 1 WHERE id = shard;
    ELSIF which = 'removals' THEN
        UPDATE site_state SET removals = removals + 1 WHERE id = shard;
    ELSE
        UPDATE site_state SET version = version + 1 WHERE id = shard;
    END IF;
END
$$
"""

# 0010's, for the way down.
MOVE_ONE_ROW = """
CREATE OR REPLACE FUNCTION agora_move_version(which text) RETURNS void LANGUAGE plpgsql AS $$
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


def _live_functions() -> dict[str, str]:
    """Migration 0006's trigger functions, as it wrote them."""
    path = Path(__file__).with_name("0006_live.py")
    spec = importlib.util.spec_from_file_location("agora_migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions: dict[str, str] = module.POSTGRES_FUNCTIONS
    return {name: functions[name] for name in ("agora_live_posts", "agora_live_unread")}


def _replace_function(name: str, body: str) -> None:
    op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(LIVE_SEND)
    for name, body in _live_functions().items():
        notify = "PERFORM pg_notify('agora_live', "
        assert notify in body
        _replace_function(name, body.replace(notify, "PERFORM agora_live_send("))
    op.execute(LIVE_ANNOUNCE)
    op.execute(CHANGE_LIKE)
    op.execute(LIKE)
    op.execute(NEW_POST)
    op.execute(
        "INSERT INTO site_state (id, version, likes, removals) "
        f"SELECT n, 0, 0, 0 FROM generate_series(1, {SHARDS}) AS n ON CONFLICT (id) DO NOTHING"
    )
    op.execute(MOVE_SHARDED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(MOVE_ONE_ROW)
    # The sums into the one row, so that no version goes back.
    op.execute(
        "INSERT INTO site_state (id, version, likes, removals) "
        "SELECT 1, coalesce(sum(version), 0), coalesce(sum(likes), 0), coalesce(sum(removals), 0) "
        "FROM site_state ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
        "likes = excluded.likes, removals = excluded.removals"
    )
    op.execute("DELETE FROM site_state WHERE id <> 1")
    op.execute("DROP FUNCTION agora_like(integer, integer, text, timestamptz)")
    op.execute("DROP FUNCTION agora_change_like(integer, integer, text, timestamptz)")
    op.execute("DROP FUNCTION agora_new_post(text, text, boolean, integer, timestamptz)")
    op.execute("DROP FUNCTION agora_live_announce(text)")
    for name, body in _live_functions().items():
        _replace_function(name, body)
    op.execute("DROP FUNCTION agora_live_send(text)")
