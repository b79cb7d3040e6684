"""Search: word forms and accents, phrases, exclusions, OR, `#tag` and
`@name`, relevance (title above text, close words above far ones, newer
among equals) or newest first, excerpts with the matched words marked and
everything else escaped, people, what may never be found, the statements a
search costs, and hostile queries. On whichever database the suite runs on
(SQLite's FTS5, PostgreSQL's full-text search)."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update
from sqlmodel import Session, col

from tests.support.api import Caller, sign_up, write
from tests.support.app import on_own_loop
from tests.support.pages import Auth, MadeOrRendered, post_form
from tests.support.statements import StatementCounter
from webapp.core.config import Settings
from webapp.core.db import create_async_db_engine, new_session
from webapp.models import Post, User, utcnow
from webapp.rules import ordering, search, search_query

NEWEST_SEARCH = ordering.search_order("new")


def titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/posts/\d+">([^<]*)</a>', html)


def found(client: TestClient, query: str, path: str = "/") -> list[str]:
    response = client.get(f"{path}?q={quote(query)}")
    assert response.status_code == 200, response.text
    return titles(response.text)


def api_titles(client: TestClient, query: str, **headers: str) -> list[str]:
    response = client.get(f"/api/posts?limit=100&search={quote(query)}", headers=headers)
    assert response.status_code == 200, response.text
    return [post["title"] for post in response.json()]


def age(db: Session, post_id: int, hours: float) -> None:
    db.exec(  # type: ignore[call-overload]
        update(Post)
        .where(col(Post.id) == post_id)
        .values(created_at=utcnow() - timedelta(hours=hours))
    )
    db.commit()


@pytest.fixture
def ada(client: TestClient) -> Caller:
    return sign_up(client, "ada")


@pytest.fixture
def corpus(client: TestClient, ada: Caller, db: Session) -> dict[str, int]:
    """A small fixed corpus, each post older than the next."""
    posts = {
        "Server notes": "How the server answers a request, and the servers behind it.",
        "Café society": "We met at the café near the station.",
        "Quick thinking": "The quick fox jumps; a fox is quick.",
        "Foxes": "A brown fox, as quick as ever, and a dog.",
        "Gardening": "Tomatoes and roses in the garden. #plants",
        "Kitchen garden": "Tomatoes, basil and cats. #plants #food",
        "Pets": "Dogs and cats sleeping.",
        "Running": "She runs every morning; running is her joy.",
    }
    ids = {}
    for hours, (title, content) in enumerate(reversed(posts.items())):
        ids[title] = write(client, ada, title=title, content=content)["id"]
        age(db, ids[title], hours)
    return ids


# --- what matches -----------------------------------------------------------------


def test_words_match_their_forms(client: TestClient, corpus: dict[str, int]) -> None:
    assert found(client, "servers") == ["Server notes"]
    assert found(client, "server") == ["Server notes"]
    assert found(client, "run") == ["Running"]
    assert found(client, "SLEEP") == ["Pets"]


def test_accents_are_ignored_both_ways(client: TestClient, ada: Caller) -> None:
    write(client, ada, title="Café", content="accented")
    write(client, ada, title="Naive cafe", content="plain")
    assert sorted(found(client, "cafe")) == ["Café", "Naive cafe"]
    assert sorted(found(client, "café")) == ["Café", "Naive cafe"]
    assert found(client, "naïve") == ["Naive cafe"]


def test_every_word_must_match(client: TestClient, corpus: dict[str, int]) -> None:
    assert found(client, "tomatoes cats") == ["Kitchen garden"]
    assert found(client, "tomatoes volcano") == []


def test_ten_words_must_all_match_and_the_eleventh_is_ignored(
    client: TestClient, ada: Caller
) -> None:
    words = [
        "harbour",
        "kitchen",
        "lantern",
        "meadow",
        "orchard",
        "pottery",
        "quince",
        "river",
        "saffron",
        "tandem",
    ]
    write(client, ada, title="All ten", content=" ".join(reversed(words)))
    write(client, ada, title="Nine", content=" ".join(words[1:]))
    write(client, ada, title="Other nine", content=" ".join(words[:-1]) + " volcano")
    assert found(client, " ".join(words)) == ["All ten"]
    assert found(client, " ".join(words) + " volcano") == ["All ten"]
    assert found(client, " ".join(words[:-1]) + " volcano") == ["Other nine"]
    assert api_titles(client, " ".join(words)) == ["All ten"]
    assert sorted(found(client, " ".join(words[1:-1]))) == ["All ten", "Nine", "Other nine"]


def test_the_index_follows_every_write_at_once(client: TestClient, ada: Caller) -> None:
    """The document of a post changes in the transaction that changes it:
    an edit's new words are found and its old ones no longer, a draft or a
    deleted post is found by nobody."""
    post = write(client, ada, title="Weather", content="A storm at sea")
    assert found(client, "storm") == ["Weather"]
    changed = {"title": "Climate", "content": "A drought inland"}
    assert client.put(f"/api/posts/{post['id']}", json=changed, headers=ada.headers).is_success
    assert found(client, "storm") == [] and found(client, "weather") == []
    assert found(client, "droughts") == ["Climate"] and api_titles(client, "climate") == ["Climate"]
    draft = {"published": False}
    assert client.patch(f"/api/posts/{post['id']}", json=draft, headers=ada.headers).is_success
    assert found(client, "drought") == [] and found(client, "drought", f"/users/{ada.id}") == []
    back = {"published": True, "title": "Dry"}
    assert client.patch(f"/api/posts/{post['id']}", json=back, headers=ada.headers).is_success
    assert found(client, "dry drought") == ["Dry"]
    assert client.delete(f"/api/posts/{post['id']}", headers=ada.headers).status_code == 204
    assert found(client, "drought") == [] and api_titles(client, "drought") == []


def test_a_quoted_phrase_matches_those_words_next_to_each_other(
    client: TestClient, corpus: dict[str, int]
) -> None:
    assert found(client, '"quick fox"') == ["Quick thinking"]
    assert sorted(found(client, "quick fox")) == ["Foxes", "Quick thinking"]
    assert found(client, '"fox quick"') == []
    assert found(client, '"brown fox" dog') == ["Foxes"]


def test_a_minus_excludes(client: TestClient, corpus: dict[str, int]) -> None:
    assert found(client, "tomatoes -cats") == ["Gardening"]
    assert found(client, 'fox -"quick fox"') == ["Foxes"]


def test_or_accepts_either(client: TestClient, corpus: dict[str, int]) -> None:
    assert sorted(found(client, "dogs OR basil")) == ["Foxes", "Kitchen garden", "Pets"]
    # OR joins the two words beside it; the rest must match too.
    assert sorted(found(client, "dogs OR basil cats")) == ["Kitchen garden", "Pets"]
    # In small letters it is an ordinary (stop) word.
    assert found(client, "dogs or basil") == []


def test_hash_tag_and_at_name_filter(
    client: TestClient, corpus: dict[str, int], ada: Caller
) -> None:
    grace = sign_up(client, "grace")
    write(client, grace, title="Grace garden", content="Tomatoes #plants")
    assert sorted(found(client, "#plants")) == ["Gardening", "Grace garden", "Kitchen garden"]
    assert found(client, "#food tomatoes") == ["Kitchen garden"]
    assert found(client, "tomatoes @grace") == ["Grace garden"]
    assert sorted(found(client, "tomatoes @ADA")) == ["Gardening", "Kitchen garden"]
    assert found(client, "#plants -cats @ada") == ["Gardening"]
    assert found(client, "@nobody_here tomatoes") == []


def test_the_api_understands_the_same_queries(client: TestClient, corpus: dict[str, int]) -> None:
    assert api_titles(client, "servers") == ["Server notes"]
    assert api_titles(client, '"quick fox"') == ["Quick thinking"]
    assert api_titles(client, "tomatoes -cats") == ["Gardening"]
    assert api_titles(client, "#food") == ["Kitchen garden"]


# --- the order ----------------------------------------------------------------------


def test_a_title_match_ranks_above_a_text_match(
    client: TestClient, ada: Caller, db: Session
) -> None:
    in_title = write(client, ada, title="Lighthouse keeping", content="A job by the sea.")
    write(client, ada, title="A job by the sea", content="Lighthouse keeping.")
    age(db, in_title["id"], 5)  # older, yet first
    assert found(client, "lighthouse") == ["Lighthouse keeping", "A job by the sea"]
    assert api_titles(client, "lighthouse") == ["Lighthouse keeping", "A job by the sea"]


def test_close_words_rank_above_far_ones(client: TestClient, ada: Caller, db: Session) -> None:
    filler = " ".join(["meadow"] * 30)
    close = write(client, ada, title="One", content=f"red kite {filler} end")
    write(client, ada, title="Two", content=f"red {filler} kite end")
    age(db, close["id"], 5)
    assert found(client, "red kite") == ["One", "Two"]


def test_newer_first_among_equals_and_newest_first_with_sort_new(
    client: TestClient, ada: Caller, db: Session
) -> None:
    older = write(client, ada, title="Lighthouse", content="same")
    write(client, ada, title="Lighthouse", content="same")
    age(db, older["id"], 2)
    ranked = client.get("/?q=lighthouse").text
    assert re.findall(r'href="/posts/(\d+)"', ranked)[0] != str(older["id"])
    in_text = write(client, ada, title="Other", content="lighthouse")
    # sort=new: the newest, whatever matches best.
    newest = client.get("/?q=lighthouse&sort=new").text
    assert titles(newest) == ["Other", "Lighthouse", "Lighthouse"]
    assert titles(client.get("/?q=lighthouse").text)[-1] == "Other"
    api = client.get("/api/posts?search=lighthouse&sort=new").json()
    assert api[0]["id"] == in_text["id"]


def test_the_page_offers_best_match_and_new(client: TestClient, corpus: dict[str, int]) -> None:
    page = client.get("/?q=tomatoes").text
    assert '<a href="/?q=tomatoes" aria-current="page">Best match</a>' in page
    assert '<a href="/?sort=new&amp;q=tomatoes">New</a>' in page
    newest = client.get("/?q=tomatoes&sort=new").text
    assert '<a href="/?sort=new&amp;q=tomatoes" aria-current="page">New</a>' in newest


def test_paging_keeps_the_search_and_its_order(client: TestClient, ada: Caller) -> None:
    for number in range(25):
        write(client, ada, title=f"Walk {number}", content="a walk by the river")
    first = client.get("/?q=river&sort=new").text
    assert 'href="/?page=2&amp;q=river&amp;sort=new"' in first
    second = titles(client.get("/?q=river&sort=new&page=2").text)
    assert len(titles(first)) == 20 and len(second) == 5
    assert not set(titles(first)) & set(second)
    past = client.get("/?q=river&page=9")
    assert past.status_code == 200 and "past the end" in past.text


# --- excerpts ---------------------------------------------------------------------------


def test_the_excerpt_marks_the_matched_words(client: TestClient, corpus: dict[str, int]) -> None:
    page = client.get("/?q=servers").text
    excerpt = re.search(r'<p class="post-excerpt search-excerpt">(.*?)</p>', page, re.S)
    assert excerpt is not None
    assert "<mark>server</mark>" in excerpt.group(1)
    assert "<mark>servers</mark>" in excerpt.group(1)


def test_the_excerpt_escapes_everything_but_the_marks(client: TestClient, ada: Caller) -> None:
    write(
        client,
        ada,
        title="Markup",
        content='Tom & "Jerry" <3 volcano <script>alert(1)</script> <img src=x onerror=1>',
    )
    page = client.get("/?q=volcano").text
    excerpt = re.search(r'<p class="post-excerpt search-excerpt">(.*?)</p>', page, re.S)
    assert excerpt is not None
    html = excerpt.group(1)
    assert "<mark>volcano</mark>" in html
    assert "<script>" not in page and "<img" not in html
    # (PostgreSQL's excerpts leave out what looks like a tag; SQLite's keep it.)
    assert "Tom &amp; &#34;Jerry&#34; &lt;3" in html
    assert re.sub(r"</?mark>", "", html).count("<") == 0


def test_an_anonymous_search_page_is_the_templates_page_byte_for_byte(
    client: TestClient, ada: Caller, new_client, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An anonymous visitor's search is its template rendered once for the
    shape of its page, with the query and the cards filled in
    (`webapp.web.search_pages`): the same bytes as the template renders for
    it, whatever the query holds and whichever way the page is cut."""
    from webapp.web import posts as post_pages

    for number in range(45):
        content = f'Walk {number} by the river, Tom & "Jerry" <3 %20 é'
        write(client, ada, title=f"Walk {number} <b>&amp;</b>", content=content)
    queries = ["river", 'river "Tom & Jerry" <3', "rivér %20 +é", "river -walk", "nothing here"]
    cuts = ["", "&page=2", "&page=3", "&page=9", "&sort=new", "&sort=new&page=2"]
    both_ways = MadeOrRendered(monkeypatch, post_pages)
    stranger = new_client()
    shown = set()
    for query in queries:
        for cut in cuts:
            path = f"/?q={quote(query)}{cut}"
            made = both_ways.page(app, stranger, path)
            assert made.status_code == 200, path
            shown |= {
                "results" if titles(made.text) else "none",
                "pager" if 'rel="next"' in made.text else "",
                "past the end" if "past the end" in made.text else "",
            }
    assert shown >= {"results", "none", "pager", "past the end"}


