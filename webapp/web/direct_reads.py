"""The pages answered before routing (`webapp.core.direct_reads`): a post and
a profile, the pages no cache can hold for every id, the home page, whose
searches (`/?q=`) are as many as the words people type, and the feed of the
people one follows, which only logged-in visitors read (the HTML cache keeps
no page of theirs). Each calls its route with the dependencies the route
declares, made here."""

from __future__ import annotations

import re

from starlette.responses import Response

from webapp.core.deps import services_of
from webapp.core.direct_reads import Call, DirectRoute, id_path
from webapp.web import follows, posts, profiles
from webapp.web.cache_policy import PageStore
from webapp.web.deps import get_visitor, require_user


def _pages(call: Call) -> PageStore:
    return PageStore(services_of(call.request.app).page_cache, call.session)


async def _post(call: Call, post_id: int) -> Response:
    visitor = await get_visitor(call.request, call.db)
    page = call.query("page", "1")
    return await posts.show_post(call.request, post_id, call.db, visitor, _pages(call), page)


async def _profile(call: Call, user_id: int) -> Response:
    visitor = await get_visitor(call.request, call.db)
    page = call.query("page", "1")
    q, sort = call.query("q", ""), call.query("sort", "")
    return await profiles.profile(
        call.request, user_id, call.db, visitor, _pages(call), page, q, sort
    )


async def _home(call: Call, _: int) -> Response:
    visitor = await get_visitor(call.request, call.db)
    page, q = call.query("page", "1"), call.query("q", "")
    sort, t = call.query("sort", ""), call.query("t", "")
    return await posts.home(call.request, call.db, visitor, _pages(call), page, q, sort, t)


async def _following(call: Call, _: int) -> Response:
    visitor = await get_visitor(call.request, call.db)
    user = await require_user(call.request, visitor)  # anyone else: off to log in
    page, q = call.query("page", "1"), call.query("q", "")
    sort, t = call.query("sort", ""), call.query("t", "")
    return await follows.following_feed(
        call.request, call.db, visitor, user, _pages(call), page, q, sort, t
    )


ROUTES = (
    DirectRoute(re.compile("/"), _home, "/"),
    DirectRoute(re.compile("/following"), _following, "/following"),
    DirectRoute(id_path("/posts/"), _post, "/posts/{post_id}"),
    DirectRoute(id_path("/users/"), _profile, "/users/{user_id}"),
)
