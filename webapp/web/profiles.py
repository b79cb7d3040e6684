"""Profiles: a person's name, when they joined, whom they follow and who
follows them, and what they have written."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.deps import Cache, DbSession
from webapp.core.page_cache import PageCache
from webapp.models import ProfilePublic
from webapp.rules import follows, posts
from webapp.web.deps import Visitor, VisitorDep
from webapp.web.listing import counted_list, liked_among, post_cards, shared_page
from webapp.web.pages import PER_PAGE, page_number, render

router = APIRouter()


async def person(db: AsyncSession, cache: PageCache, user_id: int) -> ProfilePublic:
    """Someone with their follower, following and post counts, as anyone sees
    them; kept until the data version moves (a follow moves it). UserNotFound
    (404) is not kept: a new account may take the id."""
    return await cache.fetch(("person", user_id), lambda: follows.profile(db, user_id))


@router.get("/users/{user_id:int}")
async def profile(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    cache: Cache,
    page: str = "1",
) -> Response:
    return await shared_page(
        request, visitor, lambda: profile_page(request, db, visitor, cache, user_id, page)
    )


async def profile_page(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    cache: PageCache,
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
    key = ("profile", user_id, number)
    seen = cache.seen()
    someone = await person(db, cache, user_id)
    if is_owner:  # with their drafts: theirs alone, never kept
        listing = await posts.owner_page(
            db, owner_id=user_id, viewer_id=user_id, page=number, per_page=PER_PAGE
        )
    else:  # the published posts, which the profile has counted already
        listing = await counted_list(
            db,
            cache,
            key,
            lambda: posts.owner_page(
                db,
                owner_id=user_id,
                viewer_id=None,
                page=number,
                per_page=PER_PAGE,
                total=someone.posts,
            ),
        )
    liked = await liked_among(db, cache, visitor, key, listing.ids)
    cards = post_cards(
        request, listing.posts, liked, key=None if is_owner else key, seen=seen, show_draft=True
    )
    following = False
    viewer_id = visitor.user_id
    if viewer_id is not None and not is_owner:  # one statement, kept until a follow
        following = await cache.fetch(
            ("follows", viewer_id, user_id), lambda: follows.is_following(db, viewer_id, user_id)
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