# --- people -----------------------------------------------------------------------------


def test_the_search_page_shows_people_above_posts(client: TestClient, db: Session) -> None:
    people = [sign_up(client, name) for name in ("kite_flyer", "kiteman", "bob", "Kitesurfer")]
    db.exec(update(User).where(col(User.id) == people[2].id).values(display_name="Bob the Kite"))  # type: ignore[call-overload]
    db.commit()
    write(client, people[2], title="Kites", content="kite day")
    page = client.get("/search?q=kite").text
    section = page.split('id="people-found"')[1].split("</section>")[0]
    names = re.findall(r'href="/users/(\d+)"', section)
    assert {int(name) for name in names} == {caller.id for caller in people}
    assert page.index('id="people-found"') < page.index('id="posts-found"')
    assert titles(page) == ["Kites"]
    for number in range(6):
        sign_up(client, f"kitefan{number}")
    nobody = client.get("/search?q=xylophone").text
    assert 'id="people-found"' not in nobody and "No posts match" in nobody
    crowded = client.get("/search?q=KITE").text
    section = crowded.split('id="people-found"')[1].split("</section>")[0]
    assert len(re.findall(r"<li>", section)) == 5
    assert client.get("/search").status_code == 200


def test_the_header_search_box_goes_to_the_search_page(
    client: TestClient, corpus: dict[str, int], ada: Caller
) -> None:
    """Every page's header searches posts and people at /search (the
    Following page, its own posts: tests/test_following_pages.py)."""
    header = re.compile(r'<form class="search" role="search" method="get" action="([^"]*)">')
    for path in ("/", "/?q=tomatoes", "/tags/plants", f"/users/{ada.id}", "/search?q=x", "/login"):
        page = client.get(path).text
        assert header.findall(page)[0] == "/search", path
    searched = client.get("/?q=tomatoes").text
    assert 'id="site-search" type="search" name="q" value="tomatoes"' in searched


