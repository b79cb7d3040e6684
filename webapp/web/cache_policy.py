"""What the pages keep in the page cache (`webapp.core.page_cache`), and who
may be shown what a moment old: the one place that knows both.

The data versions are the sums of `site_state`'s rows, which move with every
change to the posts and follows tables, in the same transaction (triggers,
migrations 0003, 0005, 0010 and 0011): `version` for anything, `likes` when only like or comment
counts changed (the cache's minor version), `removals` when a post was
deleted or made a draft, or a comment or an account deleted. A logged-in
visitor's session is read with them (`webapp.rules.sessions`); for anyone
else the cache reads them on its own (`read_site_state`).

Each key below says what its value shows: `shows_likes`, like or comment
counts, so a like retires it while the lists themselves stay.

Retired values are served for a moment more (`PageCache.grace`) to anyone who
has not sent a form in the last `WRITER_SECONDS`: under a stream of likes a
busy page is rebuilt at most twice a second, not after every like. Whoever
made a change never sees the page from before it: their cookie says they
just wrote (`WROTE_KEY`, set by the CSRF check), and their next page is built
from what is current.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Annotated, Any, NamedTuple, TypeVar

from fastapi import Depends, Request
from sqlalchemy import column, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

from webapp.core.cookie import FLASH_KEY, SESSION_KEY, WROTE_KEY
from webapp.core.db import DriverStatement
from webapp.core.deps import Cache
from webapp.core.page_cache import PageCache, Rebuild, Seen, VersionReader
from webapp.rules.ordering import NEWEST, Order

T = TypeVar("T")

# The sums of `site_state`'s rows: on PostgreSQL each commit moves a row that no
# other commit holds (migration 0011), so that writers never queue on one.
# `version` also counts the suspensions that ended by themselves by now
# (`webapp.rules.suspensions`): their people's posts are back without a write.
# Run as a page's one statement runs (`DriverStatement.first_on`): a few
# times a second in each worker, it was a few percent of a busy worker's
# Python through SQLAlchemy's whole execution path.
READ_SITE_STATE = DriverStatement(
    text(
        "SELECT sum(version) + (SELECT count(*) FROM suspension_ends"
        " WHERE ends_at <= CURRENT_TIMESTAMP) AS version,"
        " sum(likes) AS likes, sum(removals) AS removals FROM site_state"
    ).columns(column("version"), column("likes"), column("removals"))
)


def read_site_state(engine: AsyncEngine) -> VersionReader:
    """How the page cache reads the data versions: the sums of `site_state`'s
    rows (None while it has none)."""

    async def read() -> Seen | None:
        row = await READ_SITE_STATE.first_on(engine)
        if row is None or row.version is None:
            return None
        return row.version, row.likes, row.removals

    return read


# --- what is kept ----------------------------------------------------------------

# How long an anonymous page's finished HTML, or a list's, is reused while
# nothing changes: it says "5 minutes ago", which must not fall far behind the clock.
SHARED_HTML_SECONDS = 10.0


class Kept(NamedTuple):
    """A key of the page cache, with what its value shows."""

    key: Hashable
    shows_likes: bool = False  # like or comment counts: a like retires it
    seconds: float | None = None  # kept this long at most
    # Of one post or person among very many, or of one search (its queries
    # are as many): kept in the cache's few places for those
    # (`PageCache.max_many`), so that a stream of them read once each pushes
    # out none of the lists.
    one_of_many: bool = False


# How long a page of a ranked list (hot, top) is kept at most: hot's scores
# move with the clock, and top's window slides, so a kept order may be this
# old, and a moment more while it is rebuilt (nothing else moves it when
# nobody writes).
RANKED_SECONDS = 10.0
# The lists of a reader who blocks or mutes people leave out those people's
# posts (`webapp.rules.safety.Shield.key`, read with the session): their keys
# name whom they leave out, so that no reader is shown another's list. () for
# everyone else, who share one.
Unlisted = tuple[int, ...]
# A search as understood (`SearchQuery.key`): two spellings of one query share
# their pages. () for the list itself.
Searched = tuple[object, ...]


def _listing(key: tuple[Any, ...], order: Order, search: Searched) -> Kept:
    """A page of a list in an order, or of a search among it (one of many).
    Newest first or by relevance, a like leaves it as it was (only its counts
    are read again); a ranked order moves with the likes and comments, so they
    retire it, and the clock ends it (`RANKED_SECONDS`)."""
    searched = bool(search)
    if order.newest:
        return Kept(key, one_of_many=searched)
    if order.sort == "relevance":  # a search's order: likes and the clock leave it
        return Kept((*key, order.key), one_of_many=searched)
    return Kept((*key, order.key), shows_likes=True, seconds=RANKED_SECONDS, one_of_many=searched)


def feed(number: int, search: Searched, order: Order = NEWEST, unlisted: Unlisted = ()) -> Kept:
    """A page of the home feed (or a search): the posts, without their counts."""
    return _listing(("feed", number, search, unlisted), order, search)


def tag_feed(
    tag: str, number: int, search: Searched, order: Order = NEWEST, unlisted: Unlisted = ()
) -> Kept:
    """A page of a tag's posts (or a search among them), without their counts."""
    return _listing(("tag", tag, number, search, unlisted), order, search)


