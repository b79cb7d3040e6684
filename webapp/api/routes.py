"""The JSON API under /api: one router per area, and how /docs groups them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, get_route_path
from starlette.types import Receive, Scope, Send

from webapp.api import (
    comments,
    follows,
    likes,
    login,
    media,
    moderation,
    notifications,
    password_reset,
    posts,
    safety,
    tags,
    users,
)

DESCRIPTION = """\
Authenticate with `Authorization: Bearer <token>`, the token from `POST /api/login`.
Errors are `{"detail": "..."}`; a request that fails validation gets `422` with
`detail` listing each problem. A body over `MAX_BODY_BYTES` gets `413`.
"""

TAGS = [
    {"name": "users", "description": "Registering, profiles, and your own account."},
    {
        "name": "auth",
        "description": "Bearer tokens. Log in here (or with the **Authorize** button), then "
        "send `Authorization: Bearer <token>`. The session cookie is not read under /api.",
    },
    {"name": "posts", "description": "Published posts for everyone; drafts for their owner."},
    {
        "name": "tags",
        "description": "The `#tags` of posts: the popular ones, and each one's posts.",
    },
    {"name": "votes", "description": "Likes: one per person and post."},
    {
        "name": "following",
        "description": "Following people, the lists of who follows whom, and the feed of "
        "the posts of the people you follow.",
    },
    {"name": "comments", "description": "Comments on posts: a draft's are its owner's alone."},
    {
        "name": "notifications",
        "description": "Someone liked your post, commented on it, or followed you.",
    },
    {
        "name": "safety",
        "description": "Blocking and muting people: nobody is told.",
    },
    {
        "name": "moderation",
        "description": "Reports, the moderators' actions and the public moderation log.",
    },
    {
        "name": "media",
        "description": "Pictures for posts: upload one, then name it in a post's `media_ids`.",
    },
]


class MethodNotAllowed:
    """Answers every method a path does not take, naming all those it does.

    Starlette's own 405 names only the methods of the first route on the path,
    so `OPTIONS /api/posts` would say `Allow: GET` and hide POST.
    """

    def __init__(self, methods: set[str]) -> None:
        self.allow = ", ".join(sorted(methods))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise HTTPException(405, headers={"Allow": self.allow})


def add_method_not_allowed(area: APIRouter) -> None:
    methods: dict[str, set[str]] = {}
    for route in area.routes:
        if isinstance(route, APIRoute):
            methods.setdefault(route.path, set()).update(route.methods or ())
    # After the real routes, which match their own methods first. An ASGI
    # endpoint given no methods matches them all.
    for path, allowed in methods.items():
        area.routes.append(Route(path, MethodNotAllowed(allowed), include_in_schema=False))


router = APIRouter(prefix="/api")
# The writes that come most often first: each request tries the areas in turn.
for area in (
    likes,
    posts,
    tags,
    users,
    media,
    login,
    password_reset,
    follows,
    comments,
    notifications,
    moderation,
    safety,
):
    add_method_not_allowed(area.router)
    router.include_router(area.router)


class ApiFirst(BaseRoute):
    """The API's routes, matched before every page's: a request under /api
    goes straight to them instead of trying each page's pattern first (which
    cost an API request more than its own route's matching), and any other
    path is passed over at the cost of one prefix test. `api` is the API
    router as the app included it; it stays in the app's routes too, where
    the docs find it."""

    def __init__(self, api: BaseRoute) -> None:
        self.api = api

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if path.startswith("/api/") or path == "/api":
                return self.api.matches(scope)
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.api.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the app's own entry names them
