"""live events: what open pages are told, sent when the change commits

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 22:20:00

Triggers describe each change that open pages show (`webapp.live`) as a small
JSON payload: ids and counts, never a title or a text. They fire for every
way a row changes (a like, a cascade from an account's deletion, a session
swept), in the transaction that changes it, so an event exists exactly when
its change commits.

- PostgreSQL sends the payload with `pg_notify`, which delivers it at commit
  to every listening worker of every host.
- SQLite has no notifications: the triggers append to `live_events`, which the
  workers of the host read every tenth of a second. The table exists on SQLite
  alone (see `webapp.core.db.DATABASE_ONLY_TABLES`).

The payloads: `created` and `deleted` (a post published, unpublished or gone;
a draft never), `changed` (a post's like or comment count, with its owner and
whether it is published, so that a draft's counts reach its owner alone),
`unread` (a user's unread notifications changed: each worker counts them for
the sockets it holds) and `ended` (a session ended: its sockets close).

`python -m webapp seed` inserts its bulk rows without events (on PostgreSQL
the setting `agora.quiet`, on SQLite by deleting the rows it queued), since
they are no change anyone watches happen.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel `agora_live` is the one webapp.live.sources listens on.
POSTGRES_FUNCTIONS = {
    "agora_live_posts": """
        DECLARE
            payload json;
        BEGIN
            IF current_setting('agora.quiet', true) = 'on' THEN
                RETURN NULL;  -- the seed's bulk rows: nobody watches them arrive
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.published THEN
                    payload := json_build_object('t', 'created', 'id', NEW.id, 'author', NEW.owner_id);
                END IF;
            ELSIF TG_OP = 'DELETE' THEN
                IF OLD.published THEN
                    payload := json_build_object('t', 'deleted', 'id', OLD.id);
                END IF;
            ELSIF NEW.published IS DISTINCT FROM OLD.published THEN
                IF NEW.published THEN
                    payload := json_build_object('t', 'created', 'id', NEW.id, 'author', NEW.owner_id);
                ELSE
                    payload := json_build_object('t', 'deleted', 'id', NEW.id);
                END IF;
            ELSIF NEW.votes IS DISTINCT FROM OLD.votes OR NEW.comments IS DISTINCT FROM OLD.comments THEN
                payload := json_build_object(
                    't', 'changed', 'id', NEW.id, 'votes', NEW.votes, 'comments', NEW.comments,
                    'owner', NEW.owner_id, 'published', NEW.published
                );
            END IF;
            IF payload IS NOT NULL THEN
                PERFORM pg_notify('agora_live', payload::text);
            END IF;
            RETURN NULL;
        END
    """,
    "agora_live_unread": """
        BEGIN
            IF current_setting('agora.quiet', true) = 'on' THEN
                RETURN NULL;  -- the seed's bulk rows: nobody watches them arrive
            END IF;
            IF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('agora_live', json_build_object('t', 'unread', 'user', OLD.recipient_id)::text);
            ELSE
                PERFORM pg_notify('agora_live', json_build_object('t', 'unread', 'user', NEW.recipient_id)::text);
            END IF;
            RETURN NULL;
        END
    """,
    "agora_live_sessions": """
        BEGIN
            PERFORM pg_notify('agora_live', json_build_object('t', 'ended', 'session', OLD.id)::text);
            RETURN NULL;
        END
    """,
}

POSTGRES_TRIGGERS = {
    "posts_live": (
        "AFTER INSERT OR DELETE OR UPDATE OF published, votes, comments ON posts",
        "agora_live_posts",
    ),
    # Identical payloads in one transaction are sent once: "mark all read"
    # sends one `unread`, not one per notification.
    "notifications_live": (
        "AFTER INSERT OR DELETE OR UPDATE OF read ON notifications",
        "agora_live_unread",
    ),
    "sessions_live": ("AFTER DELETE ON sessions", "agora_live_sessions"),
}


def _event(*pairs: str) -> str:
    return f"INSERT INTO live_events (payload, created_at) VALUES (json_object({', '.join(pairs)}), julianday('now'));"


SQLITE_TRIGGERS = {
    "live_post_created": (
        "AFTER INSERT ON posts WHEN NEW.published",
        _event("'t', 'created'", "'id', NEW.id", "'author', NEW.owner_id"),
    ),
    "live_post_deleted": (
        "AFTER DELETE ON posts WHEN OLD.published",
        _event("'t', 'deleted'", "'id', OLD.id"),
    ),
    "live_post_published": (
        "AFTER UPDATE OF published ON posts WHEN NEW.published IS NOT OLD.published",
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
            "'published', json(CASE WHEN NEW.published THEN 'true' ELSE 'false' END)",
        ),
    ),
    "live_unread_insert": (
        "AFTER INSERT ON notifications",
        _event("'t', 'unread'", "'user', NEW.recipient_id"),
    ),
    "live_unread_delete": (
        "AFTER DELETE ON notifications",
        _event("'t', 'unread'", "'user', OLD.recipient_id"),
    ),
    "live_unread_read": (
        "AFTER UPDATE OF read ON notifications WHEN NEW.read IS NOT OLD.read",
        _event("'t', 'unread'", "'user', NEW.recipient_id"),
    ),
    "live_session_ended": (
        "AFTER DELETE ON sessions",
        _event("'t', 'ended'", "'session', OLD.id"),
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, body in POSTGRES_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$"
            )
        for name, (event, function) in POSTGRES_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {event} FOR EACH ROW EXECUTE FUNCTION {function}()"
            )
        return
    op.create_table(
        "live_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),  # a Julian day
        # Ids never go back, even once old rows are swept: a worker that has
        # read up to an id misses nothing after it.
        sqlite_autoincrement=True,
    )
    for name, (event, action) in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {action} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (event, _function) in POSTGRES_TRIGGERS.items():
            table = event.rsplit(" ON ", 1)[1]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in POSTGRES_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("live_events")
