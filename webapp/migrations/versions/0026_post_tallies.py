"""a new post counts the hour's posts only when its writer may be at the
limit; it skips the statements with nothing to write

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 07:00:00

- `post_tallies`: how many posts each person has written, ever (one row a
  person who wrote any; a post deleted since still counts). No one has
  written more posts within the last hour than ever, so a writer whose
  tally is below POSTS_PER_HOUR cannot be at the limit, and
  `agora_new_post` does not count their posts of the hour: it read them all
  (up to the limit), each from its row (their pages are new, so not known
  to hold only visible rows): 200 posts in the hour cost about 200 µs
  more than none, most of a new post's statement. A writer at or above
  the limit in their tally is counted as before. The tally is read after
  the writer's row is locked, as the count was: racing posts of one person
  still count one after another, and the limit holds exactly.
- `agora_new_post` adds one to its writer's tally in its own transaction
  (an UPDATE of a narrow row; an INSERT the first time). A post written any
  other way (the seed, an import, a test, SQL by hand), or moved to another
  owner, is added by the triggers `posts_tally` and `posts_tally_owner`,
  which `agora_new_post`'s own INSERT passes by (`agora.tallied`, set around
  it): a PL/pgSQL trigger costs a post as much again as the UPDATE. The
  tally only grows: it may count more than there is (a post deleted, a
  table emptied), never fewer, which is all the bound needs. Backfilled
  from the posts there are, with the triggers already in place (the table
  is locked against writes until the migration commits).
- `agora_new_post` inserts tags only when there are any, and notifications
  only when the post is published and mentions someone (most posts do
  neither: two statements of nothing each), and sets its three settings in
  one statement. Same signature, same answers: the statement the app and
  the new-post floor send is unchanged.

SQLite keeps its count (`webapp.rules.posts.check_posts_limit`); its
`post_tallies` stays empty.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

from webapp.core.db import earlier_migration

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TALLY = """
CREATE FUNCTION agora_tally_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE post_tallies SET posts = posts + 1 WHERE owner_id = NEW.owner_id;
    IF NOT FOUND THEN
        INSERT INTO post_tallies (owner_id, posts) VALUES (NEW.owner_id, 1)
        ON CONFLICT (owner_id) DO UPDATE SET posts = post_tallies.posts + 1;
    END IF;
    RETURN NULL;
END
$$
"""

# The WHEN is the executor's, before any call: `agora_new_post`'s own INSERT
# queues nothing.
TRIGGERS = (
    """
CREATE TRIGGER posts_tally AFTER INSERT ON posts FOR EACH ROW
WHEN (current_setting('agora.tallied', true) IS DISTINCT FROM 'on')
EXECUTE FUNCTION agora_tally_post()
""",
    """
CREATE TRIGGER posts_tally_owner AFTER UPDATE OF owner_id ON posts FOR EACH ROW
WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
EXECUTE FUNCTION agora_tally_post()
""",
)

BACKFILL = """
INSERT INTO post_tallies (owner_id, posts)
SELECT owner_id, count(*) FROM posts GROUP BY owner_id
"""

NEW_POST = """
CREATE OR REPLACE FUNCTION agora_new_post(
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
    v_written integer;
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
        -- Read after the lock: every post of theirs that committed before it.
        SELECT posts INTO v_written FROM post_tallies WHERE owner_id = p_owner;
        IF coalesce(v_written, 0) >= p_per_hour THEN
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
    END IF;
    PERFORM set_config('agora.live_later', 'on', true), set_config('agora.live_queue', '', true),
        set_config('agora.tallied', 'on', true);
    INSERT INTO posts (
        title, content, published, owner_id, created_at, updated_at,
        content_html, excerpt, tags
    )
    VALUES (
        p_title, p_content, p_published, p_owner, p_at, p_at,
        p_html, p_excerpt, array_to_string(p_tags, ' ')
    )
    RETURNING posts.id INTO post_id;
    PERFORM set_config('agora.tallied', '', true);
    UPDATE post_tallies SET posts = posts + 1 WHERE owner_id = p_owner;
    IF NOT FOUND THEN
        INSERT INTO post_tallies (owner_id, posts) VALUES (p_owner, 1)
        ON CONFLICT (owner_id) DO UPDATE SET posts = post_tallies.posts + 1;
    END IF;
    IF cardinality(p_tags) > 0 THEN
        INSERT INTO post_tags (post_id, tag, published, created_at)
        SELECT post_id, tag, p_published, p_at FROM unnest(p_tags) AS tag;
    END IF;
    IF p_published AND cardinality(p_mentioned) > 0 THEN
        INSERT INTO notifications (recipient_id, kind, actor_id, post_id, comment_id, created_at, read)
        SELECT users.id, 'mention', p_owner, post_id, NULL, p_at, false
        FROM users WHERE users.id = ANY(p_mentioned) AND users.id <> p_owner;
    END IF;
    events := current_setting('agora.live_queue');
END
$$
"""



def upgrade() -> None:
    op.create_table(
        "post_tallies",
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("posts", sa.Integer(), nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TALLY)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.execute(BACKFILL)
    op.execute(NEW_POST)


def downgrade() -> None:
    """`agora_new_post` as migration 0025 made it."""
    if op.get_bind().dialect.name == "postgresql":
        new_post: str = earlier_migration("0025_caller_in_the_write.py").NEW_POST
        op.execute(new_post.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
        op.execute("DROP TRIGGER posts_tally_owner ON posts")
        op.execute("DROP TRIGGER posts_tally ON posts")
        op.execute("DROP FUNCTION agora_tally_post()")
    op.drop_table("post_tallies")