def test_the_api_finds_people(client: TestClient) -> None:
    for name in ("marie_curie", "Pierre", "curious_george"):
        sign_up(client, name)
    found_people = client.get("/api/users?search=CURI").json()
    assert [person["username"] for person in found_people] == ["marie_curie", "curious_george"]
    assert all("email" not in person for person in found_people)
    assert client.get("/api/users?search=pierre&limit=1").json()[0]["username"] == "Pierre"
    assert client.get("/api/users?search=curi&skip=1").json()[0]["username"] == "curious_george"
    for bad in ("", "x" * 201):
        assert client.get(f"/api/users?search={bad}").status_code == 422
    assert client.get("/api/users").status_code == 422
    assert client.get("/api/users?search=a&limit=101").status_code == 422
    assert client.get("/api/users?search=a&limit=0").status_code == 422
    for number in range(22):
        sign_up(client, f"curio{number}")
    assert len(client.get("/api/users?search=curi").json()) == 20
    assert len(client.get("/api/users?search=curi&limit=100").json()) == 24
    assert client.get("/api/users?search=%22%27%3B--").json() == []


# --- what is never found -------------------------------------------------------------------


def test_drafts_hidden_suspended_blocked_and_muted_posts_are_never_found(
    client: TestClient, db: Session, new_client
) -> None:
    ada, ben, cy = (sign_up(client, name) for name in ("ada", "ben", "cyd"))
    write(client, ada, title="Zeppelin draft", content="zeppelin", published=False)
    hidden = write(client, ada, title="Zeppelin hidden", content="zeppelin")
    db.exec(update(Post).where(col(Post.id) == hidden["id"]).values(hidden="spam"))  # type: ignore[call-overload]
    db.commit()
    write(client, ben, title="Zeppelin by ben", content="zeppelin")
    write(client, cy, title="Zeppelin by cy", content="zeppelin")
    db.exec(  # type: ignore[call-overload]
        update(User)
        .where(col(User.id) == cy.id)
        .values(suspended_until=utcnow() + timedelta(days=1))
    )
    db.commit()
    write(client, ada, title="Zeppelin shown", content="zeppelin")
    assert sorted(found(client, "zeppelin")) == ["Zeppelin by ben", "Zeppelin shown"]
    assert sorted(api_titles(client, "zeppelin", **ada.headers)) == [
        "Zeppelin by ben",
        "Zeppelin shown",
    ]
    page = client.get("/search?q=zeppelin").text
    assert "Zeppelin draft" not in page and "Zeppelin hidden" not in page
    assert "/users/" + str(cy.id) + '"' not in page.split('id="posts-found"')[0]
    # A reader who blocks ben, or mutes him, finds none of his.
    assert client.put(f"/api/users/me/blocks/{ben.id}", headers=ada.headers).status_code == 204
    assert api_titles(client, "zeppelin", **ada.headers) == ["Zeppelin shown"]
    people = client.get("/api/users?search=ben", headers=ada.headers).json()
    assert people == []
    cy_mutes = sign_up(client, "dee")
    assert client.put(f"/api/users/me/mutes/{ben.id}", headers=cy_mutes.headers).status_code == 204
    assert api_titles(client, "zeppelin", **cy_mutes.headers) == ["Zeppelin shown"]


