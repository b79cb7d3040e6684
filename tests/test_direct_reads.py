"""The busiest reads, answered before routing: the same answers as the routes
give through the framework, and whatever they do not take left to the app."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlmodel import Session, col

from tests.support.api import Caller, sign_up, write
from tests.support.app import on_own_loop
from tests.support.images import picture
from tests.support.pages import Auth, write_post
from tests.support.statements import StatementCounter
from webapp.core.config import Settings
from webapp.core.db import create_async_db_engine, new_session, transaction
from webapp.core.deps import services_of
from webapp.core.direct_reads import DirectReads, DirectRoute
from webapp.core.page_cache import MANY_BYTES, PageCache
from webapp.models import PostPublic, ThreadComment, User, UserPublic, built
from webapp.rules import comments, ordering, posts, search_query
from webapp.web import cache_policy
from webapp.web.cache_policy import ONE_OF_MANY_PAGES, Kept, shared_html


def test_head_of_a_post_has_the_headers_of_its_get_and_no_body(alice_browser: TestClient) -> None:
    post_id = write_post(alice_browser, "Headed")
    alice_browser.get(f"/posts/{post_id}")  # shows the one-time message
    got = alice_browser.get(f"/posts/{post_id}")
    head = alice_browser.head(f"/posts/{post_id}")
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    for name in ("content-security-policy", "x-frame-options", "cache-control"):
        assert head.headers[name] == got.headers[name]
    assert got.headers["cache-control"] == "no-store"  # a logged-in visitor's page


def test_a_missing_post_or_person_is_the_404_page_with_the_visitors_header(
    alice_browser: TestClient, client: TestClient
) -> None:
    for path in ("/posts/999999", "/users/999999", "/posts/" + "9" * 40):
        page = alice_browser.get(path)
        assert page.status_code == 404, path
        assert "alice" in page.text  # the logged-in header
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"


def test_a_draft_shows_to_its_owner_alone(
    alice_api: Caller, bob_browser: TestClient, client: TestClient
) -> None:
    draft = write(client, alice_api, title="Secret plan", published=False)
    path = f"/posts/{draft['id']}"
    assert bob_browser.get(path).status_code == 404
    # Without a token the API's read is answered before routing; with one, by the route.
    assert client.get(f"/api{path}").status_code == 404
    assert client.get(f"/api{path}", headers=alice_api.headers).json()["title"] == "Secret plan"
    bad = client.get(f"/api{path}", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.headers["cache-control"] == "no-store"


def test_the_apis_one_post_and_one_user_answer_as_documented(
    alice_api: Caller, client: TestClient
) -> None:
    post = write(client, alice_api, title="Open")
    answer = client.get(f"/api/posts/{post['id']}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == post
    user = client.get(f"/api/users/{alice_api.id}")
    assert user.json()["username"] == alice_api.username
    assert "email" not in user.json()
    assert client.get("/api/users/999999").json() == {"detail": "User not found"}
    # A query the route must read (and here ignore) goes through the framework alike.
    assert client.get(f"/api/posts/{post['id']}?x=1").json() == post


def test_the_apis_page_of_posts_is_the_same_before_and_after_routing(
    alice_api: Caller, client: TestClient
) -> None:
    titles = [write(client, alice_api, title=f"Listed {n}")["title"] for n in range(5)]
    direct = client.get("/api/posts?limit=3&skip=1")
    # `search=` is a query only the route reads: the same page, through the framework.
    routed = client.get("/api/posts?limit=3&skip=1&search=")
    assert direct.status_code == routed.status_code == 200
    assert direct.headers["content-type"] == routed.headers["content-type"]
    assert direct.json() == routed.json()
    assert [post["title"] for post in direct.json()] == titles[::-1][1:4]
    assert len(client.get("/api/posts").json()) == 5
    # The route's own reading of what the direct one does not take.
    assert len(client.get("/api/posts?limit=2&limit=4").json()) == 4  # the last value
    assert len(client.get("/api/posts?limit=04").json()) == 4


def test_the_health_check_is_one_statement_before_routing_and_the_same_after(
    client: TestClient, engine
) -> None:
    with StatementCounter(engine) as counter:
        direct = client.get("/healthz")
    # A query the direct door does not take: the route answers, through the framework.
    routed = client.get("/healthz?probe=1")
    assert direct.status_code == routed.status_code == 200
    assert direct.json() == routed.json() == {"status": "ok"}
    assert direct.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert [s.split()[0] for s in counter.statements] == ["SELECT"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "skip=-1", "limit=%C2%B2", "limit=", "skip=1e3", "limit=x"]
)
def test_a_page_of_posts_out_of_bounds_is_still_refused(client: TestClient, query: str) -> None:
    answer = client.get(f"/api/posts?{query}")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/json"


def test_a_direct_route_takes_only_the_whole_numbers_it_names() -> None:
    route = DirectRoute(
        re.compile("/x"),
        lambda call, number: None,
        "/x",
        plain=True,  # type: ignore[arg-type,return-value]
        numbers={"limit": range(1, 101), "skip": range(0, 1000)},
    )
    assert route.numbers_in(b"") == {}
    assert route.numbers_in(b"limit=20&skip=999") == {"limit": 20, "skip": 999}
    assert route.numbers_in(b"skip=0&limit=07") == {"skip": 0, "limit": 7}
    for refused in (
        b"limit=0",
        b"limit=101",
        b"skip=1000",
        b"limit=20&limit=30",
        b"other=1",
        b"limit=",
        b"limit=+1",
        b"limit=\xc2\xb2",
        b"limit=1&",
        b"limit=12345678901",
    ):
        assert route.numbers_in(refused) is None, refused


def test_a_page_of_a_posts_comments_is_read_from_the_query(alice_browser: TestClient) -> None:
    post_id = write_post(alice_browser, "Talked about")
    past_end = alice_browser.get(f"/posts/{post_id}?page=7&page=9")
    assert past_end.status_code == 200
    assert "past the end" in past_end.text


# --- the page cache under a stream of pages read once ------------------------------


async def never_read() -> None:
    raise AssertionError("the versions are given by observe() here")


def cache_holding_lists() -> tuple[PageCache, list[Kept]]:
    """A small cache (50 places, 10 of one of many) holding 20 pages of the feed."""
    cache = PageCache(never_read, max_entries=50, max_many=10)  # type: ignore[arg-type]
    cache.observe(1, 1, 0)
    lists = [shared_html("/", b"page=%d" % number) for number in range(1, 21)]
    for kept in lists:
        cache.put(kept.key, b"list", cache.seen(), minor=True, one_of_many=kept.one_of_many)
    return cache, lists


def test_a_stream_of_posts_read_once_pushes_out_no_list() -> None:
    cache, lists = cache_holding_lists()
    for post_id in range(1, 1001):
        kept = shared_html(f"/posts/{post_id}", b"")
        assert kept.one_of_many
        cache.put(kept.key, b"post", cache.seen(), minor=True, one_of_many=True)
    assert all(cache.get(kept.key) == b"list" for kept in lists)
    kept_posts = [n for n in range(1, 1001) if cache.get(shared_html(f"/posts/{n}", b"").key)]
    assert kept_posts == list(range(991, 1001))  # the most recent ten


def test_a_worker_keeps_200_entries_at_most_the_least_recent_going_first() -> None:
    """The bound of a worker's memory for pages (README: what a worker holds):
    100 places of one post or person among the 200, and a list pushed out only
    by what was read after it."""
    cache = PageCache(never_read)  # type: ignore[arg-type]
    cache.observe(1, 1, 0)
    lists = [shared_html("/", b"page=%d" % number) for number in range(1, 101)]
    posts = [shared_html(f"/posts/{post_id}", b"") for post_id in range(1, 201)]
    for kept in [*lists, *posts]:
        cache.put(kept.key, b"page", cache.seen(), minor=True, one_of_many=kept.one_of_many)
    assert all(cache.get(kept.key) == b"page" for kept in lists)
    assert [kept for kept in posts if cache.get(kept.key)] == posts[100:]
    newer = shared_html("/", b"page=101")
    cache.put(newer.key, b"page", cache.seen(), minor=True)
    assert cache.get(lists[0].key) is None  # the least recently read of all
    assert all(cache.get(kept.key) == b"page" for kept in [*lists[1:], *posts[100:], newer])


def test_the_pages_of_one_of_many_hold_half_a_megabyte_at_most() -> None:
    """Profiles' pages (20 KB each) fill the budget before the 100 places; a
    list is pushed out by none of them, and the most recent pages stay."""
    cache, lists = cache_holding_lists()
    cache.max_entries, cache.max_many = 200, 100
    profile = b"x" * 20_000
    for user_id in range(1, 201):
        kept = shared_html(f"/users/{user_id}", b"")
        cache.put(kept.key, profile, cache.seen(), minor=True, one_of_many=True)
    kept_people = [n for n in range(1, 201) if cache.get(shared_html(f"/users/{n}", b"").key)]
    assert kept_people == list(range(175, 201))  # 26 pages of 20,000 bytes: 520,000 of 524,288
    assert MANY_BYTES == 512 * 1024
    assert all(cache.get(kept.key) == b"list" for kept in lists)
    # A page kept again is counted once, at its new length.
    again = shared_html("/users/200", b"")
    for _ in range(3):
        cache.put(again.key, b"short", cache.seen(), minor=True, one_of_many=True)
    newcomer = shared_html("/users/999", b"")
    cache.put(newcomer.key, profile, cache.seen(), minor=True, one_of_many=True)
    assert cache.get(shared_html("/users/175", b"").key) == profile  # room made by the shorter page
    # Forgotten with everything else on a removal: the budget is whole again.
    cache.observe(1, 1, 1)
    for user_id in range(1, 27):
        kept = shared_html(f"/users/{user_id}", b"")
        cache.put(kept.key, profile, cache.seen(), minor=True, one_of_many=True)
    assert all(cache.get(shared_html(f"/users/{n}", b"").key) for n in range(1, 27))


def test_the_pages_of_one_post_or_person_are_the_ones_of_many() -> None:
    assert ONE_OF_MANY_PAGES == ("/posts/", "/users/")
    assert not shared_html("/", b"").one_of_many
    assert not shared_html("/following", b"").one_of_many
    assert shared_html("/users/3/followers", b"").one_of_many


def test_the_pages_of_a_search_are_the_ones_of_many() -> None:
    """A search's queries are as many as posts: its page, its list, its counts,
    its cards and the people it found each take one of the few places."""
    for query in (b"q=garden", b"page=2&q=two+words", b"q=tea&sort=top&t=week"):
        assert shared_html("/", query).one_of_many, query
        assert shared_html("/tags/cooking", query).one_of_many, query
    for query in (b"", b"q=", b"page=2", b"sort=hot", b"faq=1&q="):
        assert not shared_html("/", query).one_of_many, query
    searched = search_query.parse("garden tea").key
    top = ordering.order_of("top", "week")
    for order in (ordering.order_of("", ""), ordering.RELEVANCE, top):
        found = cache_policy.feed(1, searched, order)
        assert found.one_of_many
        assert cache_policy.tag_feed("cooking", 1, searched, order).one_of_many
        assert cache_policy.following_feed(3, 1, searched, order).one_of_many
        assert cache_policy.counts(found).one_of_many and cache_policy.cards(found).one_of_many
        assert not cache_policy.feed(1, (), order).one_of_many
        assert not cache_policy.tag_feed("cooking", 1, (), order).one_of_many
        assert not cache_policy.following_feed(3, 1, (), order).one_of_many
    assert cache_policy.people_found(searched).one_of_many


def test_a_stream_of_searches_read_once_pushes_out_no_list() -> None:
    cache, lists = cache_holding_lists()
    for number in range(1, 1001):
        kept = shared_html("/", b"q=word%d" % number)
        cache.put(kept.key, b"found", cache.seen(), minor=True, one_of_many=kept.one_of_many)
    assert all(cache.get(kept.key) == b"list" for kept in lists)


# --- the hot statements, run on the driver's own cursor -------------------------------


@pytest.mark.postgres
def test_a_driver_statement_reads_what_the_session_reads(
    settings: Settings, alice_api: Caller, client: TestClient
) -> None:
    """The same rows, the same values and types (times as aware UTC datetimes),
    and the engine's listeners hear the statement."""
    post = write(client, alice_api, title="Compared")
    client.post(
        f"/api/posts/{post['id']}/comments", json={"content": "First"}, headers=alice_api.headers
    )
    heard: list[str] = []

    async def compare() -> None:
        engine = create_async_db_engine(settings, pooled=False)
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: heard.append(a[2]))
        try:
            for statement in (comments._ANONYMOUS_PAGE, posts._PUBLISHED_POST):
                params = {"post_id": post["id"]}
                async with new_session(engine) as db:
                    fast = await statement.rows(db, params)
                async with new_session(engine) as db:
                    slow = list(await db.exec(statement.statement, params=params))
                assert [tuple(row) for row in fast] == [tuple(row) for row in slow]
                # (The page's rows are the post's and the comment's, each
                # with the other's columns empty.)
                times = [value for row in fast for value in row if isinstance(value, datetime)]
                assert times and all(time.utcoffset() == timedelta(0) for time in times)
        finally:
            await engine.dispose()

    on_own_loop(compare())
    assert len(heard) == 4


