"""Comments: a post's comments, writing one, deleting one.

Who may see, write and delete a comment is decided in `webapp.rules.comments`
(through the post's visibility: a draft's comments are its owner's alone);
its errors become 403 and 404 in `webapp.errors`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import TypeAdapter
from starlette.responses import Response

from webapp.api.deps import (
    BAD_TOKEN_SENT,
    OPTIONAL_AUTH,
    POST_NOT_FOUND,
    UNAUTHORIZED,
    UNREADABLE_BODY,
    ApiUser,
    Limit,
    OptionalApiUser,
    Skip,
    error,
)
from webapp.api.paths import CommentId, PostId
from webapp.api.posts import json_response
from webapp.core.deps import DbSession
from webapp.models import CommentCreate, CommentPublic
from webapp.rules import comments, page_sizes

router = APIRouter(tags=["comments"])

COMMENTS_JSON = TypeAdapter(list[CommentPublic])

COMMENT_EXAMPLES = {
    "comment": {"summary": "A comment", "value": {"content": "Well said."}},
}


@router.get(
    "/posts/{post_id:id}/comments",
    response_model=list[CommentPublic],
    summary="A post's comments, oldest first",
    responses={**POST_NOT_FOUND, **BAD_TOKEN_SENT},
    openapi_extra=OPTIONAL_AUTH,
)
async def list_comments(
    db: DbSession,
    viewer: OptionalApiUser,
    post_id: PostId,
    limit: Limit = page_sizes.COMMENTS,
    skip: Skip = 0,
) -> Response:
    """Anyone may read the comments of a published post; those of a draft, its
    owner alone (to anyone else the post is a 404). A token is optional here,
    but one that is sent and does not hold is a 401."""
    viewer_id = viewer.id if viewer else None
    found = await comments.list_visible(db, post_id, viewer_id, offset=skip, limit=limit)
    return json_response(COMMENTS_JSON, found)


@router.post(
    "/posts/{post_id:id}/comments",
    response_model=CommentPublic,
    status_code=201,
    summary="Comment on a post",
    responses={**UNREADABLE_BODY, **UNAUTHORIZED, **POST_NOT_FOUND},
)
async def create_comment(
    db: DbSession,
    user: ApiUser,
    post_id: PostId,
    data: Annotated[CommentCreate, Body(openapi_examples=COMMENT_EXAMPLES)],
) -> CommentPublic:
    """Anyone may comment on a post they can see. `content`: 1–2,000 characters,
    not only spaces. The post's owner is notified (not of their own comment).
    The same text sent again within seconds gives back the first comment
    instead of a second one."""
    return await comments.add(db, post_id=post_id, author_id=user.id, data=data)


@router.delete(
    "/comments/{comment_id:id}",
    response_model=None,  # 204: no body at all
    status_code=204,
    summary="Delete a comment",
    responses={
        **UNAUTHORIZED,
        403: error("Neither the comment's author nor its post's owner"),
        404: error("No such comment, or one under a draft of someone else's"),
    },
)
async def delete_comment(db: DbSession, user: ApiUser, comment_id: CommentId) -> None:
    """Its author may delete it, and so may the owner of its post. Its
    notification goes with it."""
    comment = await comments.get_deletable(db, comment_id, user.id)
    await comments.delete_comment(db, comment)
