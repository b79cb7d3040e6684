"""Profiles: a person's name, when they joined, whom they follow and who
follows them, and what they have written (`webapp.web.profile_page`)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.web.cache_policy import Pages
from webapp.web.deps import VisitorDep
from webapp.web.profile_page import profile_page
from webapp.web.shared_pages import shared_page

router = area_router()


@router.get("/users/{user_id:id}")
async def profile(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    pages: Pages,
    page: str = "1",
    q: str = "",
    sort: str = "",
) -> Response:
    return await shared_page(
        request,
        visitor,
        pages,
        lambda: profile_page(request, db, visitor, pages, user_id, page, q=q, sort=sort),
    )
