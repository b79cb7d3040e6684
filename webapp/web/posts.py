"""Pages for posts: the feed and search, a post with its comments, the
write/edit/delete forms, likes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.deps import Cache, DbSession
from webapp.core.page_cache import PageCache
from webapp.models import PostCreate, PostPublic
from webapp.rules import comments, likes, posts
from webapp.web.deps import CurrentUser, Visitor, VisitorDep
from webapp.web.listing import counted_list, liked_among, post_cards, shared_page
from webapp.web.pages import (
    PER_PAGE,
    Checkbox,
    FormText,
    field_errors,
    flash,
    page_number,
    redirect,
    render,
)

router = APIRouter()


@router.get("/")
async def home(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    cache: Cache,
    page: str = "1",
    q: str = "",
) -> Response:
    words = tuple(posts.search_words(q))
    number = page_number(page)
    key = ("feed", number, words)

    async def build() -> Response:
        seen = cache.seen()
        listing = await counted_list(
            db,
            cache,
            key,
            lambda: posts.published_page(db, page=number, per_page=PER_PAGE, words=words),
        )
        liked = await liked_among(db, cache, visitor, key, listing.ids)
        cards = post_cards(request, listing.posts, liked, key=key, seen=seen)
        context = {"listing": listing, "cards": cards, "search_query": q, "searching": bool(words)}
        return render(request, visitor, "home.html", context)

    return await shared_page(request, visitor, build)


def post_form(
    request: Request,
    visitor: Visitor,
    *,
    post: PostPublic | None,
    values: dict[str, object],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "post": post,
        "values": values,
        "errors": errors or {},
    }
    return render(request, visitor, "posts/form.html", context, status_code=status_code)


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
    user: CurrentUser,
    title: FormText = "",
    content: FormText = "",
    published: Checkbox = None,
) -> Response:
    data, values, errors = validated(title, content, published)
    if data is None:
        return post_form(request, visitor, post=None, values=values, errors=errors, status_code=422)
    post = await posts.create_post(db, owner=user, data=data)
    flash(request, "Your post is published." if post.published else "Your draft is saved.")
    return redirect(f"/posts/{post.id}")


@router.get("/posts/{post_id:int}")
async def show_post(
    request: Request,
    post_id: int,
    db: DbSession,
    visitor: VisitorDep,
    cache: Cache,
    page: str = "1",
) -> Response:
    number = page_number(page)
    return await shared_page(
        request, visitor, lambda: post_page(request, db, visitor, cache, post_id, page=number)
    )


async def post_page(
    request: Request,
    db: AsyncSession,
    visitor: Visitor,
    cache: PageCache,
    post_id: int,
    *,
    page: int = 1,
    comment: str = "",
    errors: dict[str, str] | None = None,
) -> Response:
    """A post and one page of its comments, with the comment form: the page of
    GET /posts/{id}, and the page a refused comment comes back to (`comment`,
    the text typed, and its `errors`: a 422).

    A published post, its counts and its comments are kept for everyone (a
    comment moves the comment count, so the likes version, which drops the
    counts and the comments kept); a draft is read for its owner alone, and
    nothing of it is kept."""
    key = ("post", post_id)
    seen = cache.seen()

    async def load() -> PostPublic | None:
        found = await posts.find_visible_post(db, post_id, None)
        if found is not None:
            cache.put(("counts", key), {found.id: (found.votes, found.comments)}, seen, likes=True)
        return found

    post = await cache.fetch(key, load)
    if post is None:  # a draft, or nothing: PostNotFound but for its owner
        post = await posts.get_visible_post(db, post_id, visitor.user_id)
        thread = await comments.page_of(db, post, page=page)
    else:
        counts = await cache.fetch(
            ("counts", key), lambda: posts.counts_of(db, [post_id]), likes=True
        )
        post = published = posts.with_count(post, counts)
        thread = await cache.fetch(
            ("comments", post_id, page),
            lambda: comments.page_of(db, published, page=page),
            likes=True,
        )
    liked = post.id in await liked_among(db, cache, visitor, key, [post.id])
    context = {
        "post": post,
        "liked": liked,
        "is_owner": visitor.user_id == post.owner_id,
        "thread": thread,
        "comment": comment,
        "errors": errors or {},
    }
    status_code = 422 if errors else 200
    return render(request, visitor, "posts/show.html", context, status_code=status_code)


@router.get("/posts/{post_id:int}/edit")
async def edit_post(
    request: Request, post_id: int, db: DbSession, visitor: VisitorDep, user: CurrentUser
) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    values = {"title": post.title, "content": post.content, "published": post.published}
    return post_form(request, visitor, post=post, values=values)


@router.post("/posts/{post_id:int}/edit")
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


@router.post("/posts/{post_id:int}/delete")
async def delete_post(request: Request, post_id: int, db: DbSession, user: CurrentUser) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    await posts.delete_post(db, post=post)
    flash(request, "Your post is deleted.")
    return redirect("/")


@router.post("/posts/{post_id:int}/vote")
async def vote(
    request: Request, post_id: int, db: DbSession, user: CurrentUser, dir: FormText = ""
) -> Response:
    """The button says what it will do (`dir` 1 or 0, from the state the page
    showed), so a double click or a second tab repeats the same wish instead of
    undoing it. Without `dir`, the like toggles."""
    if dir == "1":
        await likes.add(db, post_id=post_id, user_id=user.id)
        liked = True
    elif dir == "0":
        await likes.remove(db, post_id=post_id, user_id=user.id)
        liked = False
    else:
        liked = await likes.toggle(db, post_id=post_id, user_id=user.id)
    flash(request, "You like this post." if liked else "You no longer like this post.")
    return redirect(f"/posts/{post_id}")
