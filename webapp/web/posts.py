"""Pages for posts: the feed and search, a post with its comments, the
write/edit/delete forms, likes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from webapp.core.deps import DbSession, SettingsDep
from webapp.errors import PostNotFound, TooManyPosts
from webapp.models import MAX_ID, PostCreate, PostPublic
from webapp.rules import likes, ordering, page_sizes, posts
from webapp.web import cache_policy
from webapp.web.cache_policy import Pages
from webapp.web.deps import ConfirmedUser, CurrentUser, Visitor, VisitorDep
from webapp.web.listing import counted_list, liked_among, post_cards
from webapp.web.pages import (
    Checkbox,
    FormText,
    field_errors,
    flash,
    page_number,
    redirect,
    render,
    safe_next,
)
from webapp.web.post_page import post_page
from webapp.web.shared_pages import shared_page

router = APIRouter()


@router.get("/")
async def home(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    page: str = "1",
    q: str = "",
    sort: str = "",
    t: str = "",
) -> Response:
    words = tuple(posts.search_words(q))
    number = page_number(page)
    order = ordering.order_of(sort, t)
    shield = visitor.shield
    kept = cache_policy.feed(number, words, order, shield.key)

    async def build() -> Response:
        seen = pages.seen()
        listing = await counted_list(
            db,
            pages,
            kept,
            lambda: posts.published_page(
                db,
                page=number,
                per_page=page_sizes.POSTS,
                words=words,
                order=order,
                unlisted=shield.unlisted,
            ),
        )
        liked = await liked_among(db, pages, visitor, kept, listing.ids)
        cards = post_cards(request, pages, visitor, listing.posts, liked, kept=kept, seen=seen)
        context = {
            "listing": listing,
            "cards": cards,
            "search_query": q,
            "searching": bool(words),
            "order": order,
        }
        return render(request, visitor, "home.html", context)

    return await shared_page(request, visitor, pages, build)


def post_form(
    request: Request,
    visitor: Visitor,
    *,
    post: PostPublic | None,
    values: dict[str, object],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    preview: posts.Marked | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {
        "post": post,
        "values": values,
        "errors": errors or {},
        "preview": preview,
    }
    return render(
        request, visitor, "posts/form.html", context, status_code=status_code, headers=headers
    )


def validated(
    title: str, content: str, published: str | None
) -> tuple[PostCreate | None, dict[str, object], dict[str, str]]:
    values: dict[str, object] = {
        "title": title,
        "content": content,
        "published": published is not None,
    }
    try:
        return PostCreate.model_validate(values), values, {}
    except ValidationError as error:
        return None, values, field_errors(error, default_field="title")


@router.get("/posts/new")
async def new_post(request: Request, visitor: VisitorDep, user: CurrentUser) -> Response:
    return post_form(
        request, visitor, post=None, values={"title": "", "content": "", "published": True}
    )


@router.post("/posts")
async def create_post(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    user: ConfirmedUser,
    settings: SettingsDep,
    title: FormText = "",
    content: FormText = "",
    published: Checkbox = None,
) -> Response:
    data, values, errors = validated(title, content, published)
    if data is None:
        return post_form(request, visitor, post=None, values=values, errors=errors, status_code=422)
    try:
        post = await posts.create_post(db, owner=user, data=data, per_hour=settings.posts_per_hour)
    except TooManyPosts as refused:
        # The form again, as typed, with the wait above it.
        return post_form(
            request,
            visitor,
            post=None,
            values=values,
            errors={"form": refused.detail},
            status_code=refused.status_code,
            headers=refused.headers,
        )
    flash(request, "Your post is published." if post.published else "Your draft is saved.")
    return redirect(f"/posts/{post.id}")


@router.post("/posts/preview")
async def preview_post(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    user: CurrentUser,
    title: FormText = "",
    content: FormText = "",
    published: Checkbox = None,
    post_id: FormText = "",
) -> Response:
    """The form again, filled in as it was sent, with the post rendered above
    it: nothing is saved. From the edit form (`post_id`), the form still saves
    that post."""
    post = None
    if post_id:
        if not (post_id.isascii() and post_id.isdigit() and len(post_id) <= len(str(MAX_ID))):
            raise PostNotFound
        post = await posts.get_own_post(db, int(post_id), user.id)
    data, values, errors = validated(title, content, published)
    if data is None:
        return post_form(request, visitor, post=post, values=values, errors=errors, status_code=422)
    preview = await posts.mark_up(db, data.title, data.content)
    return post_form(request, visitor, post=post, values=values, preview=preview)


@router.get("/posts/{post_id:id}")
async def show_post(
    request: Request,
    post_id: int,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    page: str = "1",
) -> Response:
    number = page_number(page)
    return await shared_page(
        request,
        visitor,
        pages,
        lambda: post_page(request, db, visitor, pages, post_id, page=number),
    )


@router.get("/posts/{post_id:id}/edit")
async def edit_post(
    request: Request, post_id: int, db: DbSession, visitor: VisitorDep, user: CurrentUser
) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    values = {"title": post.title, "content": post.content, "published": post.published}
    return post_form(request, visitor, post=post, values=values)


@router.post("/posts/{post_id:id}/edit")
async def update_post(
    request: Request,
    post_id: int,
    db: DbSession,
    visitor: VisitorDep,
    user: CurrentUser,
    title: FormText = "",
    content: FormText = "",
    published: Checkbox = None,
) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    data, values, errors = validated(title, content, published)
    if data is None:
        return post_form(request, visitor, post=post, values=values, errors=errors, status_code=422)
    await posts.update_post(db, post=post, data=data)
    flash(request, "Your changes are saved.")
    return redirect(f"/posts/{post.id}")


@router.post("/posts/{post_id:id}/delete")
async def delete_post(request: Request, post_id: int, db: DbSession, user: CurrentUser) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    await posts.delete_post(db, post=post)
    flash(request, "Your post is deleted.")
    return redirect("/")


@router.post("/posts/{post_id:id}/vote")
async def vote(
    request: Request,
    post_id: int,
    db: DbSession,
    user: ConfirmedUser,
    dir: FormText = "",
    next: FormText = "",
) -> Response:
    """The button says what it will do (`dir` 1 or 0, from the state the page
    showed), so a double click or a second tab repeats the same wish instead of
    undoing it. Without `dir`, the like toggles. From a card, `next` is the page
    the card was on, returned to; a script asking for JSON gets the post's like
    state and count instead (static/likes.js)."""
    if dir == "1":
        await likes.add(db, post_id=post_id, user_id=user.id)
        liked = True
    elif dir == "0":
        await likes.remove(db, post_id=post_id, user_id=user.id)
        liked = False
    else:
        liked = await likes.toggle(db, post_id=post_id, user_id=user.id)
    if "application/json" in request.headers.get("accept", ""):
        votes, _comments = (await posts.counts_of(db, [post_id])).get(post_id, (0, 0))
        return JSONResponse({"liked": liked, "votes": votes})
    flash(request, "You like this post." if liked else "You no longer like this post.")
    return redirect(safe_next(next) if next else f"/posts/{post_id}")
