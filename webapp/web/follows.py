"""Following people: the Follow and Unfollow buttons, who follows whom, and
the feed of the posts of the people one follows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.errors import CannotFollowSelf
from webapp.rules import follows, page_sizes, search, search_query
from webapp.web import cache_policy
from webapp.web.cache_policy import Pages, PageStore
from webapp.web.deps import ConfirmedUser, CurrentUser, Visitor, VisitorDep
from webapp.web.listing import feed
from webapp.web.pages import flash, page_number, redirect, render
from webapp.web.profile_page import person, profile_page
from webapp.web.shared_pages import shared_page

router = area_router()


@router.get("/following")
async def following_feed(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    user: CurrentUser,
    pages: Pages,
    page: str = "1",
    q: str = "",
    sort: str = "",
    t: str = "",
) -> Response:
    """The home page's feed, for the posts of the people the visitor follows;
    kept for this visitor alone until the data version moves (a follow moves it)."""
    query = search_query.parse(q)
    number = page_number(page)
    order = search.order_of(query, sort, t)
    shield = visitor.shield
    kept = cache_policy.following_feed(user.id, number, query.key, order, shield.key)
    seen = pages.seen()
    listing, cards = await feed(
        request,
        db,
        pages,
        visitor,
        kept,
        lambda: search.list_page(
            db,
            query,
            page=number,
            per_page=page_sizes.POSTS,
            order=order,
            scope=search.Scope(followed_by=user.id, unlisted=shield.unlisted),
        ),
        seen,
    )
    # An empty first page: nobody followed yet, or nothing written by them?
    follows_nobody = (
        not listing.posts and not listing.past_end and not await follows_anyone(db, pages, user.id)
    )
    context = {
        "listing": listing,
        "cards": cards,
        "search_query": query.text,
        "searching": query.given,
        "follows_nobody": follows_nobody,
        "order": order,
        "feed_route": "following_feed",
        "current_nav": "following",
        "search_label": "Search posts by people you follow",
        "search_placeholder": "Search following",
    }
    return render(request, visitor, "following.html", context)


async def follows_anyone(db: AsyncSession, pages: PageStore, user_id: int) -> bool:
    return (await person(db, pages, user_id)).following > 0


@router.post("/users/{user_id:id}/follow")
async def follow_user(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    user: ConfirmedUser,
    pages: Pages,
) -> Response:
    async def change() -> str:
        followed = await follows.follow(db, follower_id=user.id, followed_id=user_id)
        return "You now follow {}." if followed else "You already follow {}."

    return await follow_change(request, db, visitor, pages, user_id, change)


@router.post("/users/{user_id:id}/unfollow")
async def unfollow_user(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    user: CurrentUser,
    pages: Pages,
) -> Response:
    async def change() -> str:
        await follows.unfollow(db, follower_id=user.id, followed_id=user_id)
        return "You no longer follow {}."

    return await follow_change(request, db, visitor, pages, user_id, change)


async def follow_change(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    pages: PageStore,
    user_id: int,
    change: Callable[[], Awaitable[str]],
) -> Response:
    """Follow or unfollow someone (UserNotFound: 404), then back to their
    profile saying what `change` says of them; oneself: the profile with why not."""
    someone = await person(db, pages, user_id)
    try:
        said = await change()
    except CannotFollowSelf as error:
        return await refused(request, db, visitor, pages, user_id, error)
    flash(request, said.format(someone.username))
    return redirect(f"/users/{user_id}")


async def refused(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    pages: PageStore,
    user_id: int,
    error: CannotFollowSelf,
) -> Response:
    """Following oneself: one's own profile, saying why not (422)."""
    return await profile_page(
        request, db, visitor, pages, user_id, error=error.page_message, status_code=422
    )


@router.get("/users/{user_id:id}/followers")
async def followers_list(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    page: str = "1",
) -> Response:
    return await people_list(request, db, visitor, pages, user_id, page, followers=True)


@router.get("/users/{user_id:id}/following")
async def following_list(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    page: str = "1",
) -> Response:
    return await people_list(request, db, visitor, pages, user_id, page, followers=False)


async def people_list(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    pages: PageStore,
    user_id: int,
    page: str,
    *,
    followers: bool,
) -> Response:
    """A person's followers, or the people they follow, newest follow first:
    the same for every visitor but those who block some of them, and kept
    until the data version moves."""
    number = page_number(page)
    blocked = visitor.shield.blocked

    async def build() -> Response:
        someone = await person(db, pages, user_id)
        listing = await pages.fetch(
            cache_policy.people(user_id, followers, number, visitor.shield.blocked_key),
            lambda: follows.people_page(
                db,
                someone,
                followers=followers,
                page=number,
                per_page=page_sizes.PEOPLE,
                blocked=blocked,
            ),
        )
        context = {"profile": someone, "listing": listing, "followers": followers}
        return render(request, visitor, "users/people.html", context)

    return await shared_page(request, visitor, pages, build)