# --- statements and the cache -----------------------------------------------------------


def test_a_search_costs_the_statements_of_a_page_and_is_kept(
    client: TestClient, corpus: dict[str, int], engine, new_client
) -> None:
    anonymous = new_client()
    for path in ("/?q=tomatoes", "/?q=%22quick+fox%22", "/tags/plants?q=cats", "/?q=-x+%23plants"):
        with StatementCounter(engine) as first:
            assert anonymous.get(path).status_code == 200
        # The data version, the ids of this page and the next two, the rows.
        assert first.count <= 3, (path, first.statements)
        # Excerpts are made for the posts shown alone: in the statement of
        # their rows, by their ids.
        excerpts = [sql for sql in first.statements if re.search(r"ts_headline|snippet\(", sql)]
        if "tomatoes" in path or "cats" in path or "fox" in path:
            assert len(excerpts) == 1 and re.search(r"posts\.id (IN|= ANY)", excerpts[0]), excerpts
        with StatementCounter(engine) as again:
            assert anonymous.get(path).status_code == 200
        assert again.count <= 1, (path, again.statements)
    with StatementCounter(engine) as people_page:
        assert anonymous.get("/search?q=garden").status_code == 200
    assert people_page.count <= 4, people_page.statements
    with StatementCounter(engine) as api:
        assert client.get("/api/posts?search=tomatoes").status_code == 200
    assert api.count == 1, api.statements
    with StatementCounter(engine) as people_api:
        assert client.get("/api/users?search=ada").status_code == 200
    assert people_api.count == 1, people_api.statements


