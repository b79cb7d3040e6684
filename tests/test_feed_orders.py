"""The feed you act from: New, Hot and Top on every list of posts and in the
API, paging that keeps the order, unknown choices that fall back to the
defaults, likes from the cards, and pages that cost what `/` costs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, update

from tests.support.api import Caller, sign_up, write
from tests.support.pages import Auth, csrf_token
from tests.support.statements import StatementCounter
from webapp.models import Post, utcnow
from webapp.rules import ordering
from webapp.web import cache_policy

TITLE_RE = re.compile(r'<h2><a href="/posts/\d+">([^<]*)</a>')

# A fixed corpus: (title, hours since published, likes, comments), with its
# scores known. "twin-a" and "twin-b" score the same at the same moment: the
# newer (higher id) first.
CORPUS = [
    ("fresh", 0.5, 0, 0),
    ("liked-yesterday", 20, 40, 0),
    ("talked-about", 5, 2, 6),
    ("twin-a", 3, 4, 0),
    ("twin-b", 3, 4, 0),
    ("last-week", 24 * 5, 90, 3),
    ("last-month", 24 * 20, 200, 0),
    ("last-year", 24 * 200, 500, 0),
    ("ancient", 24 * 800, 900, 0),
]


def set_post(db: Session, post_id: int, **values: Any) -> None:
    """Change a post behind the app's back (the version moves with the table,
    so no page keeps an older list), committed at once: SQLite has one writer."""
    db.exec(update(Post).where(col(Post.id) == post_id).values(**values))
    db.commit()


def titles(html: str) -> list[str]:
    return TITLE_RE.findall(html)


def api_titles(client: TestClient, path: str, **headers: str) -> list[str]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return [post["title"] for post in response.json()]


def corpus(client: TestClient, caller: Caller, db: Session) -> datetime:
    """Write the corpus, then set its times and counts behind the app's back
    (the version moves with the table, so no page keeps an older list)."""
    now = utcnow()
    for title, hours, votes, comments in CORPUS:
        post = write(client, caller, title=title, content=f"About {title} #topic")
        set_post(
            db, post["id"], created_at=now - timedelta(hours=hours), votes=votes, comments=comments
        )
    return now


def expected_hot(now: datetime) -> list[str]:
    """The corpus by score at `now`, as the formula says, over every post of
    the last 30 days; ties newest (then the later written) first."""
    ranked = [
        (ordering.hot_score(votes, comments, now - timedelta(hours=hours), now), -hours, n, title)
        for n, (title, hours, votes, comments) in enumerate(CORPUS)
        if hours <= ordering.HOT_DAYS * 24
    ]
    return [title for *_, title in sorted(ranked, reverse=True)]


def expected_top(window: str) -> list[str]:
    span = ordering.WINDOWS[window]  # type: ignore[index]
    kept = [
        (votes, -hours, n, title)
        for n, (title, hours, votes, _comments) in enumerate(CORPUS)
        if span is None or timedelta(hours=hours) <= span
    ]
    return [title for *_, title in sorted(kept, reverse=True)]


@pytest.fixture
def alice(client: TestClient) -> Caller:
    return sign_up(client, "alice")


# --- the orders -------------------------------------------------------------------


def test_the_hot_score_follows_the_formula() -> None:
    now = utcnow()
    assert ordering.hot_score(0, 0, now, now) == pytest.approx(1 / 2**1.5)
    assert ordering.hot_score(3, 1, now - timedelta(hours=7), now) == pytest.approx(6 / 27)
    # A post from the future counts as just published.
    assert ordering.hot_score(0, 0, now + timedelta(hours=5), now) == pytest.approx(1 / 2**1.5)


def test_hot_orders_by_score_ties_newest_first(
    client: TestClient, alice: Caller, db: Session
) -> None:
    now = corpus(client, alice, db)
    hot = expected_hot(now)
    assert hot.index("twin-b") == hot.index("twin-a") - 1
    assert titles(client.get("/?sort=hot").text) == hot
    assert api_titles(client, "/api/posts?sort=hot&limit=100") == hot
    assert titles(client.get("/tags/topic?sort=hot").text) == hot
    assert api_titles(client, "/api/tags/topic/posts?sort=hot&limit=100") == hot
    # Older than 30 days: left out of hot.
    assert "last-year" not in hot and "ancient" not in hot


@pytest.mark.parametrize("window", ["day", "week", "month", "year", "all"])
def test_top_lists_the_most_liked_of_its_window(
    client: TestClient, alice: Caller, db: Session, window: str
) -> None:
    corpus(client, alice, db)
    top = expected_top(window)
    assert titles(client.get(f"/?sort=top&t={window}").text) == top
    assert api_titles(client, f"/api/posts?sort=top&t={window}&limit=100") == top


def test_top_is_of_the_week_unless_told(client: TestClient, alice: Caller, db: Session) -> None:
    corpus(client, alice, db)
    assert titles(client.get("/?sort=top").text) == expected_top("week")


def test_new_is_the_default_and_unknown_choices_fall_back(
    client: TestClient, alice: Caller, db: Session
) -> None:
    corpus(client, alice, db)
    newest = titles(client.get("/").text)
    assert newest[0] == "fresh" and newest[-1] == "ancient"
    for query in ("sort=new", "sort=bogus", "sort=HOT", "sort=", "sort=hot%00", "t=year"):
        response = client.get(f"/?{query}")
        assert response.status_code == 200, query
        assert titles(response.text) == newest, query
    assert titles(client.get("/?sort=top&t=decade").text) == expected_top("week")
    default_api = api_titles(client, "/api/posts?limit=100")
    for query in ("sort=bogus", "sort=top&t=x" * 1, "t=" + "x" * 300):
        response = client.get(f"/api/posts?limit=100&{query}")
        assert response.status_code == 200, query
    assert api_titles(client, "/api/posts?limit=100&sort=nope") == default_api
    assert api_titles(client, "/api/posts?limit=100&sort=top&t=x") == expected_top("week")


def test_the_choices_are_links_with_the_current_one_marked(
    client: TestClient, alice: Caller
) -> None:
    write(client, alice, title="one")
    for path, current in (("/", "New"), ("/?sort=hot", "Hot"), ("/?sort=top&t=day", "Top")):
        html = client.get(path).text
        marked = re.findall(r'<a href="[^"]*"\s+aria-current="page">(\w+)</a>', html)
        assert current in marked, (path, marked)
        for label in ("New", "Hot", "Top"):
            assert re.search(rf'<a href="/[^"]*"[^>]*>{label}</a>', html), (path, label)
    html = client.get("/?sort=top&t=day").text
    assert re.search(r'href="/\?sort=top&amp;t=day"\s+aria-current="page">Day<', html)
    assert 'href="/?sort=top&amp;t=all"' in html


def test_paging_keeps_the_order(client: TestClient, alice: Caller, db: Session) -> None:
    now = utcnow()
    for number in range(45):
        post = write(client, alice, title=f"p{number}")
        # Likes that do not follow the time order.
        set_post(
            db, post["id"], created_at=now - timedelta(minutes=number), votes=(number * 7) % 13
        )
    for query in ("sort=hot", "sort=top&t=all"):
        every = api_titles(client, f"/api/posts?{query}&limit=100")
        assert len(every) == 45
        pages = []
        for number in (1, 2, 3):
            html = client.get(f"/?{query}&page={number}").text
            pages += titles(html)
            if number < 3:
                assert f"page={number + 1}&amp;{query.replace('&', '&amp;')}" in html, query
        assert pages == every, query
        # The API's pages, in the same order.
        api_pages = [
            title
            for skip in (0, 10, 20)
            for title in api_titles(client, f"/api/posts?{query}&limit=10&skip={skip}")
        ]
        assert api_pages == every[:30]


def test_nothing_older_than_the_window_can_rank_on_the_first_pages(
    client: TestClient, alice: Caller, db: Session
) -> None:
    """Hot reads the posts of the last 30 days alone. A post older than that
    with up to a hundred likes scores below a post of the last day with none
    (101 / 746^1.5 < 1 / 26^1.5): with a day's posts to fill them, the first
    pages are those the formula gives over every post."""
    now = utcnow()
    rows: list[tuple[str, float, int]] = []
    for number in range(40):  # the last day, few likes
        rows.append((f"recent{number}", number * 0.6, number % 4))
    for number in range(10):  # 31 days to a year, up to a hundred likes
        rows.append((f"old{number}", 24 * (31 + 33 * number), 10 * (number + 1)))
    for title, hours, votes in rows:
        post = write(client, alice, title=title)
        set_post(db, post["id"], created_at=now - timedelta(hours=hours), votes=votes)
    every = sorted(
        rows,
        key=lambda row: (
            ordering.hot_score(row[2], 0, now - timedelta(hours=row[1]), now),
            -row[1],
        ),
        reverse=True,
    )
    first_pages = [title for title, *_ in every[:40]]
    assert all(title.startswith("recent") for title in first_pages)
    listed = titles(client.get("/?sort=hot").text) + titles(client.get("/?sort=hot&page=2").text)
    assert listed == first_pages
    assert not titles(client.get("/?sort=hot&page=3").text)


def test_the_following_feed_and_the_api_feed_take_the_order(
    client: TestClient, new_client, db: Session
) -> None:
    alice = sign_up(client, "alice")
    reader = new_client()
    Auth(reader).register("reader")
    token = sign_up(client, "reader2")
    now = corpus(client, alice, db)
    for browser in (reader,):
        response = browser.post(
            f"/users/{alice.id}/follow", data={"csrf_token": csrf_token(browser)}
        )
        assert response.status_code == 303
    follow = client.put(f"/api/users/me/following/{alice.id}", headers=token.headers)
    assert follow.status_code in (200, 201, 204), follow.text
    hot = expected_hot(now)
    assert titles(reader.get("/following?sort=hot").text) == hot
    assert titles(reader.get("/following?sort=top&t=month").text) == expected_top("month")
    assert api_titles(client, "/api/feed?sort=hot&limit=100", **token.headers) == hot
    assert api_titles(client, "/api/feed?sort=bad&limit=100", **token.headers)[0] == "fresh"


# --- acting from the card -----------------------------------------------------------


def like_form(html: str, post_id: int) -> dict[str, str]:
    action = f'action="/posts/{post_id}/vote" class="like-form card-like"'
    form = re.search(rf'<form method="post" {action}>(.*?)</form>', html, re.S)
    assert form, f"no like form for post {post_id}"
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(1)))


@pytest.mark.parametrize("path", ["/?sort=hot&page=1", "/?sort=top&t=all", "/tags/topic", "/"])
def test_a_like_from_a_card_returns_to_the_same_page_and_order(
    client: TestClient, new_client, path: str
) -> None:
    alice = sign_up(client, "alice")
    post = write(client, alice, title="Likeable", content="#topic")
    bob = new_client()
    Auth(bob).register("bob")
    html = bob.get(path).text
    fields = like_form(html, post["id"])
    assert fields["dir"] == "1"
    assert fields["next"] == path.replace("&", "&amp;")
    assert fields["csrf_token"] == csrf_token(bob)
    sent = {name: value.replace("&amp;", "&") for name, value in fields.items()}
    response = bob.post(f"/posts/{post['id']}/vote", data=sent)
    assert response.status_code == 303
    assert response.headers["location"] == path
    after = bob.get(path).text
    assert 'aria-pressed="true"' in after
    assert like_form(after, post["id"])["dir"] == "0"
    assert "1 like (including you)" in after


def test_every_list_has_like_buttons_for_a_logged_in_visitor_only(
    client: TestClient, new_client
) -> None:
    alice = sign_up(client, "alice")
    post = write(client, alice, title="Likeable", content="#topic")
    bob = new_client()
    Auth(bob).register("bob")
    bob.post(f"/users/{alice.id}/follow", data={"csrf_token": csrf_token(bob)})
    for path in ("/", "/?sort=hot", "/following", "/tags/topic", f"/users/{alice.id}"):
        html = bob.get(path).text
        assert like_form(html, post["id"]), path
        assert (
            f'href="/posts/{post["id"]}#comments"><span class="comment-count">0 comments</span></a>'
            in html
        )
    anonymous = new_client().get("/").text
    assert "card-like" not in anonymous
    assert f'href="/posts/{post["id"]}#comments"' in anonymous


def test_a_like_asked_for_as_json_answers_the_count(client: TestClient, new_client) -> None:
    alice = sign_up(client, "alice")
    post = write(client, alice, title="Likeable")
    bob = new_client()
    Auth(bob).register("bob")
    token = csrf_token(bob)
    json = {"Accept": "application/json"}
    liked = bob.post(
        f"/posts/{post['id']}/vote", data={"csrf_token": token, "dir": "1"}, headers=json
    )
    assert liked.status_code == 200
    assert liked.json() == {"liked": True, "votes": 1}
    again = bob.post(
        f"/posts/{post['id']}/vote", data={"csrf_token": token, "dir": "1"}, headers=json
    )
    assert again.json() == {"liked": True, "votes": 1}
    # No message waits for the next page: the script showed the change.
    assert "You like this post" not in bob.get("/").text
    gone = bob.post("/posts/999999/vote", data={"csrf_token": token, "dir": "1"}, headers=json)
    assert gone.status_code == 404


def test_a_like_never_returns_to_another_site(client: TestClient, new_client) -> None:
    alice = sign_up(client, "alice")
    post = write(client, alice)
    bob = new_client()
    Auth(bob).register("bob")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil"):
        response = bob.post(
            f"/posts/{post['id']}/vote",
            data={"csrf_token": csrf_token(bob), "dir": "1", "next": target},
        )
        assert response.headers["location"] == "/", target


def test_a_like_moves_the_hot_order_for_the_one_who_liked_at_once(
    client: TestClient, new_client, db: Session
) -> None:
    alice = sign_up(client, "alice")
    older = write(client, alice, title="older")
    write(client, alice, title="newer")
    set_post(db, older["id"], created_at=utcnow() - timedelta(hours=1))
    bob = new_client()
    Auth(bob).register("bob")
    assert titles(bob.get("/?sort=hot").text) == ["newer", "older"]
    fields = like_form(bob.get("/?sort=hot").text, older["id"])
    bob.post(f"/posts/{older['id']}/vote", data=fields)
    assert titles(bob.get("/?sort=hot").text) == ["older", "newer"]
    assert titles(bob.get("/?sort=top&t=all").text) == ["older", "newer"]


# --- what a page costs ---------------------------------------------------------------

ORDERED = ["/?sort=hot", "/?sort=hot&page=2", "/?sort=top&t=week", "/?sort=top&t=all&page=2"]


def test_ordered_pages_cost_what_the_home_page_costs(
    busy_site: list[TestClient], new_client, engine: Any, app: FastAPI
) -> None:
    anonymous = new_client()
    for path in ORDERED:
        with StatementCounter(engine) as first:
            assert anonymous.get(path).status_code == 200
        assert first.count <= 4, (path, first.statements)
        with StatementCounter(engine) as again:
            assert anonymous.get(path).status_code == 200
        assert again.count <= 1, (path, again.statements)
    viewer = busy_site[0]
    viewer.get("/")
    app.state.page_cache.clear()
    for path in ORDERED:
        with StatementCounter(engine) as first:
            page = viewer.get(path)
        assert page.status_code == 200
        assert first.count <= 5, (path, first.statements)
        with StatementCounter(engine) as again:
            assert viewer.get(path).status_code == 200
        assert again.count <= 2, (path, again.statements)
    with StatementCounter(engine) as api:
        assert viewer.get("/api/posts?sort=hot").status_code == 200
    assert api.count == 1, api.statements


def test_a_ranked_page_is_kept_no_longer_than_its_bound() -> None:
    hot = cache_policy.feed(1, (), ordering.order_of("hot", ""))
    top = cache_policy.feed(1, (), ordering.order_of("top", "day"))
    newest = cache_policy.feed(1, ())
    assert hot.seconds == top.seconds == cache_policy.RANKED_SECONDS <= 10
    assert hot.shows_likes and top.shows_likes  # a like retires them
    assert newest.seconds is None and not newest.shows_likes
    assert len({hot.key, top.key, newest.key}) == 3
