"""a like and a new post check their caller themselves; `agora_active` keeps
its plan

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 21:00:00

PostgreSQL only (SQLite sends a write's statements one by one anyway).

- `agora_like` and `agora_new_post` take the caller's bearer token's stamp
  (`p_stamp`) and whether their address must be confirmed first
  (`p_must_confirm`, REQUIRE_CONFIRMED_EMAIL), and answer `caller`:
  `unknown` when no account has that id and that stamp (gone, or its stamp
  rotated by a password change, "log out everywhere else" or a suspension:
  a 401), `unconfirmed` when the address must be confirmed and is not (a
  403; taking a like back is never refused for it), NULL when the caller
  holds. A refused caller writes nothing. The API's like and new post were
  three round trips (the caller's row, the write, its live events); they
  are two now, the caller read in the write's own transaction. A `p_stamp`
  of NULL is a caller the app has checked already (a page's session): no
  check.
- `agora_new_post` answers the owner as the post shows them (`owner_*`),
  read from the row its caller check reads (locked, as before, when the
  hourly limit counts the owner's posts).
- `agora_active` (migration 0022) becomes PL/pgSQL: a SQL function whose body
  cannot be inlined (its EXISTS) was planned again at every call, which
  cost a like 60 µs of the database's time twice (its live event, and the
  announcement). PL/pgSQL keeps the plan for the session. Same answer.
- `posts` leaves a quarter of each page free (`fillfactor` 75). A like or a
  comment moves a count on its post's row, and PostgreSQL writes a new
  version of the row; in the same page, and no index touched (a HOT
  update), only where the page has room for it. A post's row is about
  1.7 KB (its text, its HTML, its search document), four to a full page: 30%
  of the likes on a freshly seeded copy found no room, and wrote an entry in
  each of the six indexes of `posts`, the full-text GIN one included; with
  the room, 3.5% (and 8% less of the database's time a like). The table
  takes a third more pages. Rows written from now on are laid out so (a
  seeded or restored database); `VACUUM FULL posts` lays out the ones there.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

from webapp.core.db import earlier_migration

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LIKE = "agora_like(integer, integer, text, timestamptz)"
OLD_NEW_POST = (
    "agora_new_post(text, text, boolean, integer, timestamptz, text, text, text[], integer[], integer)"
)
NEW_LIKE = "agora_like(integer, integer, text, boolean, text, timestamptz)"
NEW_NEW_POST = (
    "agora_new_post(text, text, boolean, integer, text, boolean, timestamptz, text, text, "
    "text[], integer[], integer)"
)

ACTIVE = """
CREATE OR REPLACE FUNCTION agora_active(p_user integer) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN NOT EXISTS (
        SELECT 1 FROM users WHERE id = p_user AND suspended_until > CURRENT_TIMESTAMP
    );
END
$$
"""

# How full PostgreSQL fills a page of `posts` (100 by default).
POSTS_FILLFACTOR = 75

# Meant to be a statement, and a transaction, of its own: what it holds back
# is what the whole transaction's triggers described.
LIKE = """
CREATE FUNCTION agora_like(
    p_post integer, p_user integer, p_stamp text, p_must_confirm boolean,
    p_change text, p_at timestamptz,
    OUT caller text, OUT done boolean, OUT events text
) LANGUAGE plpgsql AS $$
DECLARE
    v_confirmed boolean;
BEGIN
    IF p_stamp IS NOT NULL THEN
        SELECT email_confirmed INTO v_confirmed FROM users
        WHERE id = p_user AND security_stamp = p_stamp AND p_stamp <> '';
        IF NOT FOUND THEN
            caller := 'unknown';
            RETURN;
        END IF;
        IF p_must_confirm AND p_change <> 'remove' AND NOT v_confirmed THEN
            caller := 'unconfirmed';
            RETURN;
        END IF;
    END IF;
    PERFORM set_config('agora.live_later', 'on', true);
    PERFORM set_config('agora.live_queue', '', true);
    done := agora_change_like(p_post, p_user, p_change, p_at);
    events := current_setting('agora.live_queue');
END
$$
"""

NEW_POST = """
CREATE FUNCTION agora_new_post(
    p_title text, p_content text, p_published boolean, p_owner integer,
    p_stamp text, p_must_confirm boolean, p_at timestamptz,
    p_html text, p_excerpt text, p_tags text[], p_mentioned integer[], p_per_hour integer,
    OUT caller text, OUT post_id integer, OUT events text, OUT retry_after integer,
    OUT owner_name text, OUT owner_since timestamptz, OUT owner_display_name text,
    OUT owner_bio_html text, OUT owner_website text, OUT owner_avatar text
) LANGUAGE plpgsql AS $$
DECLARE
    v_stamp text;
    v_confirmed boolean;
    v_made integer;
    v_oldest timestamptz;
BEGIN
    IF p_per_hour > 0 THEN
        -- Racing posts of one person count one after another.
        SELECT security_stamp, email_confirmed, username, created_at,
               display_name, bio_html, website, avatar
        INTO v_stamp, v_confirmed, owner_name, owner_since,
             owner_display_name, owner_bio_html, owner_website, owner_avatar
        FROM users WHERE id = p_owner FOR NO KEY UPDATE;
    ELSE
        SELECT security_stamp, email_confirmed, username, created_at,
               display_name, bio_html, website, avatar
        INTO v_stamp, v_confirmed, owner_name, owner_since,
             owner_display_name, owner_bio_html, owner_website, owner_avatar
        FROM users WHERE id = p_owner;
    END IF;
    IF p_stamp IS NOT NULL THEN
        IF NOT FOUND OR v_stamp IS DISTINCT FROM p_stamp OR p_stamp = '' THEN
            caller := 'unknown';
            owner_name := NULL; owner_since := NULL; owner_display_name := NULL;
            owner_bio_html := NULL; owner_website := NULL; owner_avatar := NULL;
            RETURN;
        END IF;
        IF p_must_confirm AND NOT v_confirmed THEN
            caller := 'unconfirmed';
            RETURN;
        END IF;
    END IF;
    IF p_per_hour > 0 THEN
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



def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ACTIVE)
    op.execute(f"ALTER TABLE posts SET (fillfactor = {POSTS_FILLFACTOR})")
    op.execute(f"DROP FUNCTION {OLD_LIKE}")
    op.execute(LIKE)
    op.execute(f"DROP FUNCTION {OLD_NEW_POST}")
    op.execute(NEW_POST)


def downgrade() -> None:
    """The functions as migrations 0011, 0016 and 0022 made them."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION {NEW_NEW_POST}")
    op.execute(earlier_migration("0016_safety.py").NEW_POST)
    op.execute(f"DROP FUNCTION {NEW_LIKE}")
    op.execute(earlier_migration("0011_writes_alone.py").LIKE)
    op.execute("ALTER TABLE posts RESET (fillfactor)")
    active: str = earlier_migration("0022_live_shown_alone.py").ACTIVE_POSTGRES
    op.execute(active.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
