"""What one write costs: its statements (round trips), and whom it makes wait."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support.api import Caller, write
from tests.support.app import ON_POSTGRES
from tests.support.statements import StatementCounter
from webapp.core.config import Settings
from webapp.core.db import create_db_engine

# The caller (the bearer token's user), then the write: on PostgreSQL one
# statement that is its own transaction (and, for a like, its live events sent
# after its commit, in a transaction of their own); on SQLite BEGIN IMMEDIATE,
# the post's lock, the like, the count and the notification (or the post's
# INSERT).
LIKE = 3 if ON_POSTGRES else 6
NEW_POST = 2 if ON_POSTGRES else 3


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
