"""Following: follow and unfollow someone, the lists of a user's followers and
of the people they follow, and the feed of the posts of the people one follows.

The rules live in `webapp.rules.follows` (a repeated follow or unfollow changes
nothing; nobody follows themselves) and `webapp.rules.posts` (the feed is the
published list, narrowed to the people the caller follows).
"""

from __future__ import annotations

from webapp.api.deps import (
    BAD_TOKEN_SENT,
    NOT_CONFIRMED,
    OPTIONAL_AUTH,
    UNAUTHORIZED,
    ApiUser,
    ConfirmedApiUser,
    Limit,
    OptionalApiUser,
    Responses,
    SearchQuery,
    Skip,
    SortQuery,
    WindowQuery,
    error,
)
from webapp.api.paths import UserId
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.models import PostPublic, UserPublic
from webapp.rules import accounts, follows, page_sizes, search_query
from webapp.rules import search as search_rules

router = area_router(tags=["following"])

NO_SUCH_USER: Responses = {404: error("No such user")}
FOLLOW_ERRORS: Responses = {
    **UNAUTHORIZED,
    **NO_SUCH_USER,
    422: error("The id is the caller's own: nobody follows themselves"),
}


@router.put(
    "/users/me/following/{user_id:id}",
    response_model=None,  # 204: no body at all
    status_code=204,
    summary="Follow someone",
    responses={**FOLLOW_ERRORS, **NOT_CONFIRMED},
)
async def follow(db: DbSession, user: ConfirmedApiUser, user_id: UserId) -> None:
    """Following someone already is not an error: nothing changes. They are
    notified of a new follow."""
    await follows.follow(db, follower_id=user.id, followed_id=user_id)


@router.delete(
    "/users/me/following/{user_id:id}",
    response_model=None,  # 204: no body at all
    status_code=204,
    summary="Stop following someone",
    responses=FOLLOW_ERRORS,
)
async def unfollow(db: DbSession, user: ApiUser, user_id: UserId) -> None:
    """Not following them is not an error: nothing changes. The notification of
    the follow is taken back. The caller's own id is a `422`, as for a follow."""
    await follows.unfollow(db, follower_id=user.id, followed_id=user_id)


@router.get(
    "/users/{user_id:id}/followers",
    response_model=list[UserPublic],
    summary="A user's followers, newest follow first",
    responses={**NO_SUCH_USER, **BAD_TOKEN_SENT},
    openapi_extra=OPTIONAL_AUTH,
)
async def followers(
    db: DbSession,
    viewer: OptionalApiUser,
    user_id: UserId,
    limit: Limit = page_sizes.PEOPLE,
    skip: Skip = 0,
) -> list[UserPublic]:
    """The people who follow this user; of two follows in one instant, the
    later first. With a token, the people the caller blocks are left out."""
    person = await accounts.get_public_user(db, user_id)
    blocked = viewer.shield.blocked if viewer else frozenset()
    return await follows.people(
        db, person.id, followers=True, offset=skip, limit=limit, blocked=blocked
    )


@router.get(
    "/users/{user_id:id}/following",
    response_model=list[UserPublic],
    summary="The people a user follows, newest follow first",
    responses={**NO_SUCH_USER, **BAD_TOKEN_SENT},
    openapi_extra=OPTIONAL_AUTH,
)
async def following(
    db: DbSession,
    viewer: OptionalApiUser,
    user_id: UserId,
    limit: Limit = page_sizes.PEOPLE,
    skip: Skip = 0,
) -> list[UserPublic]:
    """The people this user follows; of two follows in one instant, the later
    first. With a token, the people the caller blocks are left out."""
    person = await accounts.get_public_user(db, user_id)
    blocked = viewer.shield.blocked if viewer else frozenset()
    return await follows.people(
        db, person.id, followers=False, offset=skip, limit=limit, blocked=blocked
    )


@router.get(
    "/feed",
    response_model=list[PostPublic],
    summary="Posts by the people the caller follows, newest first",
    responses=UNAUTHORIZED,
)
async def feed(
    db: DbSession,
    user: ApiUser,
    limit: Limit = page_sizes.API_POSTS,
    skip: Skip = 0,
    search: SearchQuery = "",
    sort: SortQuery = "",
    t: WindowQuery = "",
) -> list[PostPublic]:
    """As `GET /api/posts`, narrowed to the authors the caller follows: drafts
    are never listed, and `search` works the same way."""
    query = search_query.parse(search)
    return await search_rules.list_posts(
        db,
        query,
        offset=skip,
        limit=limit,
        order=search_rules.order_of(query, sort, t),
        scope=search_rules.Scope(followed_by=user.id, unlisted=user.shield.unlisted),
    )
