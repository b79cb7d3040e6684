"""Comments on pages: writing one under a post, deleting one. The comments
themselves are shown on the post's page (`webapp.web.post_page`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.deps import DbSession
from webapp.models import CommentCreate
from webapp.rules import comments
from webapp.web.cache_policy import Pages
from webapp.web.deps import CurrentUser, VisitorDep
from webapp.web.pages import FormText, field_errors, flash, page_number, redirect
from webapp.web.post_page import post_page

router = APIRouter()


@router.post("/posts/{post_id:id}/comments")
async def create_comment(
    request: Request,
    post_id: int,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    user: CurrentUser,
    content: FormText = "",
    page: str = "1",
) -> Response:
    """Off to the new comment, on the page of comments that shows it. A refused
    text comes back on the post's page (the page of comments the form was
    sent from, `?page=`), beside the form, as typed. A post the writer cannot
    see, or one deleted meanwhile, is a 404 either way."""
    try:
        data = CommentCreate.model_validate({"content": content})
    except ValidationError as error:
        errors = field_errors(error, default_field="content")
        number = page_number(page)
        return await post_page(
            request, db, visitor, pages, post_id, page=number, comment=content, errors=errors
        )
    comment = await comments.add(db, post_id=post_id, author_id=user.id, data=data)
    flash(request, "Your comment is posted.")
    return await to_comment(db, comment)


async def to_comment(db: AsyncSession, comment: comments.Locatable) -> Response:
    """303 to the page of its post's comments that shows this one, at its anchor."""
    number = await comments.page_showing(db, comment)
    shown_on = f"?page={number}" if number > 1 else ""
    return redirect(f"/posts/{comment.post_id}{shown_on}#comment-{comment.id}")


@router.get("/comments/{comment_id:id}")
async def show_comment(comment_id: int, db: DbSession, visitor: VisitorDep) -> Response:
    """A link to one comment (a notification's): off to the page of its post's
    comments that shows it. Under a draft of someone else, it does not exist."""
    return await to_comment(db, await comments.find(db, comment_id, visitor.user_id))


@router.post("/comments/{comment_id:id}/delete")
async def delete_comment(
    request: Request, comment_id: int, db: DbSession, user: CurrentUser
) -> Response:
    """Its author or the post's owner may (NotCommentAuthor, a 403, for anyone
    else); a comment that is gone, or under a draft of someone else, is a 404."""
    comment = await comments.get_deletable(db, comment_id, user.id)
    await comments.delete_comment(db, comment)
    flash(request, "The comment is deleted.")
    return redirect(f"/posts/{comment.post_id}")
