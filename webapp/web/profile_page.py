"""A profile's page: the person, their counts and their posts, and the Follow
button; what GET /users/{id} shows (`webapp.web.profiles`) and what a refused
follow comes back to (`webapp.web.follows`)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import cast

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.deps import services_of
from webapp.core.page_cache import Seen
from webapp.models import ProfilePublic
from webapp.rules import follows, likes, page_sizes, posts, roles, search, search_query, suspensions
from webapp.web import cache_policy
from webapp.web.cache_policy import PageStore
from webapp.web.deps import Visitor
from webapp.web.listing import feed, post_cards
from webapp.web.pages import anonymous_page, page_number, render, serves_anonymous_page
from webapp.web.profile_html import ProfileMarkup


async def person(db: AsyncSession, pages: PageStore, user_id: int) -> ProfilePublic:
    """Someone with their follower, following and post counts, as anyone sees
    them; kept until the data version moves (a follow moves it). UserNotFound
    (404) is not kept: a new account may take the id."""
    return await pages.fetch(cache_policy.person(user_id), lambda: follows.profile(db, user_id))


async def profile_page(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    pages: PageStore,
    user_id: int,
    page: str = "1",
    *,
    q: str = "",
    sort: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The profile as this visitor sees it; with `error`, a message on top (a
    follow the rules refused); with `q`, their posts that match it."""
    query = search_query.parse(q)
    if query.given:
        return await _searched_profile(request, db, visitor, pages, user_id, page, query, sort)
    number = page_number(page)
    is_owner = visitor.user_id == user_id
    # What is kept of it, for logged-in visitors but its owner (whose drafts are
    # theirs alone): anonymous visitors are served the page's finished HTML
    # (`webapp.web.shared_pages`), so their pages keep nothing more, and a
    # stream of profiles read once each pushes out nothing read again.
    # A moderator's page (a suspended person's, hidden posts) is theirs alone.
    moderator = roles.moderates(visitor.role)
    keeps = visitor.user_id is not None and not is_owner and not moderator
    kept = cache_policy.profile_posts(user_id, number)
    seen = pages.seen()
    view = kept_view(pages, visitor, user_id, kept) if keeps else None
    if view is None:
        view = await follows.profile_view(
            db,
            user_id,
            visitor.user_id,
            page=number,
            per_page=page_sizes.POSTS,
            moderator=moderator,
        )
        if keeps:
            keep_view(pages, visitor, kept, view, seen)
    suspended = await suspensions.notice(db, user_id) if moderator else None
    listing = view.listing
    blocks = user_id in visitor.shield.blocked
    if blocks:  # the blocker sees none of their posts
        listing = posts.PostPage([], number, page_sizes.POSTS, last_page=1, total=0)
    cards = post_cards(
        request,
        pages,
        visitor,
        listing.posts,
        view.liked,
        kept=kept if keeps and not blocks else None,
        seen=seen,
        show_draft=True,
    )
    if error is None and serves_anonymous_page(request, visitor):
        markup = profile_markup(request)
        return anonymous_page(
            request,
            view.person.username,
            markup.head_html(view.person),
            markup.content_html(view.person, listing, cards),
            status_code=status_code,
        )
    context = {
        "profile": view.person,
        "posts_total": view.listing.total,
        "listing": listing,
        "cards": cards,
        "is_owner": is_owner,
        "following": view.following,
        "blocks": blocks,
        "mutes": user_id in visitor.shield.muted,
        "suspended": suspended,
        "errors": {"form": error} if error else {},
    }
    return render(request, visitor, "users/profile.html", context, status_code=status_code)


def profile_markup(request: Request) -> ProfileMarkup:
    """The app's `ProfileMarkup`, as its templates hold it."""
    return cast(ProfileMarkup, services_of(request.app).templates.globals["profile_page"])