@pytest.mark.postgres
def test_a_driver_statement_on_a_dead_connection_is_read_again_on_a_new_one(
    settings: Settings, alice_api: Caller, client: TestClient
) -> None:
    post = write(client, alice_api, title="Survivor")

    async def read_after_the_connection_died() -> None:
        engine = create_async_db_engine(settings, pooled=False)
        try:
            async with new_session(engine) as db:
                connection = await db.connection()
                pid = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
                async with engine.connect() as other:
                    await other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
                found = await posts._PUBLISHED_POST.rows(db, {"post_id": post["id"]})
                assert [row.title for row in found] == ["Survivor"]
        finally:
            await engine.dispose()

    on_own_loop(read_after_the_connection_died())


@pytest.mark.postgres
def test_a_read_before_the_session_holds_a_connection_takes_one_of_its_own(
    settings: Settings, alice_api: Caller, client: TestClient
) -> None:
    """An anonymous page's statement runs on a connection from the pool, given
    back as soon as its rows are read, and the session is left without one;
    a pooled connection that the database dropped is read around through the
    session, which tries the statement again on a new one."""
    post = write(client, alice_api, title="Survivor")
    heard: list[str] = []

    async def read_twice() -> None:
        engine = create_async_db_engine(settings)  # pooled, as in production
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: heard.append(a[2]))
        try:
            db = new_session(engine)
            found = await posts._PUBLISHED_POST.rows(db, {"post_id": post["id"]})
            assert [row.title for row in found] == ["Survivor"]
            assert not db.in_transaction()
            assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            async with engine.connect() as pooled:
                pid = (await pooled.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
            killer = create_async_db_engine(settings, pooled=False)
            async with killer.connect() as other:
                await other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            await killer.dispose()
            found = await posts._PUBLISHED_POST.rows(db, {"post_id": post["id"]})
            assert [row.title for row in found] == ["Survivor"]
            await db.close()
        finally:
            await engine.dispose()

    on_own_loop(read_twice())
    assert len([sql for sql in heard if "FROM posts" in sql]) >= 2


@pytest.mark.postgres
def test_inside_a_transaction_a_driver_statement_runs_through_the_session(
    settings: Settings, alice_api: Caller, client: TestClient
) -> None:
    """A write that reads back what it wrote must fail with its transaction if
    the read fails: the read goes through SQLAlchemy there (its execution
    context is heard), and on the driver's cursor outside one (none is)."""
    post = write(client, alice_api, title="Inside")
    contexts: list[object] = []

    async def read_inside_and_outside() -> None:
        engine = create_async_db_engine(settings, pooled=False)
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: contexts.append(a[4]))
        try:
            async with new_session(engine) as db:
                await posts._PUBLISHED_POST.rows(db, {"post_id": post["id"]})

                async def work() -> None:
                    await posts._PUBLISHED_POST.rows(db, {"post_id": post["id"]})

                contexts.append("transaction")
                await transaction(db, work)
        finally:
            await engine.dispose()

    on_own_loop(read_inside_and_outside())
    inside = contexts[contexts.index("transaction") + 1 :]
    assert contexts[0] is None  # outside: the driver's cursor
    assert inside and all(context is not None for context in inside)


