"""Moderation: roles and who may reach what, reports and their limits,
auto-hide, the queue's actions, the public log, and hidden posts and comments
gone from every surface but their author's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from tests.support.api import Caller, login, register, sign_up, write
from tests.support.pages import Auth, post_form, write_post
from webapp.__main__ import main
from webapp.models import Comment, ModerationAction, Post, Report, User, utcnow


def make_role(db: Session, user_id: int, role: str) -> None:
    db.exec(update(User).where(col(User.id) == user_id).values(role=role))  # type: ignore[call-overload]
    db.commit()


def age(db: Session, user_id: int, days: int = 2) -> None:
    db.exec(  # type: ignore[call-overload]
        update(User)
        .where(col(User.id) == user_id)
        .values(created_at=utcnow() - timedelta(days=days))
    )
    db.commit()


def caller(client: TestClient, name: str) -> Caller:
    return sign_up(client, name)


def act(client: TestClient, who: Caller, action: str, kind: str, target: int, reason: str = "rude"):
    body = {"action": action, "target_type": kind, "target_id": target, "reason": reason}
    return client.post("/api/moderation/actions", json=body, headers=who.headers)


@pytest.fixture
def people(client: TestClient, db: Session) -> dict[str, Caller]:
    found = {name: caller(client, name) for name in ("mod", "boss", "ann", "ben")}
    make_role(db, found["mod"].id, "moderator")
    make_role(db, found["boss"].id, "admin")
    return found


# --- roles -----------------------------------------------------------------------


def test_set_role_on_the_command_line(settings, client, db, monkeypatch) -> None:
    register(client, "zed")
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    # In a thread of its own: the command runs its own event loop, and the
    # browser tests keep one running in the main thread.
    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(main, ["users", "set-role", "zed", "admin"]).result() == 0
        db.expire_all()
        assert db.exec(select(User.role).where(User.username == "zed")).one() == "admin"
        assert thread.submit(main, ["users", "set-role", "nobody", "admin"]).result() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/moderation"),
        ("post", "/moderation/posts/1/hide"),
        ("post", "/moderation/posts/1/restore"),
        ("post", "/moderation/comments/1/hide"),
        ("post", "/moderation/comments/1/restore"),
        ("post", "/moderation/reports/1/dismiss"),
        ("post", "/moderation/users/1/suspend"),
        ("post", "/moderation/users/1/unsuspend"),
        ("get", "/admin/users"),
        ("post", "/admin/users/1/role"),
    ],
)
def test_members_get_404_from_the_moderators_pages(new_client, method: str, path: str) -> None:
    browser = new_client()
    Auth(browser).register("member")
    if method == "get":
        assert browser.get(path).status_code == 404
    else:
        assert post_form(browser, path, {"reason": "x", "role": "admin"}).status_code == 404
    anonymous = new_client()
    if method == "get":
        assert anonymous.get(path).status_code == 404
    else:
        # With the form's token, as anyone else: 404. Without one, the token
        # check answers first (403), as for every form, and nothing changes.
        form = {"reason": "x", "role": "admin"}
        assert post_form(anonymous, path, form, page="/login").status_code == 404
        assert anonymous.post(path, data={"reason": "x", "role": "admin"}).status_code == 403
        assert browser.post(path, data={"reason": "x", "role": "admin"}).status_code == 403


def test_api_roles_table(client: TestClient, people) -> None:
    member = people["ann"]
    assert client.get("/api/moderation/reports").status_code == 401
    assert client.get("/api/moderation/reports", headers=member.headers).status_code == 404
    assert client.get("/api/moderation/reports", headers=people["mod"].headers).status_code == 200
    assert client.get("/api/moderation/reports", headers=people["boss"].headers).status_code == 200
    post = write(client, people["ben"])
    assert client.post("/api/moderation/actions", json={}).status_code == 401
    assert act(client, member, "hide", "post", post["id"]).status_code == 404
    assert act(client, people["mod"], "hide", "post", post["id"], reason="").status_code == 422
    assert client.get("/api/moderation/log").status_code == 200


def test_admin_sets_roles_a_moderator_cannot_act_on_an_admin(
    client, new_client, db, people
) -> None:
    boss = new_client()
    Auth(boss).login("boss")
    assert "moderator" not in boss.get(f"/users/{people['ann'].id}").text.split("<h1>")[1][:60]
    page = boss.get("/admin/users?q=an")
    assert page.status_code == 200 and "ann" in page.text
    done = post_form(boss, f"/admin/users/{people['ann'].id}/role", {"role": "moderator"})
    assert done.status_code == 303
    assert 'class="badge role">moderator' in boss.get(f"/users/{people['ann'].id}").text
    mine = post_form(boss, f"/admin/users/{people['boss'].id}/role", {"role": "member"})
    assert mine.status_code == 403
    admins_post = write(client, people["boss"])
    assert act(client, people["mod"], "hide", "post", admins_post["id"]).status_code == 403
    own = write(client, people["mod"])
    assert act(client, people["mod"], "hide", "post", own["id"]).status_code == 403


def test_a_role_taken_away_counts_at_once(client, new_client, db, people) -> None:
    browser = new_client()
    Auth(browser).login("mod")
    assert browser.get("/moderation").status_code == 200
    make_role(db, people["mod"].id, "member")
    assert browser.get("/moderation").status_code == 404
    assert client.get("/api/moderation/reports", headers=people["mod"].headers).status_code == 404


# --- reports ---------------------------------------------------------------------


def test_report_through_the_api(client: TestClient, people) -> None:
    post = write(client, people["ben"])
    body = {"target_type": "post", "target_id": post["id"], "reason": "spam", "note": "ads"}
    first = client.post("/api/reports", json=body, headers=people["ann"].headers)
    assert first.status_code == 201
    assert set(first.json()) == {
        "id",
        "target_type",
        "target_id",
        "reason",
        "note",
        "status",
        "created_at",
    }
    again = client.post("/api/reports", json=body, headers=people["ann"].headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert client.post("/api/reports", json=body, headers=people["ben"].headers).status_code == 422
    assert client.post("/api/reports", json=body).status_code == 401
    missing = {**body, "target_id": 99999}
    assert (
        client.post("/api/reports", json=missing, headers=people["ann"].headers).status_code == 404
    )
    bad = {**body, "reason": "boring"}
    assert client.post("/api/reports", json=bad, headers=people["ann"].headers).status_code == 422


def test_report_pages(client, new_client, people) -> None:
    ben = new_client()
    Auth(ben).login("ben")
    post_id = write_post(ben, "Buy now", "cheap")
    ann = new_client()
    Auth(ann).login("ann")
    page = ann.get(f"/posts/{post_id}")
    assert f'href="/posts/{post_id}/report"' in page.text
    assert ann.get(f"/posts/{post_id}/report").status_code == 200
    sent = post_form(ann, f"/posts/{post_id}/report", {"reason": "spam", "note": ""})
    assert sent.status_code == 303 and sent.headers["location"] == f"/posts/{post_id}"
    assert "moderators will look" in ann.get(f"/posts/{post_id}").text
    assert post_form(ann, f"/posts/{post_id}/report", {"reason": "spam"}).status_code == 303
    assert post_form(ann, f"/posts/{post_id}/report", {"reason": "nope"}).status_code == 422
    assert post_form(ben, f"/posts/{post_id}/report", {"reason": "spam"}).status_code == 422
    user = post_form(ann, f"/users/{people['ben'].id}/report", {"reason": "harassment"})
    assert user.status_code == 303 and user.headers["location"] == f"/users/{people['ben'].id}"
    assert new_client().get(f"/posts/{post_id}/report").status_code == 303  # log in first


def test_more_than_20_reports_an_hour_is_429(client: TestClient, people) -> None:
    ids = [write(client, people["ben"], title=f"p{n}")["id"] for n in range(21)]
    for number, post_id in enumerate(ids):
        body = {"target_type": "post", "target_id": post_id, "reason": "spam"}
        answer = client.post("/api/reports", json=body, headers=people["ann"].headers)
        assert answer.status_code == (429 if number == 20 else 201)
    assert "Retry-After" in answer.headers


@pytest.mark.parametrize("old", [True, False])
def test_auto_hide_counts_day_old_accounts(client: TestClient, db: Session, old: bool) -> None:
    author = caller(client, "author")
    post = write(client, author, title="Rude words")
    for name in ("rep1", "rep2", "rep3"):
        reporter = caller(client, name)
        if old:
            age(db, reporter.id)
        body = {"target_type": "post", "target_id": post["id"], "reason": "harassment"}
        assert client.post("/api/reports", json=body, headers=reporter.headers).status_code == 201
    shown = client.get(f"/api/posts/{post['id']}").status_code
    assert shown == (404 if old else 200)
    assert client.get(f"/api/posts/{post['id']}", headers=author.headers).status_code == 200


# --- the queue, the actions, the log ----------------------------------------------


def test_queue_hide_restore_and_the_log(client, new_client, db, people) -> None:
    post = write(client, people["ben"], title="Offending title", content="Offending text")
    body = {"target_type": "post", "target_id": post["id"], "reason": "spam", "note": "look"}
    client.post("/api/reports", json=body, headers=people["ann"].headers)
    mod = new_client()
    Auth(mod).login("mod")
    queue = mod.get("/moderation")
    assert queue.status_code == 200
    assert "Offending text" in queue.text and "ann" in queue.text and "look" in queue.text
    assert (
        post_form(
            mod, f"/moderation/posts/{post['id']}/hide", {"reason": ""}, page="/moderation"
        ).status_code
        == 422
    )
    hidden = post_form(
        mod, f"/moderation/posts/{post['id']}/hide", {"reason": "Spam link"}, page="/moderation"
    )
    assert hidden.status_code == 303
    again = post_form(
        mod, f"/moderation/posts/{post['id']}/hide", {"reason": "Spam link"}, page="/moderation"
    )
    assert again.status_code == 303
    db.expire_all()
    assert len(db.exec(select(ModerationAction)).all()) == 1
    assert db.exec(select(Report.status)).all() == ["closed"]
    log = client.get("/api/moderation/log").json()
    assert [
        (e["action"], e["target_label"], e["reason"], e["moderator"]["username"]) for e in log
    ] == [("hide", "Offending title", "Spam link", "mod")]
    page = new_client().get("/moderation/log")
    assert page.status_code == 200 and "Spam link" in page.text and "ann" not in page.text
    notes = client.get("/api/notifications", headers=people["ben"].headers).json()
    assert notes[0]["kind"] == "moderation"
    assert (notes[0]["action"], notes[0]["reason"]) == ("hide", "Spam link")
    restored = act(client, people["mod"], "restore", "post", post["id"], reason="ok after all")
    assert restored.status_code == 201
    assert client.get(f"/api/posts/{post['id']}").status_code == 200


def test_dismissing_an_auto_hidden_post_shows_it_again(client, db, people) -> None:
    post = write(client, people["ben"])
    for name in ("rep1", "rep2", "rep3"):
        reporter = caller(client, name)
        age(db, reporter.id)
        body = {"target_type": "post", "target_id": post["id"], "reason": "spam"}
        client.post("/api/reports", json=body, headers=reporter.headers)
    assert client.get(f"/api/posts/{post['id']}").status_code == 404
    listed = client.get("/api/moderation/reports?status=open", headers=people["mod"].headers)
    assert len(listed.json()) == 3
    dismissed = act(client, people["mod"], "dismiss", "post", post["id"], reason="")
    assert dismissed.status_code == 201
    assert client.get(f"/api/posts/{post['id']}").status_code == 200
    closed = client.get("/api/moderation/reports?status=closed", headers=people["mod"].headers)
    assert len(closed.json()) == 3
    assert act(client, people["mod"], "dismiss", "post", post["id"], reason="").status_code == 200


# --- hidden: gone from every surface but the author's ----------------------------------


@pytest.fixture
def hidden_post(client: TestClient, people) -> dict:
    post = write(client, people["ben"], title="Secretword title", content="secretword text")
    assert (
        act(client, people["mod"], "hide", "post", post["id"], reason="Not allowed").status_code
        == 201
    )
    return post


def test_hidden_post_not_in_the_home_feed(client, hidden_post) -> None:
    assert "Secretword" not in client.get("/").text


def test_hidden_post_not_in_search(client, hidden_post) -> None:
    assert "Secretword" not in client.get("/?q=secretword").text
    assert client.get("/api/posts?search=secretword").json() == []


def test_hidden_post_not_in_the_api_list_or_item(client, hidden_post) -> None:
    assert client.get("/api/posts").json() == []
    assert client.get(f"/api/posts/{hidden_post['id']}").status_code == 404


def test_hidden_post_not_on_the_profile_nor_counted(client, hidden_post, people) -> None:
    assert "Secretword" not in client.get(f"/users/{people['ben'].id}").text
    assert client.get(f"/api/users/{people['ben'].id}/profile").json()["posts"] == 0


def test_hidden_post_not_in_the_following_feed(client, new_client, hidden_post, people) -> None:
    ann = new_client()
    Auth(ann).login("ann")
    post_form(ann, f"/users/{people['ben'].id}/follow", {})
    assert "Secretword" not in ann.get("/following").text
    assert client.get("/api/feed", headers=people["ann"].headers).json() == []


def test_hidden_post_page_is_404_but_its_author_reads_why(client, new_client, hidden_post) -> None:
    assert new_client().get(f"/posts/{hidden_post['id']}").status_code == 404
    ben = new_client()
    Auth(ben).login("ben")
    page = ben.get(f"/posts/{hidden_post['id']}")
    assert page.status_code == 200 and "Hidden by moderators: Not allowed" in page.text


def test_hidden_post_cannot_be_commented_on(client, hidden_post, people) -> None:
    answer = client.post(
        f"/api/posts/{hidden_post['id']}/comments",
        json={"content": "hi"},
        headers=people["ann"].headers,
    )
    assert answer.status_code == 404


def test_hidden_comment_is_gone_and_not_counted(client, new_client, db, people) -> None:
    post = write(client, people["ben"])
    made = client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "nasty remark"},
        headers=people["ann"].headers,
    ).json()
    client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "kind remark"},
        headers=people["ben"].headers,
    )
    assert act(client, people["mod"], "hide", "comment", made["id"]).status_code == 201
    listed = client.get(f"/api/posts/{post['id']}/comments").json()
    assert [c["content"] for c in listed] == ["kind remark"]
    assert client.get(f"/api/posts/{post['id']}").json()["comments"] == 1
    assert "nasty remark" not in new_client().get(f"/posts/{post['id']}").text
    own = client.get(f"/api/posts/{post['id']}/comments", headers=people["ann"].headers).json()
    assert "nasty remark" in [c["content"] for c in own]
    client.delete(f"/api/comments/{made['id']}", headers=people["ann"].headers)
    db.expire_all()
    assert db.get(Post, post["id"]).comments == 1  # a hidden comment deleted counts nothing out
    assert db.exec(select(Comment.content)).all() == ["kind remark"]


def test_a_hidden_comment_with_replies_keeps_its_place(client, new_client, people) -> None:
    post = write(client, people["ben"])

    def comment(who: str, content: str, parent_id: int | None = None) -> dict:
        body = {"content": content, "parent_id": parent_id}
        answer = client.post(
            f"/api/posts/{post['id']}/comments", json=body, headers=people[who].headers
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    made = comment("ann", "nasty remark")
    comment("ben", "a fair answer", made["id"])
    assert act(client, people["mod"], "hide", "comment", made["id"]).status_code == 201
    page = new_client().get(f"/posts/{post['id']}").text
    assert "[removed by moderators]" in page and "nasty remark" not in page
    assert "a fair answer" in page and "replying to @ann" not in page
    listed = client.get(f"/api/posts/{post['id']}/comments").json()
    first = listed[0]
    assert (first["content"], first["deleted"], first["author"]) == ("", True, None)
    assert listed[1]["content"] == "a fair answer"
    assert client.get(f"/api/posts/{post['id']}").json()["comments"] == 1
    own = client.get(f"/api/posts/{post['id']}/comments", headers=people["ann"].headers).json()
    assert own[0]["content"] == "nasty remark"
    assert act(client, people["mod"], "restore", "comment", made["id"]).status_code == 201
    assert "nasty remark" in new_client().get(f"/posts/{post['id']}").text


def test_a_hide_reaches_every_worker_at_once(client, app, hidden_post) -> None:
    # A hide moves the removals version: no page cache may serve what it held.
    assert "Secretword" not in client.get("/").text
    login(client, "ben")


def test_a_like_on_a_hidden_post_is_refused_but_its_author_may(client, hidden_post, people) -> None:
    # On PostgreSQL the like is the database's function: it checks the same.
    vote = {"post_id": hidden_post["id"], "dir": 1}
    for name in ("ann", "mod"):
        answer = client.post("/api/vote", json=vote, headers=people[name].headers)
        assert answer.status_code == 404, name
    assert (
        client.get(f"/api/posts/{hidden_post['id']}", headers=people["ben"].headers).json()["votes"]
        == 0
    )
    assert client.post("/api/vote", json=vote, headers=people["ben"].headers).status_code == 201


def test_moderators_and_the_author_read_a_hidden_comment_marked(client, new_client, people) -> None:
    post = write(client, people["ben"])
    made = client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "nasty remark"},
        headers=people["ann"].headers,
    ).json()
    assert act(client, people["mod"], "hide", "comment", made["id"], "Too rude").status_code == 201
    moderator, ann, ben = new_client(), new_client(), new_client()
    for browser, name in ((moderator, "mod"), (ann, "ann"), (ben, "ben")):
        Auth(browser).login(name)
    for browser in (moderator, ann):
        page = browser.get(f"/posts/{post['id']}").text
        assert "nasty remark" in page and "Hidden by moderators: Too rude" in page
        fragment = browser.get(f"/comments/{made['id']}/fragment")
        assert "nasty remark" in fragment.text and "Too rude" in fragment.text
    # The post's owner and strangers: neither on the page nor by the fragment.
    for browser in (ben, new_client()):
        assert "nasty remark" not in browser.get(f"/posts/{post['id']}").text
        assert browser.get(f"/comments/{made['id']}/fragment").status_code == 404
    listed = client.get(f"/api/posts/{post['id']}/comments", headers=people["mod"].headers)
    assert [c["content"] for c in listed.json()] == ["nasty remark"]
    # The author's view, once read, is not what the post's owner is served next.
    assert "nasty remark" in ann.get(f"/posts/{post['id']}").text
    assert "nasty remark" not in ben.get(f"/posts/{post['id']}").text


def test_a_hidden_comment_with_replies_is_a_placeholder_in_its_fragment(
    client, new_client, people
) -> None:
    post = write(client, people["ben"])
    made = client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "nasty remark"},
        headers=people["ann"].headers,
    ).json()
    client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "an answer", "parent_id": made["id"]},
        headers=people["ben"].headers,
    )
    assert act(client, people["mod"], "hide", "comment", made["id"]).status_code == 201
    fragment = new_client().get(f"/comments/{made['id']}/fragment")
    assert fragment.status_code == 200
    assert "[removed by moderators]" in fragment.text and "nasty" not in fragment.text


def test_moderators_read_a_hidden_post_on_its_page_and_in_the_api(
    client, new_client, hidden_post, people
) -> None:
    moderator = new_client()
    Auth(moderator).login("mod")
    page = moderator.get(f"/posts/{hidden_post['id']}")
    assert page.status_code == 200 and "Hidden by moderators: Not allowed" in page.text
    api = client.get(f"/api/posts/{hidden_post['id']}", headers=people["mod"].headers)
    assert api.status_code == 200 and api.json()["title"] == "Secretword title"
    # Still in no list of theirs, and to a member it is a 404.
    assert "Secretword" not in moderator.get("/").text
    assert client.get("/api/posts", headers=people["mod"].headers).json() == []
    member = client.get(f"/api/posts/{hidden_post['id']}", headers=people["ann"].headers)
    assert member.status_code == 404


def test_notifications_no_longer_quote_what_is_hidden(client, new_client, people) -> None:
    post = write(client, people["ann"], title="Anns post", content="hello")
    client.post(
        f"/api/posts/{post['id']}/comments",
        json={"content": "a quotable insult"},
        headers=people["ben"].headers,
    )
    mention = write(client, people["ben"], title="Secret title", content="hey @ann secretbody")
    ann = new_client()
    Auth(ann).login("ann")
    before = ann.get("/notifications").text
    assert "a quotable insult" in before and "Secret title" in before
    comment_id = client.get(f"/api/posts/{post['id']}/comments").json()[0]["id"]
    assert act(client, people["mod"], "hide", "comment", comment_id).status_code == 201
    assert act(client, people["mod"], "hide", "post", mention["id"]).status_code == 201
    after = ann.get("/notifications").text
    assert "a quotable insult" not in after
    assert "Secret title" not in after and "secretbody" not in after
    assert "Anns post" in after  # her own post is hers to read
    # The author, told of the hide, still reads what it was about.
    ben = new_client()
    Auth(ben).login("ben")
    assert "Secret title" in ben.get("/notifications").text


@pytest.mark.parametrize("how", ["hidden", "suspended"])
def test_hidden_or_suspended_posts_leave_tag_pages_and_atom_feeds(
    client, new_client, people, how: str
) -> None:
    ben = people["ben"]
    post = write(client, ben, title="Hushword #hush", content="hushword text")
    write(client, people["ann"], title="Still here #hush", content="fine")
    surfaces = ("/tags/hush", "/feed.atom", f"/users/{ben.id}/feed.atom", "/tags/hush/feed.atom")
    anonymous = new_client()
    for path in surfaces:
        assert "Hushword" in anonymous.get(path).text, path  # cached, before
    tags = client.get("/api/tags/hush/posts").json()
    assert [p["title"] for p in tags] == ["Still here #hush", "Hushword #hush"]
    if how == "hidden":
        assert act(client, people["mod"], "hide", "post", post["id"]).status_code == 201
    else:
        body = {"action": "suspend", "target_type": "user", "target_id": ben.id, "reason": "x"}
        done = client.post("/api/moderation/actions", json=body, headers=people["mod"].headers)
        assert done.status_code == 201
    for path in surfaces:
        answer = anonymous.get(path)
        assert "Hushword" not in answer.text, path
    assert [p["title"] for p in client.get("/api/tags/hush/posts").json()] == ["Still here #hush"]
    restore = "restore" if how == "hidden" else "unsuspend"
    kind, target = ("post", post["id"]) if how == "hidden" else ("user", ben.id)
    assert act(client, people["mod"], restore, kind, target).status_code == 201
    for path in surfaces:
        assert "Hushword" in anonymous.get(path).text, path


def test_a_deleted_placeholder_is_neither_hidden_nor_reported_and_counts_stay(
    client, people
) -> None:
    post = write(client, people["ben"])

    def comment(who: str, content: str, parent_id: int | None = None) -> dict:
        body = {"content": content, "parent_id": parent_id}
        answer = client.post(
            f"/api/posts/{post['id']}/comments", json=body, headers=people[who].headers
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    parent = comment("ann", "a parent")
    comment("ben", "a reply", parent["id"])
    report = {"target_type": "comment", "target_id": parent["id"], "reason": "spam"}
    assert (
        client.post("/api/reports", json=report, headers=people["ben"].headers).status_code == 201
    )
    assert client.delete(f"/api/comments/{parent['id']}", headers=people["ann"].headers).is_success
    assert client.get(f"/api/posts/{post['id']}").json()["comments"] == 1
    # Its report went with its text; it cannot be reported again, nor hidden.
    open_reports = client.get("/api/moderation/reports", headers=people["mod"].headers).json()
    assert open_reports == []
    assert (
        client.post("/api/reports", json=report, headers=people["mod"].headers).status_code == 404
    )
    for action in ("hide", "restore"):
        assert act(client, people["mod"], action, "comment", parent["id"]).status_code == 404
    assert client.get(f"/api/posts/{post['id']}").json()["comments"] == 1


def test_a_comment_hidden_by_reports_then_by_a_moderator_leaves_the_count_once(
    client, db, people
) -> None:
    post = write(client, people["ben"])
    made = client.post(
        f"/api/posts/{post['id']}/comments", json={"content": "x"}, headers=people["ann"].headers
    ).json()
    db.exec(update(Comment).where(col(Comment.id) == made["id"]).values(hidden="reports"))  # type: ignore[call-overload]
    db.exec(update(Post).where(col(Post.id) == post["id"]).values(comments=0))  # type: ignore[call-overload]
    db.commit()
    assert act(client, people["mod"], "hide", "comment", made["id"]).status_code == 201
    assert client.get(f"/api/posts/{post['id']}").json()["comments"] == 0
    assert act(client, people["mod"], "restore", "comment", made["id"]).status_code == 201
    assert client.get(f"/api/posts/{post['id']}").json()["comments"] == 1
