"""The Following feed's posts: exactly the published posts of the people one
follows, newest first (of two written in one instant, the later id first), paged
and searched as every list is, however many people one follows.

PostgreSQL reads the feed one way for people who follow few others and another
for those who follow many (`webapp.rules.posts.FEW_FOLLOWED`); each way must give what
a plain reading in Python gives."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlmodel import Session, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.support.app import on_own_loop
from webapp.core.db import new_session
from webapp.models import Follow, Post, PostPublic, User, utcnow
from webapp.rules import ordering, posts, search, search_query

AUTHORS = posts.FEW_FOLLOWED + 10
WORDS = ["harbour", "Kayak", "lantern", "meadow"]
# A search's results newest first, as the reference reads the feed.
NEWEST_MATCHES = ordering.search_order("new")


@dataclass(frozen=True)
class Written:
    id: int
    owner_id: int
    published: bool
    created_at: datetime
    text: str


@dataclass
class Site:
    readers: dict[str, int]  # "nobody", "one", "few", "many": the reader's id
    followed: dict[str, set[int]]  # whom each reader follows
    posts: list[Written]

    def feed(self, reader: str, words: Sequence[str] = ()) -> list[int]:
        """The reference: the feed as the specification words it, in Python."""
        followed = self.followed[reader]
        found = [
            post
            for post in self.posts
            if post.published
            and post.owner_id in followed
            and all(word.lower() in post.text.lower() for word in words)
        ]
        found.sort(key=lambda post: (post.created_at, post.id), reverse=True)
        return [post.id for post in found]


def add_people(db: Session, names: list[str]) -> list[int]:
    users = [User(username=name, email=f"{name}@example.com", password_hash="-") for name in names]
    db.add_all(users)
    db.commit()
    return [user.id for user in users if user.id is not None]


@pytest.fixture
def site(db: Session) -> Site:
    """Authors with a handful of posts each (three with dozens), some drafts, many
    written in the same minute as others; readers who follow nobody, one author,
    a few, and more than FEW_FOLLOWED of them."""
    rng = random.Random(13)
    authors = add_people(db, [f"author{n}" for n in range(AUTHORS)])
    start = utcnow() - timedelta(days=3)
    rows = []
    for author in authors:
        # The first three write much more than the others.
        for n in range(rng.randint(30, 45) if author in authors[:3] else rng.randint(2, 9)):
            # 300 possible minutes for some 450 posts: many share one instant.
            moment = start + timedelta(minutes=rng.randrange(300))
            words = " ".join(rng.sample(WORDS, rng.randint(0, 2)))
            rows.append(
                {
                    "title": f"Post {n} of {author}",
                    "content": f"Some text {words}.",
                    "published": rng.random() > 0.2,
                    "owner_id": author,
                    "created_at": moment,
                    "updated_at": moment,
                }
            )
    db.execute(insert(Post), rows)
    db.commit()
    followed = {
        "nobody": [],
        "one": authors[:1],
        "few": authors[1:3] + rng.sample(authors[3:], 3),
        "many": rng.sample(authors, posts.FEW_FOLLOWED + 5),
    }
    readers = dict(
        zip(followed, add_people(db, [f"reader_{kind}" for kind in followed]), strict=True)
    )
    for kind, people in followed.items():
        db.add_all(Follow(follower_id=readers[kind], followed_id=person) for person in people)
    db.commit()
    written = [
        Written(row.id, row.owner_id, row.published, row.created_at, f"{row.title} {row.content}")
        for row in db.exec(select(Post)).all()
        if row.id is not None
    ]
    return Site(readers, {kind: set(people) for kind, people in followed.items()}, written)


def run(app: FastAPI, read: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Run a read with a session of the app's own, as a request would."""
    results: list[Any] = []

    async def go() -> None:
        async with new_session(app.state.engine) as db:
            results.append(await read(db))

    on_own_loop(go())
    return results[0]


def every_page(
    app: FastAPI, reader: int, per_page: int, words: Sequence[str] = ()
) -> list[posts.PostPage]:
    """The feed's pages from the first to the first one past the end."""

    async def read(db: AsyncSession) -> list[posts.PostPage]:
        pages = []
        for number in range(1, 1000):
            page = await search.list_page(
                db,
                search_query.parse(" ".join(words)),
                page=number,
                per_page=per_page,
                order=NEWEST_MATCHES,
                scope=search.Scope(followed_by=reader),
            )
            pages.append(page)
            if not page.posts:
                return pages
        raise AssertionError("the feed never ends")

    return run(app, read)


