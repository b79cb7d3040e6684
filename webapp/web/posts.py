"""Pages for posts: the feed and search, a post with its comments, the
write/edit/delete forms, likes."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import HTMLResponse, JSONResponse, Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, PictureFormDep, SettingsDep, Store, services_of
from webapp.core.uploads import PictureForm
from webapp.errors import PictureRefused, PostNotFound, TooManyPosts
from webapp.models import MAX_ID, PICTURES_MAX, PostCreate, PostPublic
from webapp.rules import likes, page_sizes, pictures, posts, search, search_query
from webapp.web import cache_policy
from webapp.web.cache_policy import Pages
from webapp.web.deps import ConfirmedUser, CurrentUser, Visitor, VisitorDep
from webapp.web.listing import feed
from webapp.web.pages import (
    FormText,
    field_errors,
    flash,
    page_number,
    redirect,
    render,
    safe_next,
    serves_anonymous_page,
)
from webapp.web.post_page import post_page
from webapp.web.search_pages import search_pages
from webapp.web.shared_pages import shared_page

router = area_router()


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
    query = search_query.parse(q)
    number = page_number(page)
    order = search.order_of(query, sort, t)
    shield = visitor.shield
    kept = cache_policy.feed(number, query.key, order, shield.key)

    async def build() -> Response:
        seen = pages.seen()
        listing, cards = await feed(
            request,
            db,
            pages,
            visitor,
            kept,
            lambda: search.list_page(
                db,
                query,
                page=number,
                per_page=page_sizes.POSTS,
                order=order,
                scope=search.Scope(unlisted=shield.unlisted),
            ),
            seen,
        )
        if query.given and serves_anonymous_page(request, visitor):
            made = search_pages(services_of(request.app).templates)
            html = made.page(
                "home.html", query=query.text, listing=listing, cards=cards, order=order
            )
            return HTMLResponse(html)
        context = {
            "listing": listing,
            "cards": cards,
            "search_query": query.text,
            "searching": query.given,
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
    removed: frozenset[int] = frozenset(),
) -> Response:
    kept = [picture for picture in (post.media if post else []) if picture.id not in removed]
    context = {
        "post": post,
        "values": values,
        "errors": errors or {},
        "preview": preview,
        "pictures": post.media if post else [],
        "removed": removed,
        "free_slots": max(0, PICTURES_MAX - len(kept)),
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


def new_pictures(form: PictureForm, keeping: int) -> tuple[list[tuple[Path, str]], dict[str, str]]:
    """The pictures a post form sends (each file with the alt text in the same
    place), and the errors of their count and alt texts. A file input left
    empty (no name, no bytes) is no picture."""
    alts = form.fields.getlist("alt")
    files: list[tuple[Path, str]] = []
    errors: dict[str, str] = {}
    for index, upload in enumerate(form.uploads("images")):
        if not upload.filename and not upload.size:
            continue
        alt = str(alts[index]) if index < len(alts) else ""
        try:
            pictures.alt_text(alt)
        except PictureRefused as error:
            errors.setdefault("alt", error.detail)
        files.append((upload.path, alt))
    if keeping + len(files) > PICTURES_MAX:
        errors["images"] = f"A post holds at most {PICTURES_MAX} pictures."
    return files, errors


def form_text(form: PictureForm, name: str) -> str:
    value = form.fields.get(name)
    return value if isinstance(value, str) else ""


def checkbox(form: PictureForm, name: str) -> str | None:
    value = form.fields.get(name)
    return value if isinstance(value, str) else None


@router.post("/posts")
async def create_post(
    request: Request,
    db: DbSession,
    store: Store,
    visitor: VisitorDep,
    user: ConfirmedUser,
    settings: SettingsDep,
    form: PictureFormDep,
) -> Response:
    data, values, errors = validated(
        form_text(form, "title"), form_text(form, "content"), checkbox(form, "published")
    )
    files, picture_errors = new_pictures(form, 0)
    errors.update(picture_errors)
    if data is None or errors:
        return post_form(request, visitor, post=None, values=values, errors=errors, status_code=422)
    try:
        added = await pictures.upload_all(db, store, user.id, files, "images")
    except PictureRefused as error:
        errors[error.field] = error.detail
        return post_form(request, visitor, post=None, values=values, errors=errors, status_code=422)
    try:
        post = await posts.create_post(db, owner=user, data=data, per_hour=settings.posts_per_hour)
    except TooManyPosts as refused:
        # Its pictures are not kept; the form again, as typed, with the wait above it.
        await pictures.drop_unattached(db, store, user.id, [picture.id for picture in added])
        return post_form(
            request,
            visitor,
            post=None,
            values=values,
            errors={"form": refused.detail},
            status_code=refused.status_code,
            headers=refused.headers,
        )
    if added:
        ids = [picture.id for picture in added]
        await pictures.set_post_media(db, store, owner_id=user.id, post_id=post.id, media_ids=ids)
    flash(request, "Your post is published." if post.published else "Your draft is saved.")
    return redirect(f"/posts/{post.id}")


@router.post("/posts/preview")
async def preview_post(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    user: CurrentUser,
    form: PictureFormDep,
) -> Response:
    """The form again, filled in as it was sent, with the post rendered above
    it: nothing is saved. From the edit form (`post_id`), the form still saves
    that post."""
    title, content = form_text(form, "title"), form_text(form, "content")
    published, post_id = checkbox(form, "published"), form_text(form, "post_id")
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
    store: Store,
    visitor: VisitorDep,
    user: CurrentUser,
    form: PictureFormDep,
) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    data, values, errors = validated(
        form_text(form, "title"), form_text(form, "content"), checkbox(form, "published")
    )
    removed = frozenset(
        picture.id
        for picture in post.media
        if str(picture.id) in form.fields.getlist("remove_media")
    )
    kept = [picture.id for picture in post.media if picture.id not in removed]
    files, picture_errors = new_pictures(form, len(kept))
    errors.update(picture_errors)

    def again(errors: dict[str, str]) -> Response:
        return post_form(
            request,
            visitor,
            post=post,
            values=values,
            errors=errors,
            status_code=422,
            removed=removed,
        )

    if data is None or errors:
        return again(errors)
    try:
        added = await pictures.upload_all(db, store, user.id, files, "images")
    except PictureRefused as error:
        return again({**errors, error.field: error.detail})
    await posts.update_post(db, post=post, data=data)
    ids = kept + [picture.id for picture in added]
    if ids != [picture.id for picture in post.media]:
        await pictures.set_post_media(db, store, owner_id=user.id, post_id=post.id, media_ids=ids)
    flash(request, "Your changes are saved.")
    return redirect(f"/posts/{post.id}")


@router.post("/posts/{post_id:id}/delete")
async def delete_post(
    request: Request, post_id: int, db: DbSession, store: Store, user: CurrentUser
) -> Response:
    post = await posts.get_own_post(db, post_id, user.id)
    await pictures.delete_post(db, store, post)
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
