"""Pages for posts: the feed and search, a post, the write/edit/delete forms, likes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from webapp import posts, votes
from webapp.deps import CurrentUser, DbSession, OptionalUser, protect_form
from webapp.models import CONTENT_MAX, TITLE_MAX, Post, PostCreate
from webapp.templating import flash, render
from webapp.web.auth import redirect
from webapp.web.forms import field_errors

router = APIRouter(include_in_schema=False, dependencies=[Depends(protect_form)])

PER_PAGE = 20
MAX_PAGE = 1_000_000
FormText = Annotated[str, Form()]
Checkbox = Annotated[str | None, Form()]


def page_number(raw: str | None) -> int:
    """?page= as a person might type it: anything that is not a page is page 1."""
    if raw and raw.isdigit():
        return min(max(int(raw), 1), MAX_PAGE)
    return 1


@router.get("/")
def home(
    request: Request, db: DbSession, viewer: OptionalUser, page: str = "1", q: str = ""
) -> Response:
    words = posts.search_words(q)
    listing = posts.published_page(db, page=page_number(page), per_page=PER_PAGE, words=words)
    liked = votes.liked_ids(db, user=viewer, post_ids=[post.id for post in listing.posts])
    return render(
        request,
        "home.html",
        {"listing": listing, "liked": liked, "search_query": q, "searching": bool(words)},
    )


def post_form(
    request: Request,
    *,
    post: Post | None,
    values: dict[str, object],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "post": post,
        "values": values,
        "errors": errors or {},
        "title_max": TITLE_MAX,
        "content_max": CONTENT_MAX,
    }
    return render(request, "posts/form.html", context, status_code=status_code)


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
def new_post(request: Request, user: CurrentUser) -> Response:
    return post_form(request, post=None, values={"title": "", "content": "", "published": True})


@router.post("/posts")
def create_post(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    title: FormText = "",
    content: FormText = "",
    published: Checkbox = None,
) -> Response:
    data, values, errors = validated(title, content, published)
    if data is None:
        return post_form(request, post=None, values=values, errors=errors, status_code=422)
    post = posts.create_post(db, owner=user, data=data)
    flash(request, "Your post is published." if post.published else "Your draft is saved.")
    return redirect(f"/posts/{post.id}")


@router.get("/posts/{post_id:int}")
def show_post(request: Request, post_id: int, db: DbSession, viewer: OptionalUser) -> Response:
    post = posts.get_visible_post(db, post_id, viewer)
    liked = post.id in votes.liked_ids(db, user=viewer, post_ids=[post.id])
    is_owner = viewer is not None and viewer.id == post.owner_id
    return render(request, "posts/show.html", {"post": post, "liked": liked, "is_owner": is_owner})


@router.get("/posts/{post_id:int}/edit")
def edit_post(request: Request, post_id: int, db: DbSession, user: CurrentUser) -> Response:
    post = posts.get_own_post(db, post_id, user)
    values = {"title": post.title, "content": post.content, "published": post.published}
    return post_form(request, post=post, values=values)


@router.post("/posts/{post_id:int}/edit")
def update_post(
    request: Request,
    post_id: int,
    db: DbSession,
    user: CurrentUser,
    title: FormText = "",
    content: FormText = "",
    published: Checkbox = None,
) -> Response:
    post = posts.get_own_post(db, post_id, user)
    data, values, errors = validated(title, content, published)
    if data is None:
        return post_form(request, post=post, values=values, errors=errors, status_code=422)
    posts.update_post(db, post=post, data=data)
    flash(request, "Your changes are saved.")
    return redirect(f"/posts/{post.id}")


@router.post("/posts/{post_id:int}/delete")
def delete_post(request: Request, post_id: int, db: DbSession, user: CurrentUser) -> Response:
    post = posts.get_own_post(db, post_id, user)
    posts.delete_post(db, post=post)
    flash(request, "Your post is deleted.")
    return redirect("/")


@router.post("/posts/{post_id:int}/vote")
def vote(
    request: Request, post_id: int, db: DbSession, user: CurrentUser, dir: FormText = ""
) -> Response:
    """The button says what it will do (`dir` 1 or 0, from the state the page
    showed), so a double click or a second tab repeats the same wish instead of
    undoing it. Without `dir`, the like toggles."""
    post = posts.get_visible_post(db, post_id, user)
    if dir == "1":
        votes.add(db, post=post, user=user)
        liked = True
    elif dir == "0":
        votes.remove(db, post=post, user=user)
        liked = False
    else:
        liked = votes.toggle(db, post=post, user=user)
    flash(request, "You like this post." if liked else "You no longer like this post.")
    return redirect(f"/posts/{post.id}")
