"""Lists of posts on pages, and pages every anonymous visitor sees alike: what
the page cache keeps of them (see `webapp.core.page_cache`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import jinja2
from fastapi import Request
from markupsafe import Markup
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.cookie import FLASH_KEY
from webapp.core.page_cache import PageCache, Seen, shared_key
from webapp.rules import likes, posts
from webapp.web.deps import Visitor

# How long an anonymous page's finished HTML is reused while nothing changes:
# it says "5 minutes ago", which must not fall far behind the clock.
SHARED_HTML_SECONDS = 10.0


async def counted_list(
    db: AsyncSession,
    cache: PageCache,
    key: Hashable,
    load: Callable[[], Awaitable[posts.PostPage]],
) -> posts.PostPage:
    """A list kept in the cache, with its like and comment counts as they are
    now: a like or a comment leaves the list as it was, and only the counts are
    read again."""
    seen = cache.seen()

    async def load_and_count() -> posts.PostPage:
        listing = await load()
        cache.put(("counts", key), listing.counts, seen, likes=True)
        return listing

    listing = await cache.fetch(key, load_and_count)
    counts = await cache.fetch(
        ("counts", key), lambda: posts.counts_of(db, listing.ids), likes=True
    )
    return listing.with_counts(counts)


async def liked_among(
    db: AsyncSession, cache: PageCache, visitor: Visitor, key: Hashable, post_ids: list[int]
) -> set[int]:
    """Which posts of a cached list the visitor likes. A like changes the post's
    count, which moves the likes version, so the answer is kept until then."""
    if visitor.user_id is None or not post_ids:
        return set()
    return await cache.fetch(
        ("liked", visitor.user_id, key),
        lambda: likes.liked_ids(db, user_id=visitor.user_id, post_ids=post_ids),
        likes=True,
    )


def post_cards(
    request: Request,
    posts: list[Any],
    liked: set[int],
    *,
    key: Hashable | None,
    seen: Seen,
    show_draft: bool = False,
) -> Markup:
    """A list of posts as HTML: the costliest part of a feed to render. For a
    visitor who likes none of them it is the same for everyone, so it is kept
    (while the data versions `seen` before reading the list hold, and a few
    seconds at most for the relative times). Without a `key`, never kept."""
    cache: PageCache = request.app.state.page_cache
    shareable = key is not None and not liked
    if shareable and (html := cache.get(("cards", key))) is not None:
        return html
    env: jinja2.Environment = request.app.state.templates
    html = env.get_template("macros/posts.html").module.post_list(posts, liked, show_draft)  # type: ignore[attr-defined]
    if shareable:
        cache.put(("cards", key), html, seen, likes=True, ttl=SHARED_HTML_SECONDS)
    return html


async def shared_page(
    request: Request, visitor: Visitor, build: Callable[[], Awaitable[Response]]
) -> Response:
    """A page that every anonymous visitor sees alike: once built, its HTML is
    kept, and `SharedPageMiddleware` answers the next anonymous visitors with it.
    Logged-in visitors, and anyone with a message to see, get the page built
    for them."""
    if visitor.user is not None or FLASH_KEY in request.session:
        return await build()
    cache: PageCache = request.app.state.page_cache
    seen = cache.seen()
    response = await build()
    if response.status_code == 200 and not visitor.personal:
        key = shared_key(request.url.path, request.scope["query_string"])
        cache.put(key, response.body, seen, likes=True, ttl=SHARED_HTML_SECONDS)
    return response
