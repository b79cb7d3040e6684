"""Tags: the popular ones with their counts, and each tag's published posts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import TypeAdapter
from starlette.responses import Response

from webapp.api.deps import (
    BAD_TOKEN_SENT,
    OPTIONAL_AUTH,
    Limit,
    OptionalApiUser,
    Responses,
    SearchQuery,
    Skip,
    SortQuery,
    WindowQuery,
    error,
)
from webapp.api.posts import POSTS_JSON, json_response
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.models import PostPublic, TagCount
from webapp.rules import page_sizes, posts, search_query
from webapp.rules import search as search_rules

router = area_router(prefix="/tags", tags=["tags"])

TAGS_JSON = TypeAdapter(list[TagCount])
TAG_NOT_FOUND: Responses = {404: error("A name that cannot be a tag")}
TagName = Annotated[
    str,
    Path(description="1–50 letters, digits or _, starting with a letter; compared case-folded"),
]


@router.get("", response_model=list[TagCount], summary="The popular tags")
async def popular_tags(
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100, description="How many, 1–100")] = (
        posts.POPULAR_TAGS
    ),
) -> Response:
    """The tags with the most published posts in the last 30 days, most first,
    each with that count."""
    return json_response(TAGS_JSON, await posts.popular_tags(db, limit=limit))


@router.get(
    "/{tag}/posts",
    response_model=list[PostPublic],
    summary="A tag's published posts, in order",
    responses={**TAG_NOT_FOUND, **BAD_TOKEN_SENT},
    openapi_extra=OPTIONAL_AUTH,
)
async def tag_posts(
    db: DbSession,
    viewer: OptionalApiUser,
    tag: TagName,
    limit: Limit = page_sizes.API_POSTS,
    skip: Skip = 0,
    search: SearchQuery = "",
    sort: SortQuery = "",
    t: WindowQuery = "",
) -> Response:
    """As `GET /api/posts`, for the posts carrying the tag (a name in another
    letter case or width means the same tag), `search` included. A tag no
    post carries is an empty list. With a token, the posts of the people the
    caller blocks or mutes are left out."""
    tagged = posts.tag_named(tag)
    query = search_query.parse(search)
    found = await search_rules.list_posts(
        db,
        query,
        offset=skip,
        limit=limit,
        order=search_rules.order_of(query, sort, t),
        scope=search_rules.Scope(
            tag=tagged, unlisted=viewer.shield.unlisted if viewer else posts.NOBODY
        ),
    )
    return json_response(POSTS_JSON, found)
