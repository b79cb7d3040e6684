"""The orders of a list of posts: newest first, hot, and top of a time window.
One place for what `sort` and `t` mean, used by the pages and the API alike.

Hot weighs likes and comments against age: a post's score is
`(likes + 2 × comments + 1) / (hours since it was first published + 2) ^ 1.5`,
highest first, ties newest first. A score moves with the clock, so no stored
column can hold it in order; instead the order reads a bounded window of
candidates, the posts of the last `HOT_DAYS` days, through the feed's index
(`ix_posts_feed` is in time order), and orders those alone. What is left out
cannot rank high: a post older than the window scores at most
`(likes + 2 × comments + 1) / 722 ^ 1.5`, below a post of the last day without
a like as long as its weight is under about 150, and below one of the last
hour under about 3,700 (`tests/test_feed_orders.py` shows the first pages are
those the formula gives over every post).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, cast, func, literal
from sqlmodel import col

from webapp.models import Post

# `relevance` is a search's alone (`search_order`).
Sort = Literal["new", "hot", "top", "relevance"]
Window = Literal["day", "week", "month", "year", "all"]

SORTS: tuple[Sort, ...] = ("new", "hot", "top")
WINDOWS: dict[Window, timedelta | None] = {
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
    "all": None,
}
DEFAULT_SORT: Sort = "new"
DEFAULT_WINDOW: Window = "week"

# Posts older than this are not candidates for hot.
HOT_DAYS = 30
HOT_WINDOW = timedelta(days=HOT_DAYS)
# The weights of the score.
COMMENT_WEIGHT = 2
AGE_OFFSET_HOURS = 2
GRAVITY = 1.5


@dataclass(frozen=True)
class Order:
    """How a list is ordered: `sort`, and for top, its window `t`."""

    sort: Sort = DEFAULT_SORT
    t: Window = DEFAULT_WINDOW
    # Of a search: there newest first is a choice (`&sort=new`), not the default.
    searching: bool = False

    @property
    def newest(self) -> bool:
        return self.sort == "new"

    @property
    def key(self) -> tuple[str, str]:
        """What a cache key holds of the order: `t` counts for top alone."""
        return (self.sort, self.t if self.sort == "top" else "")

    @property
    def query(self) -> str:
        """The order as query parameters for a link (`&sort=…`), empty for
        the default, so that paging keeps it."""
        if self.sort == "new":
            return "&sort=new" if self.searching else ""
        if self.sort == "relevance":
            return ""
        if self.sort == "top":
            return f"&sort=top&t={self.t}"
        return f"&sort={self.sort}"


NEWEST = Order()
RELEVANCE = Order("relevance", searching=True)


def order_of(sort: str | None, t: str | None) -> Order:
    """`sort` and `t` as sent: anything unknown is the default, never an error."""
    chosen: Sort = DEFAULT_SORT
    for name in SORTS:
        if sort == name:
            chosen = name
    window: Window = DEFAULT_WINDOW
    for period in WINDOWS:
        if t == period:
            window = period
    return Order(chosen, window)


def search_order(sort: str | None) -> Order:
    """The order of a search's results: by relevance, unless `sort=new`
    (newest first). Hot and top do not apply to a search."""
    return Order("new", searching=True) if sort == "new" else RELEVANCE


def hot_score(likes: int, comments: int, published: datetime, now: datetime) -> float:
    """A post's hot score at `now` (the SQL below computes the same)."""
    hours = max((now - published).total_seconds(), 0.0) / 3600
    weight = likes + COMMENT_WEIGHT * comments + 1
    return float(weight / (hours + AGE_OFFSET_HOURS) ** GRAVITY)


# When a post was first published: a draft published later keeps that moment.
FIRST_PUBLISHED = func.coalesce(col(Post.published_at), col(Post.created_at))


def _hours_since(dialect: str, now: datetime) -> ColumnElement[Any]:
    if dialect == "postgresql":
        seconds = func.extract("epoch", literal(now) - FIRST_PUBLISHED)
        return cast(seconds, Float) / 3600
    # SQLite keeps naive UTC text, which julianday() reads.
    naive = now.replace(tzinfo=None).isoformat(sep=" ")
    return (func.julianday(naive) - func.julianday(FIRST_PUBLISHED)) * 24


def hot_expression(dialect: str, now: datetime) -> ColumnElement[Any]:
    weight = col(Post.votes) + COMMENT_WEIGHT * col(Post.comments) + 1
    # A post from the future (a clock moved back) counts as just published.
    larger = func.greatest if dialect == "postgresql" else func.max
    hours = larger(_hours_since(dialect, now), 0.0)
    return cast(weight, Float) / func.power(hours + AGE_OFFSET_HOURS, GRAVITY)


def since(order: Order, now: datetime) -> datetime | None:
    """The oldest `created_at` a post may have to be listed in this order
    (None: any)."""
    if order.sort == "hot":
        return now - HOT_WINDOW
    if order.sort == "top":
        span = WINDOWS[order.t]
        return None if span is None else now - span
    return None


def window(order: Order, now: datetime) -> ColumnElement[bool] | None:
    """The condition of the order's window, on the posts table (None: all).
    Written on `created_at`, which the feed's index holds in order: a draft
    published long after it was written counts from when it was written."""
    oldest = since(order, now)
    return None if oldest is None else col(Post.created_at) >= oldest


def ranking(order: Order, dialect: str, now: datetime) -> tuple[ColumnElement[Any], ...]:
    """ORDER BY clauses of the order, ties newest first (then the higher id)."""
    newest = (col(Post.created_at).desc(), col(Post.id).desc())
    if order.sort == "hot":
        return (hot_expression(dialect, now).desc(), *newest)
    if order.sort == "top":
        return (col(Post.votes).desc(), *newest)
    return newest
