"""Following on the pages: the Follow button and the counts on a profile, the
lists of followers and followed, and the feed of the people one follows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from tests.support.pages import Auth, post_form, write_post
from tests.support.statements import StatementCounter
from webapp.models import Follow, Post, User, utcnow

FOLLOW_FORM = 'action="/users/1/follow"'
UNFOLLOW_FORM = 'action="/users/1/unfollow"'


def follow(browser: TestClient, user_id: int):
    return post_form(browser, f"/users/{user_id}/follow", {})


def unfollow(browser: TestClient, user_id: int):
    return post_form(browser, f"/users/{user_id}/unfollow", {})


def follow_rows(db: Session) -> list[tuple[int, int]]:
    db.expire_all()
    return [(row.follower_id, row.followed_id) for row in db.exec(select(Follow)).all()]


def main(html: str) -> str:
    """The page's own content, without the header (which links to /following)."""
    return html[html.index("<main") : html.index("</main>")]


def titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/posts/\d+">([^<]*)</a>', html)


def people(html: str) -> list[str]:
    return re.findall(r'<li>\s*<a href="/users/\d+">([^<]+)</a>', main(html))


def add_users(db: Session, count: int, prefix: str = "reader") -> list[int]:
    """People made straight in the database: faster than registering each."""
    users = [
        User(username=f"{prefix}{n}", email=f"{prefix}{n}@example.com", password_hash="-")
        for n in range(count)
    ]
    db.add_all(users)
    db.commit()
    return [user.id for user in users if user.id is not None]


def add_follows(db: Session, followed_id: int, follower_ids: list[int]) -> None:
    """Each a second after the one before, in this order."""
    start = utcnow() - timedelta(days=1)
    for n, follower_id in enumerate(follower_ids):
        db.add(
            Follow(
                follower_id=follower_id,
                followed_id=followed_id,
                created_at=start + timedelta(seconds=n),
            )
        )
    db.commit()


def add_posts(db: Session, owner_id: int, count: int, title: str = "Post", published=True) -> None:
    """Posts an hour apart, the last one newest: "Post 0" … "Post n-1"."""
    start = utcnow() - timedelta(days=2)
    for n in range(count):
        moment = start + timedelta(hours=n)
        db.add(
            Post(
                title=f"{title} {n}",
                content="Some text.",
                published=published,
                owner_id=owner_id,
                created_at=moment,
                updated_at=moment,
            )
        )
    db.commit()


# --- follow and unfollow ----------------------------------------------------------


