"""Comments: a post's comments in thread order, writing one (or a reply),
editing one, deleting one.

Who may see, write and delete a comment is decided in `webapp.rules.comments`
(through the post's visibility: a draft's comments are its owner's alone);
its errors become 403 and 404 in `webapp.errors`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from pydantic import TypeAdapter
from starlette.responses import Response

from webapp.api.deps import (
    BAD_TOKEN_SENT,
    NOT_CONFIRMED,
    OPTIONAL_AUTH,
    POST_NOT_FOUND,
    UNAUTHORIZED,
    UNREADABLE_BODY,
    ApiUser,
    ConfirmedApiUser,
    Limit,
    OptionalApiUser,
    Responses,
    Skip,
    error,
)
from webapp.api.paths import CommentId, PostId
from webapp.api.posts import json_response
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, SettingsDep
from webapp.models import CommentCreate, CommentEdit, CommentPublic
from webapp.rules import comments, page_sizes, roles

router = area_router(tags=["comments"])

COMMENTS_JSON = TypeAdapter(list[CommentPublic])

COMMENT_EXAMPLES = {
    "comment": {"summary": "A comment", "value": {"content": "Well said."}},
    "reply": {"summary": "A reply", "value": {"content": "I agree.", "parent_id": 1}},
}
EDIT_EXAMPLES = {
    "edit": {"summary": "A new text", "value": {"content": "Well said, indeed."}},
}
# Invalid fields (FastAPI's list of problems), or a `parent_id` that is no
# comment of this post (a sentence).
BAD_PARENT: Responses = {
    422: {
        "description": "Invalid, or `parent_id` is no comment of this post",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/HTTPValidationError"},
                        {"$ref": "#/components/schemas/ErrorDetail"},
                    ]
                }
            }
        },
    }
}


@router.get(
    "/posts/{post_id:id}/comments",
    response_model=list[CommentPublic],
    summary="A post's comments, in thread order",
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
    """Each top-level comment oldest first, followed by its replies,
    depth-first, oldest first at each level (`parent_id` says which comment a
    reply answers). A deleted comment that has replies stays in its place as
    `deleted`, without author or text. Anyone may read the comments of a
    published post; those of a draft, its owner alone (to anyone else the
    post is a 404). A token is optional here, but one that is sent and does
    not hold is a 401."""
    viewer_id = viewer.id if viewer else None
    moderator = viewer is not None and roles.moderates(viewer.role)
    found = await comments.list_visible(
        db, post_id, viewer_id, offset=skip, limit=limit, moderator=moderator
    )
    if viewer is not None:  # a comment of someone the caller blocks: no author, no text
        found = [comments.collapsed(comment, viewer.shield) for comment in found]
    return json_response(COMMENTS_JSON, found)


@router.post(
    "/posts/{post_id:id}/comments",
    response_model=CommentPublic,
    status_code=201,
    summary="Comment on a post",
    responses={
        **UNREADABLE_BODY,
        **UNAUTHORIZED,
        404: error(
            "No such post, or a draft of someone else's; or the comment answered is deleted"
        ),
        **BAD_PARENT,
        **NOT_CONFIRMED,
        429: error(
            "The caller wrote `COMMENTS_PER_HOUR` comments within the last hour",
            {"Retry-After": "Seconds until one more may be written"},
        ),
    },
)
async def create_comment(
    db: DbSession,
    user: ConfirmedApiUser,
    settings: SettingsDep,
    post_id: PostId,
    data: Annotated[CommentCreate, Body(openapi_examples=COMMENT_EXAMPLES)],
) -> CommentPublic:
    """Anyone may comment on a post they can see, or answer one of its comments
    (`parent_id`: a comment of the same post, else 422). `content`: 1–2,000
    characters, not only spaces. The author of the comment answered is
    notified (`reply`), and the post's owner (`comment`), each once and
    nobody of their own comment.
    The same text sent again within seconds gives back the first comment
    instead of a second one."""
    return await comments.add(
        db, post_id=post_id, author_id=user.id, data=data, per_hour=settings.comments_per_hour
    )


@router.patch(
    "/comments/{comment_id:id}",
    response_model=CommentPublic,
    summary="Edit a comment",
    responses={
        **UNREADABLE_BODY,
        **UNAUTHORIZED,
        403: error("Not the comment's author"),
        404: error("No such comment, a deleted one, or one under a draft of someone else's"),
    },
)
async def edit_comment(
    db: DbSession,
    user: ApiUser,
    comment_id: CommentId,
    data: Annotated[CommentEdit, Body(openapi_examples=EDIT_EXAMPLES)],
) -> CommentPublic:
    """Its author alone may change its text; it then says `edited`."""
    return await comments.edit(db, comment_id, user.id, data)


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
    notifications go with it. One with replies stays as a placeholder
    (`deleted`) that keeps them in place."""
    comment = await comments.get_deletable(db, comment_id, user.id)
    await comments.delete_comment(db, comment)
