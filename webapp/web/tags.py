"""Tag pages: the popular tags, and each tag's posts, paged and searched as
the home page is (and kept in the page cache as it is)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.rules import markup, page_sizes, posts, search, search_query
from webapp.web import cache_policy
from webapp.web.cache_policy import Pages
from webapp.web.deps import VisitorDep
from webapp.web.listing import feed
from webapp.web.pages import page_number, render
from webapp.web.shared_pages import shared_page

router = area_router()


@router.get("/tags")
async def popular_tags(
    request: Request, db: DbSession, visitor: VisitorDep, pages: Pages
) -> Response:
    kept = cache_policy.popular_tags()

    async def build() -> Response:
        popular = await pages.fetch(kept, lambda: posts.popular_tags(db))
        context = {"tags": popular, "days": posts.POPULAR_DAYS, "current_nav": "tags"}
        return render(request, visitor, "tags/index.html", context)

    return await shared_page(request, visitor, pages, build)


@router.get("/tags/{name}")
async def tag_posts(
    request: Request,
    name: str,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    page: str = "1",
    q: str = "",
    sort: str = "",
    t: str = "",
) -> Response:
    tag = posts.tag_named(name)
    if tag != name:  # one address for each tag: the folded name
        query = request.url.query
        return RedirectResponse(
            markup.tag_path(tag) + (f"?{query}" if query else ""), status_code=301
        )
    searched = search_query.parse(q)
    number = page_number(page)
    order = search.order_of(searched, sort, t)
    shield = visitor.shield
    kept = cache_policy.tag_feed(tag, number, searched.key, order, shield.key)

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
                searched,
                page=number,
                per_page=page_sizes.POSTS,
                order=order,
                scope=search.Scope(tag=tag, unlisted=shield.unlisted),
            ),
            seen,
        )
        context = {
            "order": order,
            "listing": listing,
            "cards": cards,
            "search_query": searched.text,
            "searching": searched.given,
            "tag": tag,
            "feed_url": "/tags/" + quote(tag, safe=""),
        }
        return render(request, visitor, "tags/show.html", context)

    return await shared_page(request, visitor, pages, build)