def assert_pages_match(pages: list[posts.PostPage], expected: list[int], per_page: int) -> None:
    """Each page holds its slice of the reference, and the pager knows as far as
    it looked: two pages ahead, or the end."""
    total_pages = max(1, -(-len(expected) // per_page))
    *shown, past = pages
    assert [page.ids for page in shown] == [
        expected[start : start + per_page] for start in range(0, len(expected), per_page)
    ]
    for page in shown:
        assert page.last_page == min(page.page + posts.PAGES_AROUND, total_pages)
        assert page.more == (len(expected) > (page.page + posts.PAGES_AROUND) * per_page)
    assert past.ids == [] and past.last_page == total_pages
    assert past.past_end == (past.page > 1)


def api_feed(
    app: FastAPI, reader: int, offset: int, limit: int, words: Sequence[str] = ()
) -> list[int]:
    query = search_query.parse(" ".join(words))
    scope = search.Scope(followed_by=reader)

    async def read(db: AsyncSession) -> list[PostPublic]:
        if query.given:
            return await search.results(
                db, query, offset=offset, limit=limit, scope=scope, order=NEWEST_MATCHES
            )
        return await posts.list_published(db, offset=offset, limit=limit, followed_by=reader)

    found = run(app, read)
    return [post.id for post in found]


# --- the feed is what the people one follows have published ---------------------------


@pytest.mark.parametrize("kind", ["nobody", "one", "few", "many"])
def test_the_feed_pages_through_the_followed_peoples_published_posts(
    app: FastAPI, site: Site, kind: str
) -> None:
    expected = site.feed(kind)
    assert (len(expected) > 0) == (kind != "nobody")
    pages = every_page(app, site.readers[kind], per_page=7)
    assert_pages_match(pages, expected, per_page=7)


@pytest.mark.parametrize("kind", ["one", "few", "many"])
def test_searching_the_feed_keeps_the_posts_with_every_word(
    app: FastAPI, site: Site, kind: str
) -> None:
    for words in (["harbour"], ["kayak"], ["HARBOUR", "lantern"], ["nowhere"]):
        expected = site.feed(kind, words)
        pages = every_page(app, site.readers[kind], per_page=5, words=words)
        assert_pages_match(pages, expected, per_page=5)


@pytest.mark.parametrize("kind", ["nobody", "one", "few", "many"])
def test_the_api_feed_skips_and_limits_like_the_reference(
    app: FastAPI, site: Site, kind: str
) -> None:
    expected = site.feed(kind)
    reader = site.readers[kind]
    for offset, limit in ((0, 10), (0, 100), (3, 4), (17, 9), (max(len(expected) - 2, 0), 10)):
        assert api_feed(app, reader, offset, limit) == expected[offset : offset + limit]
    assert api_feed(app, reader, len(expected) + 5, 10) == []
    assert api_feed(app, reader, 2, 6, ["meadow"]) == site.feed(kind, ["meadow"])[2:8]


@pytest.mark.parametrize("threshold", [0, 3, 1_000])
def test_few_or_many_people_followed_the_feed_reads_the_same(
    app: FastAPI, site: Site, threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever way the database reads it (every reader here on one side of the
    threshold, then on the other), the pages are the same."""
    monkeypatch.setattr(posts, "FEW_FOLLOWED", threshold)
    for kind in ("one", "few", "many"):
        assert_pages_match(every_page(app, site.readers[kind], 9), site.feed(kind), 9)
        reader = site.readers[kind]
        assert api_feed(app, reader, 5, 12, ["kayak"]) == site.feed(kind, ["kayak"])[5:17]


# --- the rules, one at a time ----------------------------------------------------------


def add_post(db: Session, owner_id: int, moment: datetime, published: bool = True) -> None:
    db.add(
        Post(
            title="A post",
            content="Some text.",
            published=published,
            owner_id=owner_id,
            created_at=moment,
            updated_at=moment,
        )
    )
    db.commit()


@pytest.mark.parametrize("threshold", [0, 10])
def test_posts_of_one_instant_come_the_later_written_first(
    app: FastAPI, db: Session, threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the people followed read one at a time, or all at once."""
    monkeypatch.setattr(posts, "FEW_FOLLOWED", threshold)
    alice, bob, reader = add_people(db, ["alice", "bob", "reader"])
    moment = utcnow() - timedelta(hours=1)
    for owner in (alice, bob, alice, bob):
        add_post(db, owner, moment)
    add_post(db, bob, moment - timedelta(seconds=1))
    db.add_all([Follow(follower_id=reader, followed_id=person) for person in (alice, bob)])
    db.commit()
    assert every_page(app, reader, per_page=3)[0].ids == [4, 3, 2]
    assert every_page(app, reader, per_page=3)[1].ids == [1, 5]
    assert api_feed(app, reader, 0, 10) == [4, 3, 2, 1, 5]


def test_a_followed_persons_drafts_and_strangers_posts_stay_out(app: FastAPI, db: Session) -> None:
    alice, stranger, reader = add_people(db, ["alice", "stranger", "reader"])
    moment = utcnow() - timedelta(hours=1)
    add_post(db, alice, moment)
    add_post(db, alice, moment, published=False)
    add_post(db, stranger, moment)
    db.add(Follow(follower_id=reader, followed_id=alice))
    db.commit()
    assert every_page(app, reader, per_page=5)[0].ids == [1]
    assert api_feed(app, reader, 0, 10) == [1]