def test_the_driver_keeps_the_parse_of_every_direct_statement() -> None:
    """psycopg parses a longer statement's placeholders again on every run."""
    from psycopg import _queries
    from sqlalchemy.dialects import postgresql

    from webapp.rules import accounts, follows, post_list

    statements = [
        comments._ANONYMOUS_PAGE,
        comments._VISITORS_PAGE,
        comments._MODERATORS_PAGE,
        follows._ANONYMOUS_PROFILE,
        follows._VISITORS_PROFILE,
        follows._MODERATORS_PROFILE,
        post_list._NEWEST,
        post_list._FROM_SKIP,
        posts._VISIBLE_POST,
        accounts._ACCOUNT_BY_ID,
    ]
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    for statement in statements:
        text = str(statement.statement.compile(dialect=dialect)).encode()
        assert len(text) <= _queries.MAX_CACHED_STATEMENT_LENGTH


# --- the same page whichever way it is reached ----------------------------------------


def test_a_post_a_profile_the_home_page_or_the_following_feed_before_routing_is_the_routes_page(
    app: FastAPI, client: TestClient, new_client, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rule of these pages (drafts, hidden posts, suspended people,
    comments and replies, pictures, pages, searches, 404s, the login the
    following feed asks for) lives in the routes, which both ways call: the
    answers, headers and all, are byte for byte the same for an anonymous
    visitor, the owner, someone else, a moderator and a reader who blocks and
    mutes people."""
    names = ("alice", "bob", "carol", "mod", "dora")
    alice, bob, carol, mod, dora = (sign_up(client, name) for name in names)
    db.exec(update(User).where(col(User.id) == mod.id).values(role="moderator"))  # type: ignore[call-overload]
    db.commit()
    media = [
        client.post(
            "/api/media",
            files={"file": (f"p{n}.png", picture(colour=(n * 60, 30, 30)), "image/png")},
            data={"alt": f"A red <square> & {n}"},
            headers=alice.headers,
        ).json()["id"]
        for n in range(2)
    ]
    shown = write(
        client, alice, title="Talked <about>", content="**Bold** #tag @bob", media_ids=media
    )
    draft = write(client, alice, title="Kept back", published=False)
    hidden = write(client, alice, title="Taken down")
    by_carol = write(client, carol, title="By someone suspended")
    by_bob = write(client, bob, title="Muted by dora")
    for reader, followed in ((bob, alice), (bob, carol), (mod, alice), (dora, alice), (dora, bob)):
        answer = client.put(f"/api/users/me/following/{followed.id}", headers=reader.headers)
        assert answer.status_code == 204, answer.text
    for shield, shielded in (("mutes", bob), ("blocks", carol)):
        answer = client.put(f"/api/users/me/{shield}/{shielded.id}", headers=dora.headers)
        assert answer.status_code == 204, answer.text
    comments_of = f"/api/posts/{shown['id']}/comments"
    first = client.post(comments_of, json={"content": "First"}, headers=bob.headers).json()
    reply = {"content": "A *reply*", "parent_id": first["id"]}
    assert client.post(comments_of, json=reply, headers=alice.headers).status_code == 201
    for action, kind, target in (("hide", "post", hidden["id"]), ("suspend", "user", carol.id)):
        body = {"action": action, "target_type": kind, "target_id": target, "reason": "Spam"}
        answer = client.post("/api/moderation/actions", json=body, headers=mod.headers)
        assert answer.status_code == 201, answer.text

    cache = services_of(app).page_cache
    taken: list[str] = []
    direct_route_for = DirectReads.route_for

    def noting(self: DirectReads, scope: dict[str, Any]) -> Any:
        found = direct_route_for(self, scope)
        if found is not None:
            taken.append(scope["path"])
        return found

    def both_ways(browser: TestClient, path: str) -> tuple[Any, Any]:
        cache.clear()
        with monkeypatch.context() as patch:
            patch.setattr(DirectReads, "route_for", noting)
            direct = browser.get(path)
        cache.clear()
        with monkeypatch.context() as patch:
            patch.setattr(DirectReads, "route_for", lambda self, scope: None)
            routed = browser.get(path)
        return direct, routed

    paths = [
        f"/posts/{shown['id']}",
        f"/posts/{shown['id']}?page=2",
        f"/posts/{draft['id']}",
        f"/posts/{hidden['id']}",
        f"/posts/{by_carol['id']}",
        "/posts/999999",
        f"/users/{alice.id}",
        f"/users/{alice.id}?page=2",
        f"/users/{alice.id}?q=talked",
        f"/users/{carol.id}",
        "/users/999999",
        "/",
        "/?page=2",
        "/?page=x",
        "/?q=talked",
        "/?q=%22talked+about%22+-kept",
        "/?q=%23tag&sort=new",
        "/?sort=top&t=week",
        "/?sort=hot&q=talked&q=bold",
        "/following",
        "/following?page=2",
        "/following?page=x",
        "/following?q=talked",
        "/following?sort=top&t=day",
        "/following?sort=hot&q=talked&q=bold",
    ]
    seen_statuses = set()
    for name in (None, "alice", "bob", "mod", "dora"):
        browser = new_client()
        if name is not None:
            assert Auth(browser).login(name).status_code == 303
        browser.get("/")  # the one-time message of the login
        for path in paths:
            taken.clear()
            direct, routed = both_ways(browser, path)
            assert taken == [path.partition("?")[0]], (name, path)
            assert direct.status_code == routed.status_code, (name, path)
            assert direct.content == routed.content, (name, path)
            headers = [dict(answer.headers) for answer in (direct, routed)]
            for each in headers:
                each.pop("x-request-id")
            assert headers[0] == headers[1], (name, path)
            seen_statuses.add((name, path, direct.status_code))
            if name == "dora" and path == "/following":
                followed_page = direct.text
    # The cases are what they claim to be.
    assert (None, f"/posts/{draft['id']}", 404) in seen_statuses
    assert ("alice", f"/posts/{draft['id']}", 200) in seen_statuses
    assert (None, f"/posts/{hidden['id']}", 404) in seen_statuses
    assert ("alice", f"/posts/{hidden['id']}", 200) in seen_statuses
    assert (None, f"/posts/{by_carol['id']}", 404) in seen_statuses
    assert ("mod", f"/posts/{by_carol['id']}", 200) in seen_statuses
    assert (None, f"/users/{carol.id}", 404) in seen_statuses
    assert (None, "/following?page=2", 303) in seen_statuses  # off to log in, and back
    assert ("bob", "/following", 200) in seen_statuses
    assert shown["title"].replace("<", "&lt;").replace(">", "&gt;") in followed_page
    assert by_bob["title"] not in followed_page
    page = client.get(f"/posts/{shown['id']}").text
    assert "A red &lt;square&gt; &amp; 1" in page and "reply" in page


def test_a_model_built_from_rows_is_the_one_model_construct_makes() -> None:
    """`built` skips pydantic's loop over the fields: the same fields, in the
    same order, the same JSON; and with a field missing, model_construct's
    defaults."""
    now = datetime.now(UTC)
    owner = {"id": 3, "username": "ada", "created_at": now, "display_name": "Ada"}
    owner |= {"bio_html": "<p>hi</p>", "website": "", "avatar": ""}
    post = {"id": 1, "title": "T", "content": "C", "published": True, "created_at": now}
    post |= {
        "updated_at": now,
        "owner_id": 3,
        "votes": 2,
        "comments": 1,
        "content_html": "<p>C</p>",
    }
    post |= {"excerpt": "C", "tags": ["x"], "media": [], "hidden": None, "hidden_reason": None}
    post |= {"owner_suspended": False, "owner": built(UserPublic, **owner)}
    comment = {"id": 5, "post_id": 1, "content": "c", "content_html": "h", "created_at": now}
    comment |= {"author": None, "parent_id": None, "edited": False, "deleted": False, "depth": 1}
    comment |= {"replying_to": None, "removed": False, "moderated": None, "blocked": False}
    for cls, values in ((UserPublic, owner), (PostPublic, post), (ThreadComment, comment)):
        fast, slow = built(cls, **values), cls.model_construct(**values)  # type: ignore[attr-defined]
        assert type(fast) is cls
        assert list(fast.__dict__.items()) == list(slow.__dict__.items())
        assert fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump_json() == slow.model_dump_json()
        assert fast == slow
    short = built(UserPublic, id=1, username="x", created_at=now)
    assert short == UserPublic.model_construct(id=1, username="x", created_at=now)
    assert short.model_fields_set == {"id", "username", "created_at"}


def test_a_session_left_as_made_serves_the_next_read_and_no_other_does(
    settings: Settings, client: TestClient
) -> None:
    """Direct reads keep a session that a request left untouched for the next
    one; one that began a transaction, holds an object or noted anything is
    never handed on."""
    from webapp.core.direct_reads import _as_made

    async def check() -> None:
        engine = create_async_db_engine(settings, pooled=False)
        try:
            db = new_session(engine)
            assert _as_made(db)
            await db.connection()  # its transaction begins
            assert not _as_made(db)  # in a transaction
            await db.close()
            db = new_session(engine)
            db.add(User(username="pending", password_hash="x"))
            assert not _as_made(db)
            db.expunge_all()
            db.info["noted"] = True
            assert not _as_made(db)
        finally:
            await engine.dispose()

    on_own_loop(check())