def test_a_profile_search_is_kept_as_the_other_searches_are(
    client: TestClient, corpus: dict[str, int], ada: Caller, engine, new_client, app
) -> None:
    """A logged-in reader's profile search: the session, the person, the ids,
    the rows, their likes the first time; the session alone the next. Its
    owner's (which counts their drafts) is read each time."""
    reader = new_client()
    Auth(reader).register("reader")
    reader.get("/")  # settle "last seen"
    app.state.page_cache.clear()
    path = f"/users/{ada.id}?q=tomatoes"
    counts = []
    for _ in range(2):
        with StatementCounter(engine) as counted:
            page = reader.get(path)
        assert page.status_code == 200 and titles(page.text) == ["Kitchen garden", "Gardening"]
        assert "<mark>Tomatoes</mark>" in page.text and "8 posts" in page.text
        counts.append(counted.count)
    assert counts == [5, 1], counts
    # A follow, a like, a new post: each shows at once.
    fan = sign_up(client, "fan")
    assert client.put(f"/api/users/me/following/{ada.id}", headers=fan.headers).status_code == 204
    assert "<strong>1</strong> follower" in reader.get(path).text
    post_form(reader, "/posts/{}/vote".format(corpus["Gardening"]), {"dir": "1"})
    assert 'aria-pressed="true"' in reader.get(path).text
    write(client, ada, title="Tomatoes today", content="ripe")
    assert titles(reader.get(path).text)[0] == "Tomatoes today"
    owner = new_client()
    Auth(owner).login("ada")
    for _ in range(2):
        with StatementCounter(engine) as counted:
            assert "drafts included" in owner.get(path).text
        assert counted.count == 5, counted.statements


