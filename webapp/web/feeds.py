"""Atom feeds of the site and of each person (`webapp.web.atom`), kept in the
page cache until a post changes, and answered with `304` when the reader
already has them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, SettingsDep
from webapp.rules import feeds, markup, posts
from webapp.web import atom
from webapp.web.cache_policy import Kept, Pages

router = area_router()


async def _answer(
    request: Request, pages: Pages, kept: Kept, build: Callable[[], Awaitable[atom.Feed]]
) -> Response:
    # The document is the same for everyone: no counts, no visitor.
    feed = await pages.fetch(kept, build)
    if feed.unchanged_for(request.headers):
        return Response(status_code=304, headers=feed.headers())
    return Response(feed.body, media_type=atom.MEDIA_TYPE, headers=feed.headers())


@router.get("/feed.atom")
async def site_feed(
    request: Request, db: DbSession, pages: Pages, settings: SettingsDep
) -> Response:
    site = settings.public_url

    async def build() -> atom.Feed:
        return atom.build(
            title="Agora",
            feed_url=f"{site}/feed.atom",
            page_url=f"{site}/",
            site_url=site,
            entries=await feeds.site_entries(db),
        )

    return await _answer(request, pages, Kept(("atom", "site", site)), build)


@router.get("/users/{user_id:id}/feed.atom")
async def person_feed(
    request: Request, user_id: int, db: DbSession, pages: Pages, settings: SettingsDep
) -> Response:
    site = settings.public_url

    async def build() -> atom.Feed:
        name, entries = await feeds.person_entries(db, user_id)
        return atom.build(
            title=f"{name} on Agora",
            feed_url=f"{site}/users/{user_id}/feed.atom",
            page_url=f"{site}/users/{user_id}",
            site_url=site,
            entries=entries,
        )

    return await _answer(request, pages, Kept(("atom", "person", user_id, site)), build)


@router.get("/tags/{name}/feed.atom")
async def tag_feed(
    request: Request, name: str, db: DbSession, pages: Pages, settings: SettingsDep
) -> Response:
    tag = posts.tag_named(name)  # TagNotFound (404) for a name no tag can have
    site = settings.public_url
    tag_path = markup.tag_path(tag)

    async def build() -> atom.Feed:
        return atom.build(
            title=f"#{tag} on Agora",
            feed_url=f"{site}{tag_path}/feed.atom",
            page_url=f"{site}{tag_path}",
            site_url=site,
            entries=await feeds.tag_entries(db, tag),
        )

    return await _answer(request, pages, Kept(("atom", "tag", tag, site)), build)
