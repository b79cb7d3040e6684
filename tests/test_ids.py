"""An id is never given twice: a new session, post, comment or notification
never gets the id of one that was deleted (SQLite hands out the largest id
plus one unless a table says AUTOINCREMENT: migration 0010)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, func, select

from tests.support.app import ON_POSTGRES, make_settings
from tests.support.pages import Auth, post_form, write_post
from webapp.core.db import alembic_config, create_db_engine, migrate
from webapp.models import Notification, UserSession


def newest(db: Session, column: object) -> int:
    db.expire_all()
    return db.exec(select(func.max(column))).one()  # type: ignore[call-overload]


def test_a_deleted_posts_id_is_not_given_to_the_next_post(client: TestClient) -> None:
    Auth(client).register("alice")
    write_post(client, "First")
    gone = write_post(client, "Newest, then deleted")
    post_form(client, f"/posts/{gone}/delete", {})
    assert write_post(client, "Next") > gone


def test_an_ended_sessions_id_is_not_given_to_the_next_login(
    client: TestClient, db: Session
) -> None:
    auth = Auth(client)
    auth.register("alice")
    ended = newest(db, UserSession.id)
    auth.logout()
    auth.login("alice")
    assert newest(db, UserSession.id) > ended


def test_a_deleted_comments_id_is_not_given_to_the_next_comment(client: TestClient) -> None:
    Auth(client).register("alice")
    post_id = write_post(client)

    def comment(content: str) -> int:
        sent = post_form(client, f"/posts/{post_id}/comments", {"content": content})
        return int(sent.headers["location"].rsplit("#comment-", 1)[1])

    comment("First")
    gone = comment("Newest, then deleted")
    post_form(client, f"/comments/{gone}/delete", {})
    assert comment("Next") > gone


def test_a_taken_back_likes_notification_id_is_not_given_again(
    client: TestClient, new_client, db: Session
) -> None:
    Auth(client).register("alice")
    post_id = write_post(client)
    bob = new_client()
    Auth(bob).register("bob")
    post_form(bob, f"/posts/{post_id}/vote", {"dir": "1"})
    gone = newest(db, Notification.id)
    post_form(bob, f"/posts/{post_id}/vote", {"dir": "0"})  # takes the notification back
    post_form(bob, f"/posts/{post_id}/vote", {"dir": "1"})
    assert newest(db, Notification.id) > gone


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's tables are rebuilt; PostgreSQL's are not")
def test_the_rebuild_keeps_every_row_index_and_trigger(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(
        settings, ScriptDirectory.from_config(alembic_config()).get_revision("0010").down_revision
    )
    engine = create_db_engine(settings)
    schema = "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')"
    with engine.begin() as connection:
        before = set(connection.execute(text(schema)).all())
        connection.execute(
            text(
                "INSERT INTO users (id, username, email, password_hash, security_stamp, created_at)"
                " VALUES (1, 'alice', 'a@example.com', 'x', 's', '2026-01-01')"
            )
        )
        for post_id in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO posts (id, title, content, published, owner_id, created_at,"
                    " updated_at) VALUES (:id, 't', 'c', 1, 1, '2026-01-01', '2026-01-01')"
                ),
                {"id": post_id},
            )
        connection.execute(
            text(
                "INSERT INTO comments (id, content, post_id, author_id, created_at)"
                " VALUES (1, 'c', 2, 1, '2026-01-01')"
            )
        )
    engine.dispose()

    migrate(settings)

    engine = create_db_engine(settings)
    with engine.begin() as connection:
        after = set(connection.execute(text(schema)).all())
        assert before <= after  # and migration 0010's own triggers
        assert connection.execute(text("SELECT id FROM posts ORDER BY id")).scalars().all() == [
            1,
            2,
        ]
        assert connection.execute(text("SELECT post_id FROM comments")).scalar_one() == 2
        assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
        connection.execute(text("DELETE FROM posts WHERE id = 2"))  # its comment goes with it
        assert connection.execute(text("SELECT count(*) FROM comments")).scalar_one() == 0
        connection.execute(
            text(
                "INSERT INTO posts (title, content, published, owner_id, created_at, updated_at)"
                " VALUES ('t', 'c', 1, 1, '2026-01-01', '2026-01-01')"
            )
        )
        assert connection.execute(text("SELECT max(id) FROM posts")).scalar_one() == 3
    engine.dispose()