@pytest.mark.postgres
def test_a_common_search_page_is_one_statement(
    client: TestClient, corpus: dict[str, int], engine, new_client
) -> None:
    """On PostgreSQL, a page of words in everyone's posts is one statement:
    the matches ranked, and the excerpts of the posts shown, whether it finds
    some, many words' worth of nothing, or a page past the end (which counts,
    to link back)."""
    anonymous = new_client()
    ten = "tomatoes cats basil garden kitchen roses dogs fox quick station"
    for query, shown in (("tomatoes", 2), (ten, 0), ("tomatoes basil", 1)):
        with StatementCounter(engine) as counted:
            page = anonymous.get(f"/?q={quote(query)}")
        assert page.status_code == 200 and len(titles(page.text)) == shown
        searches = [sql for sql in counted.statements if "websearch_to_tsquery" in sql]
        assert len(searches) == 1, counted.statements
        assert "ts_rank_cd" in searches[0] and "ts_headline" in searches[0], searches
        # Besides, at most the data versions, read a few times a second.
        others = [sql for sql in counted.statements if sql not in searches]
        assert len(others) <= 1 and all("version" in sql for sql in others), others
    assert "<mark>Tomatoes</mark>" in anonymous.get("/?q=tomatoes+basil").text
    with StatementCounter(engine) as counted:
        past = anonymous.get("/?q=tomatoes&page=3")
    assert past.status_code == 200 and "only 1 page" in past.text
    assert len([sql for sql in counted.statements if "websearch_to_tsquery" in sql]) == 2


@pytest.mark.postgres
def test_a_prepared_search_works_out_its_query_once_and_newest_first_is_never_prepared(
    settings: Settings, corpus: dict[str, int]
) -> None:
    """A search in relevance order may be prepared, and run with a plan made
    once for any words (a generic plan), so long as that plan works out the
    query once per run, never again for every post it ranks: in such a
    statement `websearch_to_tsquery` is only ever a subquery of its own, of
    the text alone (an InitPlan). After many searches on one connection, the
    generic plans have been used and found what the first plans found. A
    search newest first, whose best plan depends on how common its words
    are, is planned for its own words every time: never prepared."""
    queries = ("tomatoes", "fox quick", "cats OR dogs", "#plants -cats", '"quick fox"')
    once = re.compile(
        r"\(SELECT websearch_to_tsquery\('agora_search'::regconfig, agora_fold\(\$\d+::VARCHAR\)\)"
    )

    async def search_often() -> tuple[list[list[list[int]]], list[tuple[str, int]]]:
        engine = create_async_db_engine(settings)
        try:
            async with new_session(engine) as db:
                rounds = []
                for _ in range(8):
                    found_now = []
                    for query in queries:
                        parsed = search_query.parse(query)
                        page = await search.results_page(db, parsed, page=1, per_page=20)
                        listed = await search.results(db, parsed, offset=0, limit=20)
                        newest = await search.results(
                            db, parsed, offset=0, limit=20, order=NEWEST_SEARCH
                        )
                        newest_page = await search.results_page(
                            db, parsed, page=1, per_page=20, order=NEWEST_SEARCH
                        )
                        tagged = search.Scope(tag="plants")
                        in_tag = await search.results_page(
                            db, parsed, page=1, per_page=20, scope=tagged
                        )
                        found_now += [
                            [post.id for post in found]
                            for found in (
                                page.posts,
                                listed,
                                newest,
                                newest_page.posts,
                                in_tag.posts,
                            )
                        ]
                    rounds.append(found_now)
                prepared = await db.exec(
                    text("SELECT statement, generic_plans FROM pg_prepared_statements")
                )
                return rounds, [(row[0], row[1]) for row in prepared]
        finally:
            await engine.dispose()

    rounds, prepared = on_own_loop(search_often())
    assert all(found_now == rounds[0] for found_now in rounds), rounds
    assert rounds[0][0] == [corpus["Kitchen garden"], corpus["Gardening"]]
    searches = [(sql, generic) for sql, generic in prepared if "websearch_to_tsquery" in sql]
    # The page's statement and the API list's, each in relevance order: each
    # prepared on its first run for each set of its values' types (as psycopg
    # keys them), and the generic plan used.
    statements = {sql for sql, _ in searches}
    assert len(statements) == 2, searches
    for sql in statements:
        assert "ts_rank_cd" in sql, sql
        assert sql.count("websearch_to_tsquery(") == len(once.findall(sql)), sql
        assert max(generic for seen, generic in searches if seen == sql) > 0, searches


