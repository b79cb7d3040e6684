"""The search page: the people whose names hold a word of the query, then
the posts that match it, as the home page finds them."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.rules import page_sizes, search, search_query
from webapp.web import cache_policy
from webapp.web.cache_policy import Pages
from webapp.web.deps import VisitorDep
from webapp.web.listing import feed
from webapp.web.pages import page_number, render
from webapp.web.shared_pages import shared_page

router = area_router()


@router.get("/search")
async def search_page(
    request: Request,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    q: str = "",
    page: str = "1",
    sort: str = "",
) -> Response:
    """Up to 5 people on the first page, then the posts: the home page's
    search, its order and its pages. Without a query, the form alone."""
    query = search_query.parse(q)
    number = page_number(page)
    order = search.order_of(query, sort, None)
    shield = visitor.shield
    kept = cache_policy.feed(number, query.key, order, shield.key)

    async def build() -> Response:
        seen = pages.seen()
        people = []
        listing = None
        cards = None
        if query.given:
            if number == 1:
                people = await pages.fetch(
                    cache_policy.people_found(query.key, shield.key),
                    lambda: search.people(db, query, unlisted=shield.unlisted),
                )
            listing, cards = await feed(
                request,
                db,
                pages,
                visitor,
                kept,
                lambda: search.results_page(
                    db,
                    query,
                    page=number,
                    per_page=page_sizes.POSTS,
                    order=order,
                    scope=search.Scope(unlisted=shield.unlisted),
                ),
                seen,
            )
        context = {
            "people": people,
            "listing": listing,
            "cards": cards,
            "search_query": query.text,
            "searching": query.given,
            "order": order,
            "feed_route": "search_page",
        }
        return render(request, visitor, "search.html", context)

    return await shared_page(request, visitor, pages, build)
