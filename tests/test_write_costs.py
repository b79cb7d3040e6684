"""What one write costs: its statements (round trips), and whom it makes wait."""

from __future__ import annotations

import json

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import event, text

from tests.support.api import Caller, write
from tests.support.app import ON_POSTGRES
from tests.support.statements import StatementCounter
from webapp.core.config import Settings
from webapp.core.db import create_db_engine
from webapp.models import PostCreate
from webapp.rules import posts

# On PostgreSQL the write, one statement that is its own transaction and
# checks its caller (the bearer token's user) itself: its live events are
# sent after its commit by the worker's announcer, on a connection of its own
# (test_announcer.py); on SQLite the caller's row, then BEGIN IMMEDIATE, the
# post's lock, the like, the count and the notification, or the post's INSERT.
LIKE = 1 if ON_POSTGRES else 6
NEW_POST = 1 if ON_POSTGRES else 3


def test_a_like_and_taking_it_back_run_their_stated_statements(
    client: TestClient, engine, alice_api: Caller, bob_api: Caller
) -> None:
    post = write(client, alice_api)
    for direction, status in ((1, 201), (0, 200)):
        with StatementCounter(engine) as counted:
            answer = client.post(
                "/api/vote", json={"post_id": post["id"], "dir": direction}, headers=bob_api.headers
            )
        assert answer.status_code == status
        assert counted.count == LIKE, counted.statements


def test_a_new_post_runs_its_stated_statements(
    client: TestClient, engine, alice_api: Caller
) -> None:
    with StatementCounter(engine) as counted:
        answer = client.post(
            "/api/posts", json={"title": "T", "content": "C"}, headers=alice_api.headers
        )
    assert answer.status_code == 201
    assert counted.count == NEW_POST, counted.statements


@pytest.mark.parametrize("what", ["like", "new post"])
def test_a_write_through_the_api_takes_one_connection_from_the_pool(
    client: TestClient, engine, alice_api: Caller, bob_api: Caller, what: str
) -> None:
    """On PostgreSQL the caller's check and the write, one statement on one
    connection (its live events go on the announcer's). SQLite's session gives
    its connection back after the read and takes one again for the write's
    transaction."""
    post = write(client, alice_api)
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    event.listen(engine, "checkout", checked_out)
    try:
        if what == "like":
            sent = {"post_id": post["id"], "dir": 1}
            answer = client.post("/api/vote", json=sent, headers=bob_api.headers)
        else:
            sent = {"title": "T", "content": "C"}
            answer = client.post("/api/posts", json=sent, headers=bob_api.headers)
    finally:
        event.remove(engine, "checkout", checked_out)
    assert answer.status_code == 201
    assert len(checkouts) == (1 if ON_POSTGRES else 2)


def test_a_new_post_sends_every_field_the_database_function_takes() -> None:
    """On PostgreSQL a new post is `agora_new_post(title, content, published, …)`
    (migration 0011): a field added to PostCreate needs a migration too.
    `media_ids` is no column: the pictures are attached after the post is
    written (`webapp.rules.pictures`)."""
    assert set(PostCreate.model_fields) - {"media_ids"} == {"title", "content", "published"}


def test_a_new_post_without_tags_or_mentions_sends_the_empty_arrays_psycopg_would() -> None:
    """`EMPTY_ARRAY` in place of an empty list is the same bytes of the same
    type (none: PostgreSQL reads them as the function's `text[]` and
    `integer[]`), so the statement prepared for one serves the other."""
    lists, texts = Transformer(), Transformer()
    as_lists = lists.dump_sequence([[], []], [PyFormat.AUTO] * 2)
    as_texts = texts.dump_sequence([posts.EMPTY_ARRAY] * 2, [PyFormat.AUTO] * 2)
    assert [bytes(value or b"") for value in as_texts] == [b"{}", b"{}"]
    assert [bytes(value or b"") for value in as_lists] == [b"{}", b"{}"]
    assert (texts.types, texts.formats) == (lists.types, lists.formats)


SUMS = "SELECT sum(version), sum(likes), sum(removals) FROM site_state"


@pytest.mark.postgres
def test_commits_move_rows_of_site_state_that_no_other_commit_holds(
    settings: Settings,
) -> None:
    """Two writers that commit at once do not wait for each other's row, and
    the versions (the sums) move once for each."""
    engine = create_db_engine(settings)
    try:
        with engine.connect() as setup:
            setup.execute(
                text(
                    "INSERT INTO site_state (id, version, likes, removals) "
                    "SELECT n, 0, 0, 0 FROM generate_series(1, 32) AS n ON CONFLICT DO NOTHING"
                )
            )
            setup.commit()
            before = setup.execute(text(SUMS)).one()
        with engine.connect() as first, engine.connect() as second:
            first.execute(text("SELECT agora_move_version('likes')"))  # its row held, uncommitted
            second.execute(text("SET lock_timeout = '200ms'"))
            second.execute(text("SELECT agora_move_version('likes')"))
            second.execute(text("SELECT agora_move_version('version')"))
            second.commit()
            first.commit()
            after = first.execute(text(SUMS)).one()
    finally:
        engine.dispose()
    assert tuple(after) == (before[0] + 1, before[1] + 2, before[2])


@pytest.mark.postgres
def test_an_announcement_sends_the_counts_the_post_holds_when_it_is_sent(
    client: TestClient, alice_api: Caller, bob_api: Caller, settings: Settings
) -> None:
    """A like's live events leave after its commit, so two of them may be sent
    in the other order: each says what the post's row holds when it goes, not
    what the like saw, and the last one sent is never behind."""
    post = write(client, alice_api)
    client.post("/api/vote", json={"post_id": post["id"], "dir": 1}, headers=bob_api.headers)
    url = settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as listener, psycopg.connect(url) as sender:
        listener.execute("LISTEN agora_live")
        late = json.dumps({"t": "changed", "id": post["id"], "votes": 0, "comments": 0})
        sender.execute("SELECT agora_live_announce(%s)", (late + "\n" + late,))
        sender.commit()
        heard = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=1)]
    assert heard == [
        {
            "t": "changed",
            "id": post["id"],
            "votes": 1,
            "comments": 0,
            "owner": alice_api.id,
            "published": True,
        }
    ]


@pytest.mark.postgres
def test_the_pages_of_posts_keep_room_for_a_counts_new_row_version(settings: Settings) -> None:
    """A like or a comment writes a new version of its post's row: with room
    in the page it is a HOT update, which touches none of the post's indexes
    (migration 0025)."""
    engine = create_db_engine(settings)
    try:
        with engine.connect() as connection:
            options = connection.execute(
                text("SELECT reloptions FROM pg_class WHERE oid = 'posts'::regclass")
            ).scalar_one()
    finally:
        engine.dispose()
    assert "fillfactor=75" in (options or [])
