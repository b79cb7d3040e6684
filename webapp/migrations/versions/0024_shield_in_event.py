"""a block's or a mute's live event carries whom the person blocks and mutes
after it

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 10:20:00

The hub (`webapp.live.hub`) used to read whom a person blocks and mutes when
it came to their `shield` event. A host that lagged read the state of a
later change: a block quickly taken back was read as no block, and the
blocked person's post announced in between reached the blocker's socket. The
event now holds the state its own transaction left (`blocked`, `muted`: ids
separated by spaces, or null), so the hub applies each change in order.

On PostgreSQL two changes of one person's would each read the other's
uncommitted row as absent: a lock per person (released at the commit, the
moment the notification is sent) orders them. A notification holds at most
8,000 bytes: for someone who blocks and mutes more than about a thousand
people the event holds the person alone, and the hub reads the state as
before.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

from webapp.core.db import earlier_migration

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The first key of the two-key advisory lock: a namespace for this one use.
LOCK_SPACE = 24

LIVE_SHIELD = f"""
DECLARE
    v_user integer;
    v_blocked text;
    v_muted text;
BEGIN
    IF TG_TABLE_NAME = 'blocks' THEN
        IF TG_OP = 'DELETE' THEN v_user := OLD.blocker_id; ELSE v_user := NEW.blocker_id; END IF;
    ELSE
        IF TG_OP = 'DELETE' THEN v_user := OLD.muter_id; ELSE v_user := NEW.muter_id; END IF;
    END IF;
    PERFORM pg_advisory_xact_lock({LOCK_SPACE}, v_user);
    SELECT string_agg(blocked_id::text, ' ') INTO v_blocked FROM blocks WHERE blocker_id = v_user;
    SELECT string_agg(muted_id::text, ' ') INTO v_muted FROM mutes WHERE muter_id = v_user;
    IF coalesce(length(v_blocked), 0) + coalesce(length(v_muted), 0) > 7000 THEN
        PERFORM agora_live_send(json_build_object('t', 'shield', 'user', v_user)::text);
    ELSE
        PERFORM agora_live_send(json_build_object(
            't', 'shield', 'user', v_user, 'blocked', v_blocked, 'muted', v_muted
        )::text);
    END IF;
    RETURN NULL;
END
"""

# table: the column of the person who blocks or mutes
SHIELDS = {"blocks": "blocker_id", "mutes": "muter_id"}



def _sqlite_event(user: str, *, with_state: bool) -> str:
    state = (
        f", 'blocked', (SELECT group_concat(blocked_id, ' ') FROM blocks WHERE blocker_id = {user})"
        f", 'muted', (SELECT group_concat(muted_id, ' ') FROM mutes WHERE muter_id = {user})"
        if with_state
        else ""
    )
    return (
        "INSERT INTO live_events (payload, created_at) "
        f"VALUES (json_object('t', 'shield', 'user', {user}{state}), julianday('now'));"
    )


def _sqlite_triggers(*, with_state: bool) -> None:
    for table, who in SHIELDS.items():
        for change, row in (("INSERT", "NEW"), ("DELETE", "OLD")):
            name = f"live_{table}_{change.lower()}"
            op.execute(f"DROP TRIGGER {name}")
            event = _sqlite_event(f"{row}.{who}", with_state=with_state)
            op.execute(f"CREATE TRIGGER {name} AFTER {change} ON {table} BEGIN {event} END")


def _postgres_function(body: str) -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION agora_live_shield() RETURNS trigger "
        f"LANGUAGE plpgsql AS $${body}$$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_function(LIVE_SHIELD)
    else:
        _sqlite_triggers(with_state=True)


def downgrade() -> None:
    """The function and triggers as migration 0022 made them."""
    if op.get_bind().dialect.name == "postgresql":
        before: str = earlier_migration("0022_live_shown_alone.py").LIVE_SHIELD
        op.execute(before.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    else:
        _sqlite_triggers(with_state=False)
