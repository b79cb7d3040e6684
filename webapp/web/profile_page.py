"""A profile's page: the person, their counts and their posts, and the Follow
button; what GET /users/{id} shows (`webapp.web.profiles`) and what a refused
follow comes back to (`webapp.web.follows`)."""

from __future__ import annotations

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.models import ProfilePublic
from webapp.rules import follows, page_sizes, posts
from webapp.web import cache_policy
from webapp.web.cache_policy import PageStore
from webapp.web.deps import Visitor
from webapp.web.listing import counted_list, liked_among, post_cards
from webapp.web.pages import page_number, render


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
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The profile as this visitor sees it; with `error`, a message on top (a
    follow the rules refused)."""
    number = page_number(page)
    is_owner = visitor.user_id == user_id
    kept = cache_policy.profile_posts(user_id, number)
    seen = pages.seen()
    someone = await person(db, pages, user_id)
    if is_owner:  # with their drafts: theirs alone, never kept
        listing = await posts.owner_page(
            db, owner_id=user_id, viewer_id=user_id, page=number, per_page=page_sizes.POSTS
        )
    else:  # the published posts, which the profile has counted already
        listing = await counted_list(
            db,
            pages,
            kept,
            lambda: posts.owner_page(
                db,
                owner_id=user_id,
                viewer_id=None,
                page=number,
                per_page=page_sizes.POSTS,
                total=someone.posts,
            ),
        )
    liked = await liked_among(db, pages, visitor, kept, listing.ids)
    cards = post_cards(
        request,
        pages,
        listing.posts,
        liked,
        kept=None if is_owner else kept,
        seen=seen,
        show_draft=True,
    )
    following = False
    viewer_id = visitor.user_id
    if viewer_id is not None and not is_owner:  # one statement, kept until a follow
        following = await pages.fetch(
            cache_policy.follows(viewer_id, user_id),
            lambda: follows.is_following(db, viewer_id, user_id),
        )
    context = {
        "profile": someone,
        "listing": listing,
        "cards": cards,
        "is_owner": is_owner,
        "following": following,
        "errors": {"form": error} if error else {},
    }
    return render(request, visitor, "users/profile.html", context, status_code=status_code)