async def _searched_profile(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    pages: PageStore,
    user_id: int,
    page: str,
    query: search_query.SearchQuery,
    sort: str,
) -> Response:
    """The profile with the person's published posts that match `query` (as
    any search: drafts never), in the search's order; kept in the page cache
    as the other searches are, but for its owner (whose page counts their
    drafts) and for moderators (whose pages are theirs alone)."""
    number = page_number(page)
    moderator = roles.moderates(visitor.role)
    is_owner = visitor.user_id == user_id
    order = search.order_of(query, sort, None)
    shield = visitor.shield
    kept = None
    if not (is_owner or moderator):
        kept = cache_policy.profile_search(user_id, number, query.key, order, shield.key)
    seen = pages.seen()
    someone, following, posts_total = await _profile_head(
        db, pages, visitor, user_id, kept is not None, seen
    )

    def found() -> Awaitable[posts.PostPage]:
        scope = search.Scope(owner_id=user_id, unlisted=shield.unlisted)
        return search.results_page(
            db, query, page=number, per_page=page_sizes.POSTS, order=order, scope=scope
        )

    if kept is None:  # its owner's or a moderator's: read every time
        listing = await found()
        liked = (
            await likes.liked_ids(db, user_id=visitor.user_id, post_ids=listing.ids)
            if (visitor.user_id is not None and listing.ids)
            else set()
        )
        cards = post_cards(
            request,
            pages,
            visitor,
            listing.posts,
            liked,
            kept=None,
            seen=seen,
            highlights=listing.highlights,
        )
    else:
        listing, cards = await feed(request, db, pages, visitor, kept, found, seen)
    context: dict[str, object] = {
        "profile": someone,
        "posts_total": posts_total,
        "listing": listing,
        "cards": cards,
        "is_owner": is_owner,
        "following": following,
        "blocks": user_id in shield.blocked,
        "mutes": user_id in shield.muted,
        "suspended": None,
        "errors": {},
        "search_query": query.text,
        "searching": True,
        "order": order,
    }
    return render(request, visitor, "users/profile.html", context)


async def _profile_head(
    db: AsyncSession, pages: PageStore, visitor: Visitor, user_id: int, keeps: bool, seen: Seen
) -> tuple[ProfilePublic, bool, int]:
    """The person above a search of their posts, whether the visitor follows
    them, and how many posts the page says they have: from the cache when
    `keeps` and it holds them (the parts `kept_view` keeps), else one
    statement (the profile's own, for its first post alone)."""
    viewer_id = visitor.user_id
    if keeps:
        someone = pages.get(cache_policy.person(user_id))
        following = False
        if viewer_id is not None:
            following = pages.get(cache_policy.follows(viewer_id, user_id))
        if someone is not None and following is not None:
            return someone, following, someone.posts
    moderator = roles.moderates(visitor.role)
    view = await follows.profile_view(
        db, user_id, viewer_id, page=1, per_page=1, moderator=moderator
    )
    if keeps:
        pages.put(cache_policy.person(user_id), view.person, seen)
        if viewer_id is not None:
            pages.put(cache_policy.follows(viewer_id, user_id), view.following, seen)
    return view.person, view.following, view.listing.total or 0


# The parts kept: the person with their counts (a follow moves the version), the
# page of their posts without its counts, the counts (a like or a comment moves
# them, and the likes version with them), which of the posts the visitor likes,
# and whether they follow the person.


def kept_view(
    pages: PageStore, visitor: Visitor, user_id: int, kept: cache_policy.Kept
) -> follows.ProfileView | None:
    """The page as the cache holds it, or None if any part of it is missing:
    then one statement reads it all again."""
    viewer_id = visitor.user_id
    if viewer_id is None:
        return None
    someone = pages.get(cache_policy.person(user_id))
    listing = pages.get(kept)
    counts = pages.get(cache_policy.counts(kept))
    liked = pages.get(cache_policy.liked(viewer_id, kept))
    following = pages.get(cache_policy.follows(viewer_id, user_id))
    if someone is None or listing is None or counts is None or liked is None or following is None:
        return None
    return follows.ProfileView(someone, following, listing.with_counts(counts), liked)


def keep_view(
    pages: PageStore,
    visitor: Visitor,
    kept: cache_policy.Kept,
    view: follows.ProfileView,
    seen: Seen,
) -> None:
    viewer_id = visitor.user_id
    if viewer_id is None:
        return
    user_id = view.person.id
    pages.put(cache_policy.person(user_id), view.person, seen)
    pages.put(kept, view.listing, seen)
    pages.put(cache_policy.counts(kept), view.listing.counts, seen)
    pages.put(cache_policy.liked(viewer_id, kept), view.liked, seen)
    pages.put(cache_policy.follows(viewer_id, user_id), view.following, seen)
