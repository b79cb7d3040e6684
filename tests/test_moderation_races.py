"""Moderation racing itself and everyone else: two moderators acting on one
post at once, a hide racing a like and an edit, a suspension racing a login
and a new post, reports racing the deletion of what they are about. Every
request gets a normal answer, the log has one entry per action that took
effect, and nothing is left half done."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from tests.support.api import Caller, sign_up, write
from tests.support.app import PASSWORD
from tests.support.concurrency import at_the_same_time
from tests.support.pages import csrf_token
from webapp.models import Like, ModerationAction, Notification, Post, Report, User, UserSession

ROUNDS = 4


def make_role(db: Session, user_id: int, role: str) -> None:
    db.exec(update(User).where(col(User.id) == user_id).values(role=role))  # type: ignore[call-overload]
    db.commit()


def send(
    client: TestClient, caller: Caller | None, method: str, path: str, **body: Any
) -> Callable[[], Any]:
    headers = caller.headers if caller else {}
    return lambda: client.request(method, path, json=body or None, headers=headers)


def action(client: TestClient, who: Caller, verb: str, kind: str, target: int, **more: Any):
    body = {"action": verb, "target_type": kind, "target_id": target, "reason": "rules", **more}
    return send(client, who, "POST", "/api/moderation/actions", **body)


def entries(db: Session, verb: str, target: int) -> int:
    db.expire_all()
    statement = (
        select(func.count())
        .select_from(ModerationAction)
        .where(ModerationAction.action == verb, ModerationAction.target_id == target)
    )
    return db.exec(statement).one()


def test_two_moderators_hiding_one_post_log_it_once(client: TestClient, db: Session) -> None:
    mods = [sign_up(client, f"mod{number}") for number in range(3)]
    for moderator in mods:
        make_role(db, moderator.id, "moderator")
    author = sign_up(client, "author")
    for _ in range(ROUNDS):
        post_id = write(client, author)["id"]
        answers = at_the_same_time([action(client, m, "hide", "post", post_id) for m in mods])
        assert sorted(answer.status_code for answer in answers) == [200, 200, 201]
        assert entries(db, "hide", post_id) == 1
        told = db.exec(
            select(func.count()).select_from(Notification).where(Notification.post_id == post_id)
        ).one()
        assert told == 1
        answers = at_the_same_time([action(client, m, "restore", "post", post_id) for m in mods])
        assert sorted(answer.status_code for answer in answers) == [200, 200, 201]
        assert entries(db, "restore", post_id) == 1


def test_a_hide_racing_likes_and_an_edit(client: TestClient, db: Session) -> None:
    moderator, author = sign_up(client, "mod"), sign_up(client, "author")
    make_role(db, moderator.id, "moderator")
    fans = [sign_up(client, f"fan{number}") for number in range(4)]
    for _ in range(ROUNDS):
        post_id = write(client, author, title="Before")["id"]
        likes = [send(client, fan, "POST", "/api/vote", post_id=post_id, dir=1) for fan in fans]
        edit = send(client, author, "PATCH", f"/api/posts/{post_id}", title="After")
        hide = action(client, moderator, "hide", "post", post_id)
        *like_answers, edit_answer, hide_answer = at_the_same_time([*likes, edit, hide])
        assert {answer.status_code for answer in like_answers} <= {201, 404}
        assert edit_answer.status_code == 200, edit_answer.text
        assert hide_answer.status_code == 201
        db.expire_all()
        post = db.get(Post, post_id)
        assert post is not None and post.hidden == "moderators" and post.title == "After"
        rows = db.exec(select(func.count()).select_from(Like).where(Like.post_id == post_id)).one()
        assert post.votes == rows == sum(a.status_code == 201 for a in like_answers)
        # After the hide, nobody but its author may like it.
        late = client.post(
            "/api/vote", json={"post_id": post_id, "dir": 1}, headers=fans[0].headers
        )
        assert late.status_code in (200, 201, 404)
        assert client.get(f"/api/posts/{post_id}").status_code == 404


def test_a_suspension_racing_a_login_and_a_new_post(
    client: TestClient, new_client: Any, db: Session
) -> None:
    moderator = sign_up(client, "mod")
    make_role(db, moderator.id, "moderator")
    for round_number in range(ROUNDS):
        member = sign_up(client, f"member{round_number}")
        browser = new_client()
        form = {
            "username": member.username,
            "password": PASSWORD,
            "csrf_token": csrf_token(browser, "/login"),
        }
        page_login = partial(browser.post, "/login", data=form)
        api_login = partial(
            client.post, "/api/login", data={"username": member.username, "password": PASSWORD}
        )
        new_post = send(client, member, "POST", "/api/posts", title="Racing", content="text")
        suspend = action(client, moderator, "suspend", "user", member.id, days=1)
        pages, api, posted, suspended = at_the_same_time([page_login, api_login, new_post, suspend])
        assert suspended.status_code == 201
        assert pages.status_code in (303, 403), pages.text
        assert api.status_code in (200, 403)
        assert posted.status_code in (201, 401)
        db.expire_all()
        # No session outlives the suspension, nor any token.
        sessions = db.exec(select(UserSession).where(UserSession.user_id == member.id)).all()
        assert sessions == []
        if api.status_code == 200:
            token = {"Authorization": f"Bearer {api.json()['access_token']}"}
            assert client.get("/api/users/me", headers=token).status_code == 401
        if pages.status_code == 303:  # logged in first: the session ended since
            assert browser.get("/settings").status_code == 303
        if posted.status_code == 201:
            assert client.get(f"/api/posts/{posted.json()['id']}").status_code == 404
        assert [p["title"] for p in client.get("/api/posts").json()] == []


def test_reports_racing_the_deletion_of_their_post(client: TestClient, db: Session) -> None:
    author = sign_up(client, "author")
    reporters = [sign_up(client, f"reporter{number}") for number in range(5)]
    for _ in range(ROUNDS):
        post_id = write(client, author)["id"]
        reports = [
            send(
                client,
                reporter,
                "POST",
                "/api/reports",
                target_type="post",
                target_id=post_id,
                reason="spam",
            )
            for reporter in reporters
        ]
        delete = send(client, author, "DELETE", f"/api/posts/{post_id}")
        *answers, deleted = at_the_same_time([*reports, delete])
        assert deleted.status_code == 204
        assert {answer.status_code for answer in answers} <= {201, 404}
        db.expire_all()
        left = db.exec(select(Report).where(Report.target_id == post_id)).all()
        assert left == []  # none kept about a post that is gone
