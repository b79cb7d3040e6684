"""Comments on pages: writing one under a post or in reply to another, editing
one, deleting one, and one comment alone for a page that shows it live. The
comments themselves are shown on the post's page (`webapp.web.post_page`)."""

from __future__ import annotations

from fastapi import Request
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, SettingsDep
from webapp.errors import ParentNotFound, ThreadTooDeep, TooManyComments
from webapp.models import MAX_ID, CommentCreate, CommentEdit
from webapp.rules import comments, roles
from webapp.web.cache_policy import Pages
from webapp.web.deps import ConfirmedUser, CurrentUser, Visitor, VisitorDep
from webapp.web.pages import FormText, field_errors, flash, page_number, redirect, render
from webapp.web.post_page import post_page

router = area_router()


def parent_of(raw: str) -> int | None:
    """The form's `parent_id`: empty for a comment on the post; anything but a
    comment's id is no comment to reply to."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise ParentNotFound
    return int(raw)


@router.post("/posts/{post_id:id}/comments")
async def create_comment(
    request: Request,
    post_id: int,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    user: ConfirmedUser,
    settings: SettingsDep,
    content: FormText = "",
    parent_id: FormText = "",
    page: str = "1",
) -> Response:
    """Off to the new comment, on the page of comments that shows it. A refused
    text, or a reply to no comment of this post, comes back on the post's
    page (the page of comments the form was sent from, `?page=`), beside the
    form, as typed. A post the writer cannot see, or one deleted meanwhile, is
    a 404 either way; so is a reply to a comment deleted meanwhile."""

    async def refused(
        errors: dict[str, str], status_code: int = 422, headers: dict[str, str] | None = None
    ) -> Response:
        number = page_number(page)
        return await post_page(
            request,
            db,
            visitor,
            pages,
            post_id,
            page=number,
            comment=content,
            parent_id=parent_id,
            errors=errors,
            status_code=status_code,
            headers=headers,
        )

    try:
        parent = parent_of(parent_id)
        data = CommentCreate.model_validate({"content": content, "parent_id": parent})
        comment = await comments.add(
            db, post_id=post_id, author_id=user.id, data=data, per_hour=settings.comments_per_hour
        )
    except ValidationError as error:
        return await refused(field_errors(error, default_field="content"))
    except (ParentNotFound, ThreadTooDeep) as error:
        return await refused({error.field: error.page_message or error.detail})
    except TooManyComments as error:
        return await refused({"content": error.detail}, error.status_code, error.headers)
    flash(request, "Your reply is posted." if parent else "Your comment is posted.")
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


@router.get("/comments/{comment_id:id}/fragment")
async def comment_fragment(
    request: Request, comment_id: int, db: DbSession, visitor: VisitorDep
) -> Response:
    """One comment as the post's page lists it (an `<li>`), for a page that
    shows new comments as they come (static/live.js): a placeholder if it was
    deleted with replies; 404 if it is gone, or under a draft of someone
    else's, exactly as its page would not show it."""
    comment, post_owner_id = await comments.read_visible(
        db, comment_id, visitor.user_id, moderator=roles.moderates(visitor.role)
    )
    comment = comments.collapsed(comment, visitor.shield)
    context = {"comment": comment, "is_owner": visitor.user_id == post_owner_id}
    return render(request, visitor, "comments/fragment.html", context)


@router.get("/comments/{comment_id:id}/edit")
async def edit_comment_form(
    request: Request, comment_id: int, db: DbSession, visitor: VisitorDep, user: CurrentUser
) -> Response:
    """The form that changes a comment's text: its author's alone (403)."""
    editable = await comments.editable(db, comment_id, user.id)
    return _edit_page(request, visitor, editable, editable.content, {})


@router.post("/comments/{comment_id:id}/edit")
async def edit_comment(
    request: Request,
    comment_id: int,
    db: DbSession,
    visitor: VisitorDep,
    user: CurrentUser,
    content: FormText = "",
) -> Response:
    """Its author may change its text (anyone else: 403) → 303 to the comment,
    which says "edited"; a refused text comes back on the form (422)."""
    try:
        data = CommentEdit.model_validate({"content": content})
    except ValidationError as error:
        editable = await comments.editable(db, comment_id, user.id)
        errors = field_errors(error, default_field="content")
        return _edit_page(request, visitor, editable, content, errors)
    comment = await comments.edit(db, comment_id, user.id, data)
    flash(request, "Your comment is changed.")
    return await to_comment(db, comment)


def _edit_page(
    request: Request,
    visitor: Visitor,
    editable: comments.Editable,
    content: str,
    errors: dict[str, str],
) -> Response:
    context = {
        "comment_id": editable.id,
        "content": content,
        "errors": errors,
        "post_title": editable.post_title,
    }
    return render(
        request, visitor, "comments/edit.html", context, status_code=422 if errors else 200
    )


@router.post("/comments/{comment_id:id}/delete")
async def delete_comment(
    request: Request, comment_id: int, db: DbSession, user: CurrentUser
) -> Response:
    """Its author or the post's owner may (NotCommentAuthor, a 403, for anyone
    else); a comment that is gone, or under a draft of someone else, is a 404.
    One with replies stays as "[deleted]", keeping them in place."""
    comment = await comments.get_deletable(db, comment_id, user.id)
    await comments.delete_comment(db, comment)
    flash(request, "The comment is deleted.")
    return redirect(f"/posts/{comment.post_id}")
