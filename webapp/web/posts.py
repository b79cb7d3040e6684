"""Pages for posts: the feed and search, a post, the write/edit/delete forms, likes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from webapp import posts, votes
from webapp.deps import Cache, CurrentUser, DbSession, VisitorDep, protect_form
from webapp.models import CONTENT_MAX, TITLE_MAX, PostCreate, PostPublic
from webapp.sessions import Visitor
from webapp.templating import flash, post_cards, render, shared_page
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
        liked = await liked_among(db, cache, visitor, key, listing)
        cards = post_cards(request, listing.posts, liked, key=key, seen=seen)
        context = {"listing": listing, "cards": cards, "search_query": q, "searching": bool(words)}
        return render(request, "home.html", context)

    return await shared_page(request, build)


async def counted_list(
    db: DbSession, cache: Cache, key: Hashable, load: Callable[[], Awaitable[posts.PostPage]]
) -> posts.PostPage:
    """A list kept in the cache, with its like counts as they are now: a like
    leaves the list as it was, and only the counts are read again."""
    seen = cache.seen()

    async def load_and_count() -> posts.PostPage:
        listing = await load()
        cache.put(("counts", key), listing.counts, seen, likes=True)
        return listing

    listing = await cache.fetch(key, load_and_count)
    counts = await cache.fetch(
        ("counts", key), lambda: posts.like_counts(db, listing.ids), likes=True
    )
    return listing.with_counts(counts)


async def liked_among(
    db: DbSession, cache: Cache, visitor: Visitor, key: Hashable, listing: posts.PostPage
) -> set[int]:
    """Which posts of a cached list the visitor likes. A like changes the post's
    count, which moves the likes version, so the answer is kept until then."""
    if visitor.user_id is None or not listing.posts:
        return set()
    return await cache.fetch(
        ("liked", visitor.user_id, key),
        lambda: votes.liked_ids(db, user_id=visitor.user_id, post_ids=listing.ids),
        likes=True,
    )


def post_form(
    request: Request,
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
async def new_post(request: Request, user: CurrentUser) -> Response:
    return post_form(request, post=None, values={"title": "", "content": "", "published": True})


@router.post("/posts")
async def create_post(
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
    post = await posts.create_post(db, owner=user, data=data)
    flash(request, "Your post is published." if post.published else "Your draft is saved.")
    return redirect(f"/posts/{post.id}")


@router.get("/posts/{post_id:int}")
async def show_post(
    request: Request, post_id: int, db: DbSession, visitor: VisitorDep, cache: Cache
) -> Response:
    async def build() -> Response:
        # Published posts are shared by everyone; a draft is read for its owner alone.
        key = ("post", post_id)
        seen = cache.seen()

        async def load() -> PostPublic | None:
            found = await posts.find_visible_post(db, post_id, None)
            if found is not None:
                cache.put(("counts", key), {found.id: found.votes}, seen, likes=True)
            return found

        post = await cache.fetch(key, load)
        if post is None:
            post = await posts.get_visible_post(db, post_id, visitor.user_id)
        else:
            counts = await cache.fetch(
                ("counts", key), lambda: posts.like_counts(db, [post_id]), likes=True
            )
            post = posts.with_count(post, counts)
        liked = visitor.user_id is not None and post.id in await cache.fetch(
            ("liked", visitor.user_id, key),
            lambda: votes.liked_ids(db, user_id=visitor.user_id, post_ids=[post.id]),
            likes=True,
        )
        is_owner = visitor.user_id == post.owner_id
        return render(
            request, "posts/show.html", {"post": post, "liked": liked, "is_owner": is_owner}
        )

    return await shared_page(request, build)


@router.get("/posts/{post_id:int}/edit")
async def edit_post(request: Request, post_id: int, db: DbSession, user: CurrentUser) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    values = {"title": post.title, "content": post.content, "published": post.published}
    return post_form(request, post=post, values=values)


@router.post("/posts/{post_id:int}/edit")
async def update_post(
    request: Request,
    post_id: int,
    db: DbSession,
    user: CurrentUser,
    title: FormText = "",
    content: FormText = "",
    published: Checkbox = None,
) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    data, values, errors = validated(title, content, published)
    if data is None:
        return post_form(request, post=post, values=values, errors=errors, status_code=422)
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
    post = await posts.get_visible_post(db, post_id, user.id)
    if dir == "1":
        await votes.add(db, post_id=post.id, user_id=user.id)
        liked = True
    elif dir == "0":
        await votes.remove(db, post_id=post.id, user_id=user.id)
        liked = False
    else:
        liked = await votes.toggle(db, post_id=post.id, user_id=user.id)
    flash(request, "You like this post." if liked else "You no longer like this post.")
    return redirect(f"/posts/{post.id}")