def people_found(search: Searched, unlisted: Unlisted = ()) -> Kept:
    """The people a search shows above its posts: a new name or a changed
    one shows within a moment."""
    return Kept(("people_found", search, unlisted), seconds=SHARED_HTML_SECONDS, one_of_many=True)


def popular_tags() -> Kept:
    """The popular tags with their counts: of the last days, so kept a moment only."""
    return Kept(("tags",), seconds=SHARED_HTML_SECONDS)


def following_feed(
    user_id: int,
    number: int,
    search: Searched,
    order: Order = NEWEST,
    unlisted: Unlisted = (),
) -> Kept:
    return _listing(("following", user_id, number, search, unlisted), order, search)


def profile_search(
    user_id: int, number: int, search: Searched, order: Order, unlisted: Unlisted = ()
) -> Kept:
    """A page of a search among someone's published posts, without their
    counts: one of many, as each person's pages are."""
    return _listing(("profile", user_id, number, search, unlisted), order, search)._replace(
        one_of_many=True
    )


def profile_posts(user_id: int, number: int) -> Kept:
    """A page of someone's published posts, as anyone but them sees it."""
    return Kept(("profile", user_id, number), one_of_many=True)


def post(post_id: int) -> Kept:
    """A published post (None for a draft or nothing), without its counts."""
    return Kept(("post", post_id), one_of_many=True)


def counts(listing: Kept) -> Kept:
    """The like and comment counts of the posts of a list (or a post)."""
    return Kept(("counts", listing.key), shows_likes=True, one_of_many=listing.one_of_many)


def liked(user_id: int, listing: Kept) -> Kept:
    """Which posts of a list (or a post) someone likes."""
    return Kept(("liked", user_id, listing.key), shows_likes=True, one_of_many=listing.one_of_many)


def cards(listing: Kept, can_like: bool = False) -> Kept:
    """A list's posts as HTML, for a visitor who likes none of them (with
    `can_like`, logged in: with like buttons)."""
    return Kept(
        ("cards", listing.key, can_like),
        shows_likes=True,
        seconds=SHARED_HTML_SECONDS,
        one_of_many=listing.one_of_many,
    )


def comments(post_id: int, page: int) -> Kept:
    """A page of a post's comments: a comment moves the comment count."""
    return Kept(("comments", post_id, page), shows_likes=True, one_of_many=True)


def person(user_id: int) -> Kept:
    """Someone with their follower, following and post counts."""
    return Kept(("person", user_id), one_of_many=True)


def follows(follower_id: int, followed_id: int) -> Kept:
    return Kept(("follows", follower_id, followed_id), one_of_many=True)


def people(user_id: int, followers: bool, number: int, blocked: Unlisted = ()) -> Kept:
    """A page of someone's followers, or of the people they follow, but for
    the people the reader blocks (`webapp.rules.safety.Shield.blocked_key`)."""
    return Kept(("people", user_id, followers, number, blocked), one_of_many=True)


