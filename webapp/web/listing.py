"""Lists of posts on pages: what the page cache keeps of them (the keys are
`webapp.web.cache_policy`'s), and their cards as HTML."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from fastapi import Request
from markupsafe import Markup, escape
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.deps import services_of
from webapp.core.page_cache import Seen
from webapp.rules import likes, posts
from webapp.web import cache_policy
from webapp.web.cache_policy import Kept, PageStore
from webapp.web.card_html import PostList
from webapp.web.deps import Visitor


async def counted_list(
    db: AsyncSession,
    pages: PageStore,
    kept: Kept,
    load: Callable[[], Awaitable[posts.PostPage]],
) -> posts.PostPage:
    """A list kept in the cache, with its like and comment counts as they are
    now: a like or a comment leaves the list as it was, and only the counts are
    read again."""
    seen = pages.seen()
    counts = cache_policy.counts(kept)

    async def load_and_count() -> posts.PostPage:
        listing = await load()
        pages.put(counts, listing.counts, seen)
        return listing

    listing = await pages.fetch(kept, load_and_count)
    now = await pages.fetch(counts, lambda: posts.counts_of(db, listing.ids))
    return listing.with_counts(now)


async def liked_among(
    db: AsyncSession, pages: PageStore, visitor: Visitor, kept: Kept, post_ids: list[int]
) -> set[int]:
    """Which posts of a cached list the visitor likes. A like changes the post's
    count, which moves the likes version, so the answer is kept until then."""
    user_id = visitor.user_id
    if user_id is None or not post_ids:
        return set()
    return await pages.fetch(
        cache_policy.liked(user_id, kept),
        lambda: likes.liked_ids(db, user_id=user_id, post_ids=post_ids),
    )


async def feed(
    request: Request,
    db: AsyncSession,
    pages: PageStore,
    visitor: Visitor,
    kept: Kept,
    load: Callable[[], Awaitable[posts.PostPage]],
    seen: Seen,
) -> tuple[posts.PostPage, Markup]:
    """What every list page shows: the list kept under `kept` (`counted_list`),
    the visitor's likes among it and its cards. `seen`: the data versions read
    before anything of the page was."""
    listing = await counted_list(db, pages, kept, load)
    liked = await liked_among(db, pages, visitor, kept, listing.ids)
    cards = post_cards(
        request,
        pages,
        visitor,
        listing.posts,
        liked,
        kept=kept,
        seen=seen,
        highlights=listing.highlights,
    )
    return listing, cards


# Stand-ins, in cards kept for everyone, for what is each visitor's own: the
# CSRF token of the like forms and the page the forms return to. Made at
# random, so that no text of a post can hold them.
TOKEN_SLOT = "csrf-" + secrets.token_hex(12)
BACK_SLOT = "/back-" + secrets.token_hex(12)


def back_to(request: Request) -> str:
    """The page a card's like returns to: this one, with its page and order."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def post_cards(
    request: Request,
    pages: PageStore,
    visitor: Visitor,
    posts: list[Any],
    liked: set[int],
    *,
    kept: Kept | None,
    seen: Seen,
    show_draft: bool = False,
    highlights: Mapping[int, Markup] | None = None,
) -> Markup:
    """A list of posts as HTML: the costliest part of a feed to render. For a
    visitor who likes none of them it is the same for everyone, so it is kept
    (while the data versions `seen` before reading the list hold, and a few
    seconds at most for the relative times), with stand-ins for the visitor's
    token and address in its like forms. Without `kept`, never kept. A
    search's cards show its `highlights` (excerpts with the matched words
    marked) in place of the excerpt."""
    can_like = visitor.user is not None
    cards = None if kept is None or liked else cache_policy.cards(kept, can_like)
    html = None if cards is None else pages.get(cards)
    if html is None:
        # Made in Python (`webapp.web.card_html`), not by a template.
        post_list = cast(PostList, services_of(request.app).templates.globals["post_list"])
        html = str(post_list(posts, liked, show_draft, can_like, TOKEN_SLOT, BACK_SLOT, highlights))
        if cards is not None:
            pages.put(cards, html, seen)
    if can_like:
        html = html.replace(TOKEN_SLOT, str(escape(visitor.csrf_token)))
        html = html.replace(BACK_SLOT, str(escape(back_to(request))))
    # An autoescaped template, and escaped values: HTML, safe to print as it is.
    return Markup(html)  # noqa: S704
