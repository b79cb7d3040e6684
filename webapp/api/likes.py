"""Likes: POST /api/vote with dir 1 to like a post, dir 0 to take the like back."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from webapp.api.deps import UNAUTHORIZED, UNREADABLE_BODY, ApiUser, error
from webapp.core.deps import DbSession
from webapp.models import Message, VoteCreate
from webapp.rules import likes

router = APIRouter(tags=["votes"])


@router.post(
    "/vote",
    response_model=Message,
    status_code=201,
    summary="Like a post, or take the like back",
    responses={
        200: {"model": Message, "description": "The like was taken back (`dir` 0)"},
        201: {"description": "The post is liked (`dir` 1)"},
        **UNREADABLE_BODY,
        **UNAUTHORIZED,
        404: error("No such post (or a draft of someone else's), or no like to take back"),
        409: error("The caller already likes this post"),
    },
)
async def vote(db: DbSession, user: ApiUser, data: VoteCreate, response: Response) -> Message:
    """Anyone may like a post they can see, their own drafts included. The
    database decides races: two likes at once count once, never fail with 500."""
    if data.dir == 1:
        if not await likes.add(db, post_id=data.post_id, user_id=user.id):
            raise HTTPException(409, "You already like this post")
        return Message(message="Liked")
    if not await likes.remove(db, post_id=data.post_id, user_id=user.id):
        raise HTTPException(404, "You do not like this post")
    response.status_code = 200
    return Message(message="Like removed")