def test_a_common_search_is_served_from_the_cache_until_a_post_changes(
    client: TestClient, corpus: dict[str, int], ada: Caller, new_client, engine
) -> None:
    anonymous = new_client()
    assert found(anonymous, "tomatoes") == ["Kitchen garden", "Gardening"]
    write(client, ada, title="Tomatoes again", content="more")
    assert found(anonymous, "tomatoes")[0] == "Tomatoes again"


def test_following_tags_and_profiles_search_their_own_posts(
    client: TestClient, corpus: dict[str, int], ada: Caller
) -> None:
    grace = sign_up(client, "grace")
    write(client, grace, title="Grace on tomatoes", content="red ones")
    assert found(client, "tomatoes", f"/users/{grace.id}") == ["Grace on tomatoes"]
    assert found(client, "tomatoes", f"/users/{ada.id}") == ["Kitchen garden", "Gardening"]
    assert found(client, "tomatoes", "/tags/food") == ["Kitchen garden"]
    assert client.put(f"/api/users/me/following/{grace.id}", headers=ada.headers).status_code == 204
    feed = client.get("/api/feed?search=tomatoes", headers=ada.headers).json()
    assert [post["title"] for post in feed] == ["Grace on tomatoes"]


def test_every_api_list_of_posts_takes_search(
    client: TestClient, corpus: dict[str, int], ada: Caller, engine
) -> None:
    """`/api/posts`, `/api/feed` and `/api/tags/{tag}/posts`: the same query,
    the same order, `sort=new`, in one statement."""
    grace = sign_up(client, "grace")
    write(client, grace, title="Grace on tomatoes", content="red ones #plants")
    assert client.put(f"/api/users/me/following/{ada.id}", headers=grace.headers).status_code == 204

    def listed(path: str) -> list[str]:
        response = client.get(path, headers=grace.headers)
        assert response.status_code == 200, response.text
        return [post["title"] for post in response.json()]

    assert listed("/api/tags/plants/posts?search=tomatoes") == [
        "Grace on tomatoes",
        "Kitchen garden",
        "Gardening",
    ]
    assert listed("/api/tags/plants/posts?search=tomatoes+-cats") == [
        "Grace on tomatoes",
        "Gardening",
    ]
    assert listed("/api/tags/Plants/posts?search=servers") == []
    assert listed("/api/tags/food/posts?search=%23plants+basil") == ["Kitchen garden"]
    assert listed("/api/feed?search=tomatoes") == ["Kitchen garden", "Gardening"]
    assert listed("/api/posts?search=tomatoes&limit=2&skip=1") == ["Kitchen garden", "Gardening"]
    for path in ("/api/posts", "/api/feed", "/api/tags/plants/posts"):
        assert listed(f"{path}?search=tomatoes&sort=new")[0] == (
            "Kitchen garden" if path == "/api/feed" else "Grace on tomatoes"
        )
        with StatementCounter(engine) as counted:
            client.get(f"{path}?search=tomatoes", headers=grace.headers)
        # The token's session and shield, then the one statement of the list.
        assert counted.count == 2, (path, counted.statements)
    assert client.get("/api/tags/not-a-tag!/posts?search=x").status_code == 404


# --- hostile queries ---------------------------------------------------------------------

