"""The API's reads answered before routing (`webapp.core.direct_reads`): one
post, one user, a page of the posts, for callers without a token (a caller
with one, or with another query, is answered by the routes through their
declared dependencies). And the writes clients send most, a like and a new
post, whose routes read their token themselves (`ApiWriter`): called here
with a body their model takes, and the token as the route's dependency reads
it (`bearer_token`)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from webapp.api import likes, posts, users
from webapp.api.deps import MAX_LIMIT, MAX_SKIP, bearer_token
from webapp.core.direct_reads import BodyValidator, Call, DirectRoute, DirectWrite, id_path
from webapp.models import PostCreate, VoteCreate
from webapp.rules import page_sizes


async def _post(call: Call, post_id: int) -> Response:
    return await posts.get_post(call.db, None, post_id)


async def _posts(call: Call, _: int) -> Response:
    numbers = call.numbers  # read by the route's pattern (`numbers` below)
    return await posts.list_posts(
        call.db, None, numbers.get("limit", page_sizes.API_POSTS), numbers.get("skip", 0)
    )


async def _user(call: Call, user_id: int) -> Response:
    return await users.get_user(call.db, None, user_id)


ROUTES = (
    DirectRoute(
        re.compile("/api/posts"),
        _posts,
        "/api/posts",
        plain=True,
        numbers={"limit": range(1, MAX_LIMIT + 1), "skip": range(MAX_SKIP + 1)},
    ),
    DirectRoute(id_path("/api/posts/"), _post, "/api/posts/{post_id}", plain=True),
    DirectRoute(id_path("/api/users/"), _user, "/api/users/{user_id}", plain=True),
)


async def _vote(request: Request, data: VoteCreate) -> Response:
    return await likes.vote(request, bearer_token(request.scope), data)


async def _new_post(request: Request, data: PostCreate) -> Response:
    return await posts.write_post(request, bearer_token(request.scope), data)


WRITES = (
    DirectWrite("/api/vote", BodyValidator(VoteCreate), _vote, "/api/vote"),
    DirectWrite("/api/posts", BodyValidator(PostCreate), _new_post, "/api/posts"),
)
