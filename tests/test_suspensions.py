"""Suspended accounts: sessions and tokens end, the login refuses the right
password with the reason (and only the right one), the account's profile,
posts and comments are gone while it lasts, and come back when it is lifted or
ends by itself, page cache included."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from tests.support.api import Caller, login, sign_up, write
from tests.support.app import PASSWORD
from tests.support.pages import Auth, post_form
from webapp.models import ModerationAction, Notification, SuspensionEnd, User, utcnow

SUSPENDED = "This account is suspended until"


def make_role(db: Session, user_id: int, role: str) -> None:
    db.exec(update(User).where(col(User.id) == user_id).values(role=role))  # type: ignore[call-overload]
    db.commit()


def act(client: TestClient, who: Caller, action: str, target: int, reason: str = "spam", **more):
    body = {"action": action, "target_type": "user", "target_id": target, "reason": reason}
    return client.post("/api/moderation/actions", json={**body, **more}, headers=who.headers)


@pytest.fixture
def people(client: TestClient, db: Session) -> dict[str, Caller]:
    found = {name: sign_up(client, name) for name in ("mod", "boss", "ann", "ben")}
    make_role(db, found["mod"].id, "moderator")
    make_role(db, found["boss"].id, "admin")
    return found


@pytest.fixture
def bens_things(client: TestClient, people) -> dict[str, int]:
    """A post of Ben's, and his comment on a post of Ann's."""
    post = write(client, people["ben"], title="Benword title", content="benword text")
    anns = write(client, people["ann"], title="Ann writes", content="about things")
    comment = client.post(
        f"/api/posts/{anns['id']}/comments",
        json={"content": "a benremark here"},
        headers=people["ben"].headers,
    ).json()
    return {"post": post["id"], "anns": anns["id"], "comment": comment["id"]}


def test_a_suspension_ends_sessions_and_tokens_and_is_logged(
    client, new_client, db, people
) -> None:
    ben_browser = new_client()
    assert Auth(ben_browser).login("ben").status_code == 303
    assert ben_browser.get("/settings").status_code == 200
    done = act(client, people["mod"], "suspend", people["ben"].id, "Spam links", days=3)
    assert done.status_code == 201, done.text
    entry = done.json()
    assert entry["action"] == "suspend" and entry["target_label"] == "ben"
    assert entry["reason"] == "Spam links" and entry["moderator"]["username"] == "mod"
    # The token and the browser's session are over at once.
    assert client.get("/api/users/me", headers=people["ben"].headers).status_code == 401
    assert ben_browser.get("/settings").status_code == 303
    # A repeat changes nothing and logs nothing.
    assert act(client, people["mod"], "suspend", people["ben"].id, "again").status_code == 200
    assert len(db.exec(select(ModerationAction)).all()) == 1
    told = db.exec(select(Notification).where(Notification.recipient_id == people["ben"].id)).all()
    assert [(n.kind, n.action, n.reason) for n in told] == [("moderation", "suspend", "Spam links")]
    log = client.get("/moderation/log").text
    assert "ben" in log and "Spam links" in log


def test_the_login_refuses_the_right_password_only(client, new_client, people) -> None:
    assert act(client, people["mod"], "suspend", people["ben"].id, "Spam links", days=3).is_success
    until = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%d")
    browser = new_client()
    wrong = Auth(browser).login("ben", "not the password at all")
    assert wrong.status_code == 422 and SUSPENDED not in wrong.text
    right = Auth(browser).login("ben")
    assert right.status_code == 403
    assert f"{SUSPENDED} {until}" in right.text and "Spam links" in right.text
    assert browser.get("/settings").status_code == 303  # no session
    assert login(client, "ben", "not the password at all").status_code == 401
    api = login(client, "ben", PASSWORD)
    assert api.status_code == 403 and api.json()["detail"].startswith(f"{SUSPENDED} {until}")
    assert "access_token" not in api.json()


def test_until_lifted_and_lifting(client, new_client, people, bens_things) -> None:
    assert act(client, people["mod"], "suspend", people["ben"].id, "Wait").is_success
    refused = login(client, "ben")
    assert refused.status_code == 403
    assert refused.json()["detail"] == f"{SUSPENDED} it is lifted: Wait"
    lifted = act(client, people["mod"], "unsuspend", people["ben"].id, "Appeal heard")
    assert lifted.status_code == 201 and lifted.json()["action"] == "unsuspend"
    assert act(client, people["mod"], "unsuspend", people["ben"].id, "again").status_code == 200
    assert login(client, "ben").status_code == 200
    assert client.get(f"/api/posts/{bens_things['post']}").status_code == 200
    assert "Benword" in new_client().get("/").text


def test_a_suspended_persons_profile_posts_and_comments_are_gone(
    client, new_client, people, bens_things
) -> None:
    ben = people["ben"]
    anonymous = new_client()
    assert "Benword" in anonymous.get("/").text  # cached before
    assert act(client, people["mod"], "suspend", ben.id, "Spam", days=1).is_success
    assert "Benword" not in anonymous.get("/").text
    assert "Benword" not in anonymous.get("/?q=benword").text
    assert client.get("/api/posts").json()[0]["title"] == "Ann writes"
    assert client.get("/api/posts?search=benword").json() == []
    assert client.get(f"/api/posts/{bens_things['post']}").status_code == 404
    assert anonymous.get(f"/posts/{bens_things['post']}").status_code == 404
    assert anonymous.get(f"/users/{ben.id}").status_code == 404
    assert client.get(f"/api/users/{ben.id}/profile").status_code == 404
    assert client.get(f"/api/users/{ben.id}").status_code == 404
    comments = client.get(f"/api/posts/{bens_things['anns']}/comments").json()
    assert comments == []
    assert "benremark" not in anonymous.get(f"/posts/{bens_things['anns']}").text
    # A like or a comment on it answers as for a missing post.
    ann = people["ann"]
    like = client.post(
        "/api/vote", json={"post_id": bens_things["post"], "dir": 1}, headers=ann.headers
    )
    assert like.status_code == 404
    comment = client.post(
        f"/api/posts/{bens_things['post']}/comments", json={"content": "hi"}, headers=ann.headers
    )
    assert comment.status_code == 404
    feed = client.get("/api/posts", headers=ann.headers).json()
    assert [post["title"] for post in feed] == ["Ann writes"]


def test_a_suspended_person_leaves_the_lists_of_followers_and_followed(
    client, new_client, people
) -> None:
    """Their profile is gone: no list of people links to it while it lasts."""
    ann, ben = people["ann"], people["ben"]
    for who, whom in ((ben, ann), (ann, ben)):
        followed = client.put(f"/api/users/me/following/{whom.id}", headers=who.headers)
        assert followed.is_success, followed.text
    lists = (f"/api/users/{ann.id}/followers", f"/api/users/{ann.id}/following")
    pages = (f"/users/{ann.id}/followers", f"/users/{ann.id}/following")
    anonymous = new_client()
    for path in lists:
        assert [person["username"] for person in client.get(path).json()] == ["ben"]
    for path in pages:
        assert f'href="/users/{ben.id}"' in anonymous.get(path).text
    assert act(client, people["mod"], "suspend", ben.id, "Spam", days=1).is_success
    for path in lists:
        assert client.get(path).json() == []
    for path in pages:
        assert f'href="/users/{ben.id}"' not in anonymous.get(path).text
    assert act(client, people["mod"], "unsuspend", ben.id, "Appeal heard").is_success
    for path in lists:
        assert [person["username"] for person in client.get(path).json()] == ["ben"]


def test_a_suspension_ends_by_itself_and_no_cache_keeps_it(
    client, new_client, db, people, bens_things
) -> None:
    ben = people["ben"]
    assert act(client, people["mod"], "suspend", ben.id, "A short one", days=1).is_success
    anonymous, ann = new_client(), new_client()
    Auth(ann).login("ann")  # before the clock starts: a login's hash is slow on a busy machine
    assert login(client, "ben").status_code == 403
    # Bring the end near, as if the days had passed (this write moves the data
    # version: the pages read after it are built while it still lasts).
    end = utcnow() + timedelta(seconds=3)
    db.exec(update(User).where(col(User.id) == ben.id).values(suspended_until=end))  # type: ignore[call-overload]
    db.exec(update(SuspensionEnd).values(ends_at=end))  # type: ignore[call-overload]
    db.commit()
    for browser in (anonymous, ann):
        assert "Benword" not in browser.get("/").text
        assert browser.get(f"/users/{ben.id}").status_code == 404
        assert browser.get(f"/posts/{bens_things['post']}").status_code == 404
    time.sleep(max(0.0, (end - utcnow()).total_seconds()) + 1.1)
    # Nothing was written since: the pages come back all the same.
    for browser in (anonymous, ann):
        assert "Benword" in browser.get("/").text
        assert "Benword" in browser.get(f"/users/{ben.id}").text
        assert browser.get(f"/posts/{bens_things['post']}").status_code == 200
        assert "benremark" in browser.get(f"/posts/{bens_things['anns']}").text
    assert login(client, "ben").status_code == 200


def test_who_may_suspend_whom(client, new_client, people) -> None:
    assert act(client, people["mod"], "suspend", people["boss"].id).status_code == 403
    assert act(client, people["mod"], "suspend", people["mod"].id).status_code == 403
    assert act(client, people["boss"], "suspend", people["boss"].id).status_code == 403
    assert act(client, people["ann"], "suspend", people["ben"].id).status_code == 404
    assert act(client, people["mod"], "suspend", people["ben"].id, reason="").status_code == 422
    for days in (0, 3651, "3"):
        answer = act(client, people["mod"], "suspend", people["ben"].id, days=days)
        assert answer.status_code == 422, days
    assert act(client, people["boss"], "suspend", people["mod"].id, days=3650).status_code == 201


def test_suspend_and_unsuspend_pages(client, new_client, db, people) -> None:
    moderator, member = new_client(), new_client()
    Auth(moderator).login("mod")
    Auth(member).login("ann")
    path = f"/moderation/users/{people['ben'].id}"
    assert post_form(member, f"{path}/suspend", {"reason": "x"}).status_code == 404
    for bad in ("0", "3651", "soon"):
        answer = post_form(
            moderator, f"{path}/suspend", {"reason": "x", "days": bad}, "/moderation"
        )
        assert answer.status_code == 422, bad
    empty = post_form(moderator, f"{path}/suspend", {"reason": "", "days": "2"}, "/moderation")
    assert empty.status_code == 422
    assert (
        post_form(
            moderator, f"/moderation/users/{people['boss'].id}/suspend", {"reason": "x"}
        ).status_code
        == 403
    )
    done = post_form(
        moderator, f"{path}/suspend", {"reason": "Flooding", "days": ""}, "/moderation"
    )
    assert done.status_code == 303
    db.expire_all()
    ben = db.get(User, people["ben"].id)
    assert ben is not None and ben.suspended_until is not None
    assert ben.suspended_until.year == 9999 and ben.suspension_reason == "Flooding"
    lifted = post_form(moderator, f"{path}/unsuspend", {"reason": "Appeal"}, "/moderation")
    assert lifted.status_code == 303
    assert login(client, "ben").status_code == 200


def test_the_queue_offers_suspending_a_reported_person(client, new_client, people) -> None:
    reported = client.post(
        "/api/reports",
        json={"target_type": "user", "target_id": people["ben"].id, "reason": "spam"},
        headers=people["ann"].headers,
    )
    assert reported.status_code == 201
    moderator = new_client()
    Auth(moderator).login("mod")
    queue = moderator.get("/moderation").text
    assert f'action="/moderation/users/{people["ben"].id}/suspend"' in queue
    assert act(client, people["mod"], "suspend", people["ben"].id).status_code == 201
    # Acting closed the report: the queue is empty.
    assert "No open reports." in moderator.get("/moderation").text


# --- counts and moderators' view while it lasts ------------------------------------


def comments_of(client: TestClient, post_id: int, who: Caller | None = None) -> int:
    headers = who.headers if who else {}
    return client.get(f"/api/posts/{post_id}", headers=headers).json()["comments"]


def test_a_suspended_persons_comments_leave_the_counts_while_it_lasts(
    client, new_client, db, people, bens_things
) -> None:
    anns = bens_things["anns"]
    client.post(
        f"/api/posts/{anns}/comments", json={"content": "ann too"}, headers=people["ann"].headers
    )
    assert comments_of(client, anns) == 2
    anonymous = new_client()
    assert "2 comments" in anonymous.get(f"/posts/{anns}").text
    assert act(client, people["mod"], "suspend", people["ben"].id, "Spam", days=1).is_success
    assert comments_of(client, anns) == 1
    assert comments_of(client, anns, people["mod"]) == 1  # the count is the public one
    assert "1 comment<" in anonymous.get(f"/posts/{anns}").text
    assert "1 comment<" in anonymous.get("/").text
    # Hidden and shown again meanwhile, it still counts for nothing until the end.
    comment = bens_things["comment"]
    for action in ("hide", "restore"):
        body = {"action": action, "target_type": "comment", "target_id": comment, "reason": "x"}
        answer = client.post("/api/moderation/actions", json=body, headers=people["mod"].headers)
        assert answer.status_code == 201
        assert comments_of(client, anns) == 1
    # The end comes by itself: counted again, with nothing written.
    end = utcnow() + timedelta(seconds=1)
    db.exec(update(User).where(col(User.id) == people["ben"].id).values(suspended_until=end))  # type: ignore[call-overload]
    db.exec(update(SuspensionEnd).values(ends_at=end))  # type: ignore[call-overload]
    db.commit()
    assert comments_of(client, anns) == 1
    time.sleep(max(0.0, (end - utcnow()).total_seconds()) + 1.1)
    assert comments_of(client, anns) == 2
    assert "2 comments" in anonymous.get(f"/posts/{anns}").text
    assert "2 comments" in anonymous.get("/").text
    # Lifted early, or deleted: exact all the same.
    assert act(client, people["mod"], "suspend", people["ben"].id, "Again", days=1).is_success
    assert comments_of(client, anns) == 1
    assert act(client, people["mod"], "unsuspend", people["ben"].id, "Sorry").is_success
    assert comments_of(client, anns) == 2


def test_a_post_page_counts_a_suspended_persons_comments_out_for_every_reader(
    client, new_client, people, bens_things
) -> None:
    anns = bens_things["anns"]
    client.post(
        f"/api/posts/{anns}/comments", json={"content": "ann too"}, headers=people["ann"].headers
    )
    readers = [new_client()]
    for name in ("ann", "mod"):
        reader = new_client()
        Auth(reader).login(name)
        readers.append(reader)
    for reader in readers:
        assert "2 comments<" in reader.get(f"/posts/{anns}").text
    assert act(client, people["mod"], "suspend", people["ben"].id, "Spam", days=1).is_success
    # Anonymous, the post's owner, a moderator (who still reads the comment).
    for reader in readers:
        assert "1 comment<" in reader.get(f"/posts/{anns}").text
    assert "Hidden while its author is suspended." in readers[2].get(f"/posts/{anns}").text
    assert act(client, people["mod"], "unsuspend", people["ben"].id, "Sorry").is_success
    for reader in readers:
        assert "2 comments<" in reader.get(f"/posts/{anns}").text


def test_a_suspended_persons_replies_leave_with_the_thread_they_answer(
    client, new_client, people, bens_things
) -> None:
    anns, carl = bens_things["anns"], sign_up(client, "carl")
    top = client.post(
        f"/api/posts/{anns}/comments", json={"content": "carl asks"}, headers=carl.headers
    ).json()
    answer = {"content": "ben answers", "parent_id": top["id"]}
    client.post(f"/api/posts/{anns}/comments", json=answer, headers=people["ben"].headers)
    assert comments_of(client, anns) == 3
    assert act(client, people["mod"], "suspend", people["ben"].id, "Spam", days=1).is_success
    assert comments_of(client, anns) == 1  # carl's
    # Carl's account goes, and the replies below his comment with it: Ben's
    # answer leaves the counter once, and when the suspension is lifted only
    # Ben's first comment counts again.
    browser = new_client()
    Auth(browser).login("carl")
    deleted = post_form(browser, "/settings/delete", {"password": PASSWORD}, page="/settings")
    assert deleted.status_code == 303
    assert comments_of(client, anns) == 0
    assert act(client, people["mod"], "unsuspend", people["ben"].id, "Sorry").is_success
    assert comments_of(client, anns) == 1
    assert len(client.get(f"/api/posts/{anns}/comments").json()) == 1


def test_moderators_read_a_suspended_persons_post_and_comments_marked(
    client, new_client, people, bens_things
) -> None:
    assert act(client, people["mod"], "suspend", people["ben"].id, "Spam", days=1).is_success
    moderator, ann = new_client(), new_client()
    Auth(moderator).login("mod")
    Auth(ann).login("ann")
    page = moderator.get(f"/posts/{bens_things['post']}")
    assert page.status_code == 200 and "Benword" in page.text
    assert "Hidden while its author is suspended." in page.text
    thread = moderator.get(f"/posts/{bens_things['anns']}").text
    assert "a benremark here" in thread and "Hidden while its author is suspended." in thread
    fragment = moderator.get(f"/comments/{bens_things['comment']}/fragment")
    assert fragment.status_code == 200 and "benremark" in fragment.text
    # Nobody else: not the page's owner, not through the fragment.
    assert "benremark" not in ann.get(f"/posts/{bens_things['anns']}").text
    assert ann.get(f"/comments/{bens_things['comment']}/fragment").status_code == 404
    assert new_client().get(f"/comments/{bens_things['comment']}/fragment").status_code == 404
    api = client.get(f"/api/posts/{bens_things['post']}", headers=people["mod"].headers)
    assert api.status_code == 200 and api.json()["title"] == "Benword title"
    listed = client.get(
        f"/api/posts/{bens_things['anns']}/comments", headers=people["mod"].headers
    ).json()
    assert [c["content"] for c in listed] == ["a benremark here"]
    assert (
        client.get(f"/api/posts/{bens_things['post']}", headers=people["ann"].headers).status_code
        == 404
    )
    # Lists stay as everyone's: the moderator's home page leaves the post out.
    assert "Benword" not in moderator.get("/").text


def test_moderators_read_a_suspended_persons_profile(
    client, new_client, people, bens_things
) -> None:
    ben = people["ben"]
    assert act(client, people["mod"], "suspend", ben.id, "Spam links", days=1).is_success
    moderator = new_client()
    Auth(moderator).login("mod")
    page = moderator.get(f"/users/{ben.id}")
    assert page.status_code == 200
    assert "This account is suspended until" in page.text and "Spam links" in page.text
    assert "Benword" in page.text
    for path in (f"/api/users/{ben.id}", f"/api/users/{ben.id}/profile"):
        assert client.get(path, headers=people["mod"].headers).status_code == 200, path
        assert client.get(path, headers=people["ann"].headers).status_code == 404, path
        assert client.get(path).status_code == 404, path
    ann = new_client()
    Auth(ann).login("ann")
    assert ann.get(f"/users/{ben.id}").status_code == 404
    # Lifted: everyone reads it again, and the moderator no longer reads a notice.
    assert act(client, people["mod"], "unsuspend", ben.id, "Sorry").is_success
    assert "This account is suspended" not in moderator.get(f"/users/{ben.id}").text
    assert ann.get(f"/users/{ben.id}").status_code == 200
