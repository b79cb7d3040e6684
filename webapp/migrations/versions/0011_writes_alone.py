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
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# More rows than the commits that can be under way at once in practice (a
# commit holds its row only while it commits); each read sums them all.
SHARDS = 32

LIKE = """
CREATE FUNCTION agora_like(p_post integer, p_user integer, p_change text, p_at timestamptz)
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(LIKE)
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
