"""Posts: the published list and search, one post, writing, changing, deleting.

Who may see and change a post is decided in `webapp.rules.posts` (the pages ask the
same functions); its PostNotFound and NotOwner become 404 and 403 in
`webapp.errors`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Body, Request
from pydantic import TypeAdapter
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.api.deps import (
    BAD_TOKEN_SENT,
    FORBIDDEN,
    NOT_CONFIRMED,
    OPTIONAL_AUTH,
    POST_NOT_FOUND,
    UNAUTHORIZED,
    UNREADABLE_BODY,
    ApiUser,
    ApiWriter,
    BearerToken,
    Limit,
    OptionalApiUser,
    Responses,
    SearchQuery,
    Skip,
    SortQuery,
    WindowQuery,
    error,
)
from webapp.api.paths import PostId
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, Store, get_media_store, services_of
from webapp.core.media_store import MediaStore
from webapp.core.responses import PlainJSON
from webapp.errors import PostNotFound
from webapp.models import PostCreate, PostPatch, PostPublic, UserPublic
from webapp.rules import (
    callers,
    page_sizes,
    pictures,
    post_list,
    posts,
    roles,
    search_query,
)
from webapp.rules import search as search_rules

router = area_router(prefix="/posts", tags=["posts"])

T = TypeVar("T")


POST_EXAMPLES = {
    "published": {
        "summary": "A published post",
        "value": {"title": "Hello, Agora", "content": "My first post.", "published": True},
    },
    "draft": {
        "summary": "A draft, seen by its owner alone",
        "value": {"title": "Not yet", "content": "Still thinking.", "published": False},
    },
}
PATCH_EXAMPLES = {
    "publish": {"summary": "Publish a draft", "value": {"published": True}},
    "retitle": {"summary": "Change the title only", "value": {"title": "A better title"}},
}
# The reads answer with their JSON, made once by the model's serializer: a
# route that returns values has FastAPI check them against `response_model`
# again first. The declared `response_model` still gives the documented schema,
# and the bytes are the ones FastAPI would send.
POST_JSON = TypeAdapter(PostPublic)
POSTS_JSON = TypeAdapter(list[PostPublic])
# The plain list's items (`post_list.as_item`): what POSTS_JSON makes of its posts.
ITEMS_JSON = TypeAdapter(list[dict[str, Any]])


def json_response(adapter: TypeAdapter[T], value: T, status_code: int = 200) -> Response:
    # The adapter's serializer called itself: `dump_json` is the same call
    # with every option spelled out at its default, in Python, on each answer.
    return PlainJSON(adapter.serializer.to_json(value, by_alias=True), status_code)


TOO_MANY_POSTS: Responses = {
    429: error(
        "The caller wrote `POSTS_PER_HOUR` posts within the last hour",
        {"Retry-After": "Seconds until one more may be written"},
    )
}
CHANGE_ERRORS: Responses = {**UNAUTHORIZED, **FORBIDDEN, **POST_NOT_FOUND}
WRITE_ERRORS: Responses = {**UNREADABLE_BODY, **CHANGE_ERRORS}


@router.get(
    "",
    response_model=list[PostPublic],
    summary="Published posts, in order",
    responses=BAD_TOKEN_SENT,
    openapi_extra=OPTIONAL_AUTH,
)
async def list_posts(
    db: DbSession,
    viewer: OptionalApiUser,
    limit: Limit = page_sizes.API_POSTS,
    skip: Skip = 0,
    search: SearchQuery = "",
    sort: SortQuery = "",
    t: WindowQuery = "",
) -> Response:
    """Drafts are never listed, not even the caller's. `search` works as on the
    home page (words in any form, `"phrases"`, `-exclusions`, `OR`, `#tag`,
    `@name`; the first 10 words and 200 characters count), most relevant
    first unless `sort=new`. With a token, the posts of the people the caller
    blocks or mutes are left out."""
    query = search_query.parse(search)
    order = search_rules.order_of(query, sort, t)
    unlisted = viewer.shield.unlisted if viewer else posts.NOBODY
    if not query.given and order.newest and not unlisted:
        # The plain list: its rows go to JSON as they come (`post_list`).
        return json_response(ITEMS_JSON, await post_list.newest(db, offset=skip, limit=limit))
    found = await search_rules.list_posts(
        db,
        query,
        offset=skip,
        limit=limit,
        order=order,
        scope=search_rules.Scope(unlisted=unlisted),
    )
    return json_response(POSTS_JSON, found)


@router.get(
    "/{post_id:id}",
    response_model=PostPublic,
    summary="One post",
    responses={**POST_NOT_FOUND, **BAD_TOKEN_SENT},
    openapi_extra=OPTIONAL_AUTH,
)
async def get_post(db: DbSession, viewer: OptionalApiUser, post_id: PostId) -> Response:
    """Anyone may read a published post; a draft, its owner alone (to anyone
    else it is a 404). A token is optional here, but one that is sent and does
    not hold is a 401. A post by someone the caller blocks is a 404 to them."""
    post = await posts.get_visible_post(
        db,
        post_id,
        viewer.id if viewer else None,
        moderator=viewer is not None and roles.moderates(viewer.role),
    )
    if viewer is not None and viewer.shield.hides_post_of(post.owner_id):
        raise PostNotFound
    return json_response(POST_JSON, post)


@router.post(
    "",
    response_model=PostPublic,
    status_code=201,
    summary="Write a post",
    responses={**UNREADABLE_BODY, **UNAUTHORIZED, **NOT_CONFIRMED, **TOO_MANY_POSTS},
)
async def create_post(
    request: Request,
    token: BearerToken,
    store: Store,
    data: Annotated[PostCreate, Body(openapi_examples=POST_EXAMPLES)],
) -> Response:
    """`published` is true when left out. `POSTS_PER_HOUR` posts an hour at
    most (pages and API together)."""
    return await write_post(request, token, data, store)


async def write_post(
    request: Request, token: str | None, data: PostCreate, store: MediaStore | None = None
) -> Response:
    """`create_post`'s work; the store of pictures is made only for a post
    that has some (`store` None: not made yet)."""
    per_hour = services_of(request.app).settings.posts_per_hour
    async with ApiWriter(request, token, session=bool(data.media_ids)) as (db, caller):
        owner: UserPublic | callers.Caller = caller
        if data.media_ids:
            assert isinstance(db, AsyncSession)  # asked for: `session`
            owner = await callers.check(db, caller)  # before the pictures are looked at
            await pictures.check_usable(db, owner_id=caller.id, media_ids=data.media_ids)
        post = await posts.create_post(db, owner=owner, data=data, per_hour=per_hour)
        if data.media_ids:
            assert isinstance(db, AsyncSession)
            store = store or await get_media_store(request)
            await pictures.set_post_media(
                db, store, owner_id=caller.id, post_id=post.id, media_ids=data.media_ids
            )
            post = await posts.get_visible_post(db, post.id, caller.id)
    return json_response(POST_JSON, post, 201)


async def change(
    db: DbSession, store: MediaStore, user_id: int, post: PostPublic, data: PostCreate | PostPatch
) -> PostPublic:
    """A post changed, and its pictures when `media_ids` was sent."""
    media_ids = data.media_ids
    if media_ids is not None:
        await pictures.check_usable(db, owner_id=user_id, media_ids=media_ids, post_id=post.id)
    updated = await posts.update_post(db, post=post, data=data)
    if media_ids is not None and media_ids != [picture.id for picture in post.media]:
        await pictures.set_post_media(
            db, store, owner_id=user_id, post_id=post.id, media_ids=media_ids
        )
        updated = await posts.get_visible_post(db, post.id, user_id)
    return updated


@router.put(
    "/{post_id:id}", response_model=PostPublic, summary="Replace a post", responses=WRITE_ERRORS
)
async def replace_post(
    db: DbSession,
    user: ApiUser,
    post_id: PostId,
    data: Annotated[PostCreate, Body(openapi_examples=POST_EXAMPLES)],
    store: Store,
) -> PostPublic:
    """Every field is set; a `published` left out becomes true; `media_ids`
    left out keeps the pictures."""
    post = await posts.get_own_post(db, post_id, user.id)
    return await change(db, store, user.id, post, data)


@router.patch(
    "/{post_id:id}", response_model=PostPublic, summary="Change a post", responses=WRITE_ERRORS
)
async def patch_post(
    db: DbSession,
    user: ApiUser,
    post_id: PostId,
    data: Annotated[PostPatch, Body(openapi_examples=PATCH_EXAMPLES)],
    store: Store,
) -> PostPublic:
    """Only the fields sent change. A field may be left out, but not sent as
    null (422)."""
    post = await posts.get_own_post(db, post_id, user.id)
    return await change(db, store, user.id, post, data)


@router.delete(
    "/{post_id:id}",
    response_model=None,  # 204: no body at all
    status_code=204,
    summary="Delete a post",
    responses=CHANGE_ERRORS,
)
async def delete_post(db: DbSession, store: Store, user: ApiUser, post_id: PostId) -> None:
    """Its likes and pictures go with it."""
    await pictures.delete_post(db, store, await posts.get_own_post(db, post_id, user.id))
