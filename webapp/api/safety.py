"""Blocks and mutes through the API: the caller's lists, and a PUT and a
DELETE that add or take back one (each `204`, also when repeated).

The rules live in `webapp.rules.safety`: a block removes the follows between
the two, both ways; neither is ever told to the other.
"""

from __future__ import annotations

from webapp.api.deps import UNAUTHORIZED, ApiUser, Responses, error
from webapp.api.paths import UserId
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.models import UserPublic
from webapp.rules import safety

router = area_router(prefix="/users/me", tags=["safety"])

CHANGE_ERRORS: Responses = {
    **UNAUTHORIZED,
    404: error("No such user"),
    422: error("The id is the caller's own"),
}


@router.get(
    "/blocks",
    response_model=list[UserPublic],
    summary="The people the caller blocks, the latest first",
    responses=UNAUTHORIZED,
)
async def blocks(db: DbSession, user: ApiUser) -> list[UserPublic]:
    return await safety.blocked_people(db, user.id)


@router.put(
    "/blocks/{user_id:id}",
    response_model=None,  # 204: no body at all
    status_code=204,
    summary="Block someone",
    responses=CHANGE_ERRORS,
)
async def block(db: DbSession, user: ApiUser, user_id: UserId) -> None:
    """The follows between the two go, both ways. Afterwards their follows,
    likes, comments and replies aimed at the caller (or the caller's posts
    and comments) are `404`, their mentions notify nothing, and the caller
    reads none of their posts and their comments without author or text.
    Nobody is told."""
    await safety.block(db, blocker_id=user.id, blocked_id=user_id)


@router.delete(
    "/blocks/{user_id:id}",
    response_model=None,
    status_code=204,
    summary="Take a block back",
    responses=CHANGE_ERRORS,
)
async def unblock(db: DbSession, user: ApiUser, user_id: UserId) -> None:
    """The follows the block removed do not come back."""
    await safety.unblock(db, blocker_id=user.id, blocked_id=user_id)


@router.get(
    "/mutes",
    response_model=list[UserPublic],
    summary="The people the caller mutes, the latest first",
    responses=UNAUTHORIZED,
)
async def mutes(db: DbSession, user: ApiUser) -> list[UserPublic]:
    return await safety.muted_people(db, user.id)


@router.put(
    "/mutes/{user_id:id}",
    response_model=None,
    status_code=204,
    summary="Mute someone",
    responses=CHANGE_ERRORS,
)
async def mute(db: DbSession, user: ApiUser, user_id: UserId) -> None:
    """Their posts leave the caller's lists and searches, and their likes,
    comments, mentions and follows notify the caller no more. Nobody is told."""
    await safety.mute(db, muter_id=user.id, muted_id=user_id)


@router.delete(
    "/mutes/{user_id:id}",
    response_model=None,
    status_code=204,
    summary="Take a mute back",
    responses=CHANGE_ERRORS,
)
async def unmute(db: DbSession, user: ApiUser, user_id: UserId) -> None:
    await safety.unmute(db, muter_id=user.id, muted_id=user_id)
