"""Lists of posts on pages: what the page cache keeps of them (the keys are
`webapp.web.cache_policy`'s), and their cards as HTML."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from markupsafe import Markup
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.deps import services_of
from webapp.core.page_cache import Seen
from webapp.rules import likes, posts
from webapp.web import cache_policy
from webapp.web.cache_policy import Kept, PageStore
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


def post_cards(
    request: Request,
    pages: PageStore,
    posts: list[Any],
    liked: set[int],
    *,
    kept: Kept | None,
    seen: Seen,
    show_draft: bool = False,
) -> Markup:
    """A list of posts as HTML: the costliest part of a feed to render. For a
    visitor who likes none of them it is the same for everyone, so it is kept
    (while the data versions `seen` before reading the list hold, and a few
    seconds at most for the relative times). Without `kept`, never kept."""
    cards = None if kept is None or liked else cache_policy.cards(kept)
    if cards is not None and (html := pages.get(cards)) is not None:
        return html
    template = services_of(request.app).templates.get_template("posts/cards.html")
    # An autoescaped template: what it renders is HTML, safe to print as it is.
    html = Markup(template.render(posts=posts, liked=liked, show_draft=show_draft))  # noqa: S704
    if cards is not None:
        pages.put(cards, html, seen)
    return html
