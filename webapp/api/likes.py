"""Likes: POST /api/vote with dir 1 to like a post, dir 0 to take the like back."""

from __future__ import annotations

from fastapi import HTTPException, Request, Response

from webapp.api.deps import (
    NOT_CONFIRMED,
    UNAUTHORIZED,
    UNREADABLE_BODY,
    ApiWriter,
    BearerToken,
    error,
)
from webapp.core.area_routes import area_router
from webapp.core.responses import PlainJSON
from webapp.models import Message, VoteCreate
from webapp.rules import likes

router = area_router(tags=["votes"])

# The answers, as the JSON the declared model would make of them, made once.
LIKED = Message(message="Liked").model_dump_json().encode()
TAKEN_BACK = Message(message="Like removed").model_dump_json().encode()


def answer(body: bytes, status_code: int) -> Response:
    """The JSON answer, its two headers set at once (`PlainJSON`): a starlette
    `Response` looks each one up as it builds them."""
    return PlainJSON(body, status_code)


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
        **NOT_CONFIRMED,
        404: error("No such post (or a draft of someone else's), or no like to take back"),
        409: error("The caller already likes this post"),
    },
)
async def vote(request: Request, token: BearerToken, data: VoteCreate) -> Response:
    """Anyone may like a post they can see, their own drafts included. The
    database decides races: two likes at once count once, never fail with 500."""
    async with ApiWriter(request, token) as (db, caller):
        if data.dir == 1:
            if not await likes.add(db, post_id=data.post_id, user_id=caller.id, caller=caller):
                raise HTTPException(409, "You already like this post")
            return answer(LIKED, 201)
        if not await likes.remove(db, post_id=data.post_id, user_id=caller.id, caller=caller):
            raise HTTPException(404, "You do not like this post")
    return answer(TAKEN_BACK, 200)