def test_a_user_follows_another_and_both_profiles_count_it(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    profile = bob_browser.get("/users/1").text
    assert FOLLOW_FORM in profile and ">Follow</button>" in profile
    assert "<strong>0</strong> followers" in profile

    response = follow(bob_browser, 1)
    assert response.status_code == 303 and response.headers["location"] == "/users/1"
    profile = bob_browser.get("/users/1").text
    assert "You now follow alice." in profile
    assert UNFOLLOW_FORM in profile and ">Unfollow</button>" in profile
    assert '<a href="/users/1/followers"><strong>1</strong> follower</a>' in profile
    assert '<a href="/users/1/following"><strong>0</strong> following</a>' in profile
    assert '<a href="/users/2/following"><strong>1</strong> following</a>' in (
        alice_browser.get("/users/2").text
    )
    assert follow_rows(db) == [(2, 1)]


def test_following_twice_changes_nothing(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    assert follow(bob_browser, 1).status_code == 303
    again = follow(bob_browser, 1)
    assert again.status_code == 303 and again.headers["location"] == "/users/1"
    page = bob_browser.get("/users/1").text
    assert "You already follow alice." in page and "<strong>1</strong> follower<" in page
    assert follow_rows(db) == [(2, 1)]


def test_unfollowing_and_unfollowing_again(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    follow(bob_browser, 1)
    for _ in range(2):
        response = unfollow(bob_browser, 1)
        assert response.status_code == 303 and response.headers["location"] == "/users/1"
        page = bob_browser.get("/users/1").text
        assert "You no longer follow alice." in page
        assert FOLLOW_FORM in page and "<strong>0</strong> followers" in page
    assert follow_rows(db) == []


def test_following_oneself_is_refused_on_ones_own_profile(
    alice_browser: TestClient, db: Session
) -> None:
    for path in ("/users/1/follow", "/users/1/unfollow"):
        response = post_form(alice_browser, path, {})
        assert response.status_code == 422
        assert "<h1>alice</h1>" in response.text
        assert '<p class="form-error" role="alert">You cannot follow yourself.</p>' in response.text
        assert FOLLOW_FORM not in response.text
    assert follow_rows(db) == []


@pytest.mark.parametrize("user_id", ["999", "0", "2147483648", "99999999999999999999"])
def test_following_an_unknown_person_is_a_404(alice_browser: TestClient, user_id: str) -> None:
    for action in ("follow", "unfollow"):
        assert post_form(alice_browser, f"/users/{user_id}/{action}", {}).status_code == 404


def test_following_a_person_whose_id_is_not_a_number_is_a_404(alice_browser: TestClient) -> None:
    assert post_form(alice_browser, "/users/alice/follow", {}).status_code == 404


def test_following_needs_a_login(alice_browser: TestClient, new_client, db: Session) -> None:
    stranger = new_client()
    page = stranger.get("/users/1").text
    assert FOLLOW_FORM not in page  # a link to log in instead of a form
    assert 'href="/login?next=/users/1">Follow</a>' in page
    for action in ("follow", "unfollow"):
        response = post_form(stranger, f"/users/1/{action}", {}, page="/login")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert follow_rows(db) == []


def test_a_follow_without_the_csrf_token_is_refused(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    for action in ("follow", "unfollow"):
        assert bob_browser.post(f"/users/1/{action}").status_code == 403
        forged = bob_browser.post(f"/users/1/{action}", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    assert follow_rows(db) == []


def test_the_owner_sees_no_follow_button(alice_browser: TestClient) -> None:
    page = alice_browser.get("/users/1").text
    assert FOLLOW_FORM not in page and UNFOLLOW_FORM not in page and ">Follow<" not in page
    assert '<a href="/users/1/followers">' in page


def test_the_shared_anonymous_profile_never_carries_a_visitors_button(
    alice_browser: TestClient, bob_browser: TestClient, new_client
) -> None:
    follow(bob_browser, 1)
    stranger = new_client()
    for _ in range(2):  # built, then served from the page cache
        page = stranger.get("/users/1").text
        assert UNFOLLOW_FORM not in page and FOLLOW_FORM not in page
        assert "csrf_token" not in page and "You follow" not in page
    assert UNFOLLOW_FORM in bob_browser.get("/users/1").text  # not the anonymous copy
    assert 'action="/users/2/follow"' in alice_browser.get("/users/2").text


def test_a_follow_shows_at_once_on_a_cached_profile(
    alice_browser: TestClient, bob_browser: TestClient, new_client
) -> None:
    stranger = new_client()
    assert "<strong>0</strong> followers" in stranger.get("/users/1").text
    follow(bob_browser, 1)
    assert "<strong>1</strong> follower<" in stranger.get("/users/1").text
    unfollow(bob_browser, 1)
    assert "<strong>0</strong> followers" in stranger.get("/users/1").text


# --- the lists of people ------------------------------------------------------------


def test_followers_and_following_newest_follow_first(
    client: TestClient, auth: Auth, db: Session, new_client
) -> None:
    auth.register("alice")
    readers = add_users(db, 3)  # reader0, reader1, reader2
    add_follows(db, 1, [readers[1], readers[0], readers[2]])
    page = new_client().get("/users/1/followers")
    assert page.status_code == 200
    assert "People who follow alice" in page.text and "3 followers" in page.text
    assert people(page.text) == ["reader2", "reader0", "reader1"]
    assert '<a href="/users/1">Back to alice’s profile</a>' in page.text

    for reader in readers:
        db.add(Follow(follower_id=1, followed_id=reader))
    db.commit()
    followed = client.get("/users/1/following")
    assert "People alice follows" in followed.text and "following 3 people" in followed.text
    assert sorted(people(followed.text)) == ["reader0", "reader1", "reader2"]
    for reader_id in readers:
        assert f'<a href="/users/{reader_id}">' in followed.text


def test_follows_in_the_same_instant_list_the_later_one_first(
    client: TestClient, auth: Auth, db: Session
) -> None:
    auth.register("alice")
    readers = add_users(db, 3)
    moment = utcnow()
    for reader in readers:
        db.add(Follow(follower_id=reader, followed_id=1, created_at=moment))
    db.commit()
    assert people(client.get("/users/1/followers").text) == ["reader2", "reader1", "reader0"]


def test_the_lists_show_50_a_page_with_a_pager(client: TestClient, auth: Auth, db: Session) -> None:
    auth.register("alice")
    readers = add_users(db, 51)
    add_follows(db, 1, readers)
    first = client.get("/users/1/followers").text
    assert len(people(first)) == 50 and people(first)[0] == "reader50"
    assert 'href="/users/1/followers?page=2"' in first and 'aria-label="Pages"' in first
    second = client.get("/users/1/followers?page=2").text
    assert people(second) == ["reader0"]
    past = client.get("/users/1/followers?page=7")
    assert past.status_code == 200
    assert "This page is past the end: there are only 2 pages." in past.text
    assert 'href="/users/1/followers?page=2">Go to the last page</a>' in past.text


def test_empty_lists_say_so(alice_browser: TestClient) -> None:
    assert "Nobody follows alice yet." in alice_browser.get("/users/1/followers").text
    assert "alice does not follow anyone yet." in alice_browser.get("/users/1/following").text


@pytest.mark.parametrize(
    "path", ["/users/999/followers", "/users/0/following", "/users/2147483648/followers"]
)
def test_the_lists_of_an_unknown_person_are_a_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


# --- the Following feed -------------------------------------------------------------


def test_the_following_feed_needs_a_login(client: TestClient) -> None:
    response = client.get("/following?page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/following%3Fpage%3D2"


def test_the_feed_shows_the_posts_of_the_people_followed_newest_first(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient, new_client
) -> None:
    dave = new_client()
    Auth(dave).register("dave")
    write_post(alice_browser, "Alice first")
    write_post(dave, "Dave, not followed")
    write_post(carol_browser, "Carol second")
    write_post(bob_browser, "Bob's own")
    write_post(alice_browser, "Alice third")
    follow(bob_browser, 1)
    follow(bob_browser, 3)
    page = bob_browser.get("/following")
    assert page.status_code == 200
    assert "<h1>Posts by people you follow</h1>" in page.text
    assert titles(page.text) == ["Alice third", "Carol second", "Alice first"]


def test_drafts_of_the_people_followed_never_show(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    write_post(alice_browser, "Published one")
    write_post(alice_browser, "A secret draft", published=False)
    follow(bob_browser, 1)
    page = bob_browser.get("/following").text
    assert titles(page) == ["Published one"]
    assert "A secret draft" not in page
    assert "A secret draft" not in bob_browser.get("/following?q=secret").text


def test_the_feed_pages_20_at_a_time(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    add_posts(db, 1, 21)
    follow(bob_browser, 1)
    first = bob_browser.get("/following").text
    assert titles(first) == [f"Post {n}" for n in range(20, 0, -1)]
    assert 'href="/following?page=2"' in first
    assert titles(bob_browser.get("/following?page=2").text) == ["Post 0"]
    past = bob_browser.get("/following?page=9")
    assert past.status_code == 200
    assert "This page is past the end: there are only 2 pages." in past.text
    assert 'href="/following?page=2">Go to the last page</a>' in past.text


def test_the_feed_searches_the_posts_of_the_people_followed(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient, db: Session
) -> None:
    write_post(alice_browser, "Harbour lights", "By the sea.")
    write_post(alice_browser, "Mountains", "Far from the harbour.")
    write_post(alice_browser, "Forest", "Trees.")
    write_post(carol_browser, "Harbour, not followed")
    follow(bob_browser, 1)
    page = bob_browser.get("/following?q=HARBOUR").text
    # The best match first: the word in the title.
    assert titles(page) == ["Harbour lights", "Mountains"]
    newest = bob_browser.get("/following?q=HARBOUR&sort=new").text
    assert titles(newest) == ["Mountains", "Harbour lights"]
    assert "Posts by people you follow matching “HARBOUR”" in page
    assert 'action="/following"' in page  # the header's search box searches this feed here
    assert 'value="HARBOUR"' in page
    assert '<a href="/?q=HARBOUR">Search every post</a>' in page

    add_posts(db, 1, 21, title="Harbour note")
    searched = bob_browser.get("/following?q=harbour").text
    assert 'href="/following?page=2&amp;q=harbour"' in searched
    assert len(titles(bob_browser.get("/following?page=2&q=harbour").text)) == 3
    nothing = bob_browser.get("/following?q=volcano").text
    assert "No posts by the people you follow match your search." in nothing


def test_following_nobody_leads_to_the_latest_posts(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    write_post(alice_browser, "Not followed yet")
    for path in ("/following", "/following?q=followed"):
        page = main(bob_browser.get(path).text)
        assert "You do not follow anyone yet" in page
        assert '<a href="/">latest posts</a>' in page
        assert "Not followed yet" not in page


def test_following_people_who_wrote_nothing_says_so(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    follow(bob_browser, 1)
    page = main(bob_browser.get("/following").text)
    assert "The people you follow have not published anything yet." in page
    assert "You do not follow anyone yet" not in page


def test_a_follow_or_unfollow_changes_the_feed_at_once(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    write_post(alice_browser, "Alice writes")
    assert titles(bob_browser.get("/following").text) == []
    follow(bob_browser, 1)
    assert titles(bob_browser.get("/following").text) == ["Alice writes"]
    unfollow(bob_browser, 1)
    assert titles(bob_browser.get("/following").text) == []


def test_the_feed_is_each_readers_own(
    alice_browser: TestClient, bob_browser: TestClient, carol_browser: TestClient
) -> None:
    post_id = write_post(alice_browser, "Alice writes")
    follow(bob_browser, 1)
    follow(carol_browser, 1)
    post_form(bob_browser, f"/posts/{post_id}/vote", {"dir": "1"})
    assert "1 like (including you)" in bob_browser.get("/following").text
    carols = carol_browser.get("/following").text
    assert "1 like<" in carols and "(including you)" not in carols
    assert "You do not follow anyone yet" in alice_browser.get("/following").text


def test_the_header_links_to_the_feed_for_logged_in_visitors_only(
    alice_browser: TestClient, new_client
) -> None:
    assert '<a href="/following">Following</a>' in alice_browser.get("/").text
    assert 'href="/following" aria-current="page">Following</a>' in (
        alice_browser.get("/following").text
    )
    assert 'href="/following"' not in new_client().get("/").text


# --- a fixed number of statements, however long the lists -----------------------------


def statements(engine, browser: TestClient, path: str) -> int:
    with StatementCounter(engine) as counter:
        response = browser.get(path)
    assert response.status_code == 200, path
    return counter.count


def first_and_again(engine, app: FastAPI, browser: TestClient, path: str) -> tuple[int, int]:
    """Statements for a page built afresh, then for the same page once more."""
    browser.get("/")  # settle "last seen"
    app.state.page_cache.clear()
    return statements(engine, browser, path), statements(engine, browser, path)


@pytest.fixture
def reader(client: TestClient, db: Session) -> TestClient:
    """A logged-in reader (user 1) among people made in the database."""
    Auth(client).register("reader")
    return client


def test_the_feed_costs_the_same_for_few_or_many_posts(
    reader: TestClient, db: Session, engine, app: FastAPI
) -> None:
    few, many = add_users(db, 2, prefix="author")
    for followed in (few, many):
        db.add(Follow(follower_id=1, followed_id=followed))
    db.commit()
    add_posts(db, few, 2, title="Few")
    short = first_and_again(engine, app, reader, "/following")
    add_posts(db, many, 40, title="Many")
    long = first_and_again(engine, app, reader, "/following")
    searched = first_and_again(engine, app, reader, "/following?q=many&page=2")
    # The session, the ids, the rows with their authors, the reader's likes;
    # again: the session alone.
    assert short == long == searched == (4, 1)


def test_an_empty_feed_costs_no_more_than_a_full_one(
    reader: TestClient, engine, app: FastAPI
) -> None:
    """The session, the ids (none), and whether the reader follows anyone."""
    assert first_and_again(engine, app, reader, "/following") == (3, 1)


@pytest.mark.parametrize("which", ["followers", "following"])
def test_the_lists_cost_the_same_for_few_or_many_people(
    client: TestClient, db: Session, engine, app: FastAPI, new_client, which: str
) -> None:
    Auth(client).register("alice")
    readers = add_users(db, 60)

    def link(ids: list[int]) -> None:
        for reader_id in ids:
            pair = (reader_id, 1) if which == "followers" else (1, reader_id)
            db.add(Follow(follower_id=pair[0], followed_id=pair[1]))
        db.commit()

    anonymous = new_client()
    costs = []
    for ids in (readers[:2], readers[2:]):
        link(ids)
        path = f"/users/1/{which}"
        costs.append(
            (
                first_and_again(engine, app, client, path),
                first_and_again(engine, app, anonymous, path + "?page=2"),
            )
        )
    # Logged in: the session, the person with their counts, the page of people;
    # again: the session. Anonymous: the data version, then the same two;
    # again, the finished page: the data version.
    assert costs == [((3, 1), (3, 1))] * 2


def test_a_profile_costs_the_same_for_few_or_many_followers(
    client: TestClient, db: Session, engine, app: FastAPI, new_client, bob_browser: TestClient
) -> None:
    """The person with their counts, the posts; for a logged-in stranger, also
    their likes among them and whether they follow the person."""
    Auth(client).register("alice")  # user 2 (bob is 1)
    add_posts(db, 2, 3)
    anonymous = new_client()
    costs = []
    for followers in (1, 60):
        add_follows(db, 2, add_users(db, followers, prefix=f"fan{followers}_"))
        costs.append(
            (
                first_and_again(engine, app, anonymous, "/users/2"),
                first_and_again(engine, app, bob_browser, "/users/2"),
                first_and_again(engine, app, client, "/users/2"),
            )
        )
    # The version (or the session), then one statement: the person with their
    # counts, a page of posts, the visitor's likes and follow. Served again: the
    # version, or the session; the owner's page (drafts included) is never kept.
    assert costs == [((2, 1), (2, 1), (2, 2))] * 2