HOSTILE = [
    '"unbalanced',
    'tomatoes "',
    '"',
    '""',
    "-",
    "- -",
    "OR",
    "OR OR tomatoes OR",
    "the and of",
    "-tomatoes",
    "x" * 200,
    ("y" * 200 + " ") * 3,
    "tomatoes & cats",
    "tomatoes | cats",
    "!tomatoes",
    "tom:*",
    "tomatoes:*",
    "NEAR(tomatoes cats)",
    "tomatoes NEAR cats",
    "*",
    "tom*",
    "' OR 1=1 --",
    "'; DROP TABLE posts; --",
    "\\",
    "tomatoes\x00cats",
    "\ud800",
    "tomatoes \udfff",
    "#",
    "@",
    "#-",
    "@@@@",
    "(",
    ")tomatoes(",
    "title:tomatoes",
    "{tomatoes}",
    "^tomatoes",
    "\u0301",
    "\u200b\u200b",
    "🍅 tomatoes",
    "ⓣⓞⓜⓐⓣⓞⓔⓢ",
    "ｔｏｍａｔｏｅｓ",
    "ا ل ب",
    "\U000e0001",
    "%",
    "_",
]


def hostile_paths(query: str) -> list[str]:
    encoded = quote(query, safe="", errors="surrogatepass")
    return [
        f"/?q={encoded}",
        f"/search?q={encoded}",
        f"/tags/plants?q={encoded}",
        f"/users/1?q={encoded}",
        f"/api/posts?search={encoded}",
        f"/api/tags/plants/posts?search={encoded}",
        f"/?q={encoded}&sort=new&page=2",
        f"/api/users?search={encoded}",
    ]


@pytest.mark.parametrize("query", HOSTILE)
def test_a_hostile_query_is_a_normal_page(
    client: TestClient, corpus: dict[str, int], query: str
) -> None:
    for path in hostile_paths(query):
        response = client.get(path)
        assert response.status_code in (200, 422), (path, response.status_code)
        if response.status_code == 422:
            assert path.startswith("/api/users"), path


def test_the_query_reaches_postgresql_as_few_texts_of_words() -> None:
    """One `websearch_to_tsquery` text for every word, phrase and exclusion
    AND-ed, one more for each OR group, whatever the number of words."""
    parsed = search_query.parse('Garden "quick fox" -cats dogs OR basil -"red kite" #food')
    assert parsed.websearch() == ['garden "quick fox" -cats -"red kite"', "dogs or basil"]
    ten = search_query.parse("a1 b2 c3 d4 e5 f6 g7 h8 i9 j10 k11")
    assert ten.websearch() == ["a1 b2 c3 d4 e5 f6 g7 h8 i9 j10"]
    assert search_query.parse("-cats").websearch() == ["-cats"]
    assert search_query.parse("#food @ada").websearch() == []


def test_the_parser_keeps_words_alone() -> None:
    """What reaches a database is made of words of letters, digits and marks;
    the syntax around them is the parser's own."""
    for query in HOSTILE:
        parsed = search_query.parse(query)
        terms = [*(term for group in parsed.groups for term in group), *parsed.excluded]
        for word in (word for term in terms for word in term):
            assert all(unicodedata.category(char)[0] in "LNM" for char in word), (query, word)
        for part in parsed.websearch():
            assert not set(part) & set("&|!:*()<>\\'\x00"), (query, part)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.one_of(
            st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True),
            st.sampled_from(["OR", "or", "the", "The", "AND", "a", "10", "x" * 200]),
        ),
        max_size=14,
    ),
    spaces=st.sampled_from([" ", "  ", "\t", " \n "]),
)
def test_plain_words_are_read_as_the_whole_reading_reads_them(
    words: list[str], spaces: str
) -> None:
    """A query of plain words (most queries) takes a short way through the
    parser: it understands them exactly as reading every chunk does (ten
    words counted, stop words left out, `OR` read as the operator)."""
    query = spaces + spaces.join(words)
    cleaned = search_query._clean(query)
    assert search_query.parse(query) == search_query.read_in_full(cleaned)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    query=st.lists(
        st.one_of(
            st.characters(),
            st.sampled_from(
                [*"\"-#@ &|!:*()\\'\x00\ud800\udfff", "OR", "NEAR", " -", ' "', "tomatoes"]
            ),
        ),
        max_size=40,
    ).map("".join)
)
def test_any_query_is_a_normal_page(client: TestClient, corpus: dict[str, int], query: str) -> None:
    encoded = quote(query, safe="", errors="surrogatepass")
    for path in (f"/?q={encoded}", f"/search?q={encoded}", f"/api/posts?search={encoded}"):
        response = client.get(path)
        assert response.status_code == 200, (query, path, response.status_code)