# The pages of one post or one person (and their followers, whom they follow).
ONE_OF_MANY_PAGES = ("/posts/", "/users/")


def shared_html(path: str, query_string: bytes) -> Kept:
    """An anonymous page's finished HTML: its address, as sent. A post's, a
    person's and a search's are each one of many."""
    return Kept(
        ("html", path, query_string),
        shows_likes=True,
        seconds=SHARED_HTML_SECONDS,
        one_of_many=path.startswith(ONE_OF_MANY_PAGES) or asks_a_search(query_string),
    )


def asks_a_search(query_string: bytes) -> bool:
    """Whether an address's query string has a search in it (`q` with a value)."""
    return b"q=" in query_string and any(
        len(part) > 2 and part.startswith(b"q=") for part in query_string.split(b"&")
    )


# --- who may see what a moment old --------------------------------------------------

# A browser that sent a form this recently is shown only what is current, not
# what was retired a moment ago: its own change, at once. Longer than a change
# takes to show everywhere, with room for a slow request.
WRITER_SECONDS = 5


def wrote_lately(session: dict[str, Any]) -> bool:
    """Whether the browser of this session cookie sent a form in the last
    `WRITER_SECONDS` (`WROTE_KEY`, set by the page door's CSRF check)."""
    wrote = session.get(WROTE_KEY)
    return isinstance(wrote, int) and 0 <= time.time() - wrote < WRITER_SECONDS


def shares_before_routing(session: dict[str, Any]) -> bool:
    """Whether a request may be answered with a shared page before the visitor
    is read: its cookie names no login, and no message waits to be shown."""
    return SESSION_KEY not in session and FLASH_KEY not in session


def shares(logged_in: bool, session: dict[str, Any]) -> bool:
    """Whether the page built for a visitor is the one every anonymous visitor
    sees: nobody is logged in (a cookie's login may have ended), and no message
    waits to be shown."""
    return not logged_in and FLASH_KEY not in session


class PageStore:
    """The page cache as one request may use it: values kept under the keys
    above, and retired ones too while the visitor has not written lately."""

    def __init__(self, cache: PageCache, session: dict[str, Any]) -> None:
        self.cache = cache
        self.session = session

    @property
    def may_be_stale(self) -> bool:
        # Read when used: the CSRF check of a form notes the write in the
        # cookie, and from then on this request sees only what is current.
        return not wrote_lately(self.session)

    def seen(self) -> Seen:
        return self.cache.seen()

    async def fetch(self, kept: Kept, load: Callable[[], Awaitable[T]]) -> T:
        return await self.cache.fetch(
            kept.key,
            load,
            minor=kept.shows_likes,
            stale=self.may_be_stale,
            one_of_many=kept.one_of_many,
            ttl=kept.seconds,
        )

    def get(self, kept: Kept, rebuild: Rebuild | None = None) -> Any:
        return self.cache.get(kept.key, stale=self.may_be_stale, rebuild=rebuild)

    def put(self, kept: Kept, value: Any, seen: Seen) -> None:
        self.cache.put(
            kept.key,
            value,
            seen,
            minor=kept.shows_likes,
            ttl=kept.seconds,
            one_of_many=kept.one_of_many,
        )


async def get_page_store(request: Request, cache: Cache) -> PageStore:
    return PageStore(cache, request.session)


Pages = Annotated[PageStore, Depends(get_page_store)]


# --- the versions, checked once a request -------------------------------------------

# The scope key where the shared-page middleware notes that it has checked the
# data versions for this request (`webapp.web.shared_pages`), so that the
# visitor dependency does not check them again: read only through `versions_checked`.
CHECKED_SCOPE_KEY = "agora.versions_checked"


def note_checked(scope: Scope) -> None:
    scope[CHECKED_SCOPE_KEY] = True


def versions_checked(request: Request) -> bool:
    return bool(request.scope.get(CHECKED_SCOPE_KEY, False))
