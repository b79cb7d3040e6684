"""The API's reads answered before routing (`webapp.core.direct_reads`): one
post, one user, for callers without a token (a caller with one, or with a
query, is answered by the routes through their declared dependencies)."""

from __future__ import annotations

from starlette.responses import Response

from webapp.api import posts, users
from webapp.core.direct_reads import Call, DirectRoute, id_path


async def _post(call: Call, post_id: int) -> Response:
    return await posts.get_post(call.db, None, post_id)


async def _user(call: Call, user_id: int) -> Response:
    return await users.get_user(call.db, None, user_id)


ROUTES = (
    DirectRoute(id_path("/api/posts/"), _post, "/api/posts/{post_id}", plain=True),
    DirectRoute(id_path("/api/users/"), _user, "/api/users/{user_id}", plain=True),
)
