"""Profiles: a person's name, when they joined, and what they have written."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import Response

from webapp import posts, users
from webapp.deps import Cache, DbSession, VisitorDep, protect_form
from webapp.templating import post_cards, render, shared_page
from webapp.web.posts import PER_PAGE, counted_list, liked_among, page_number

router = APIRouter(include_in_schema=False, dependencies=[Depends(protect_form)])


@router.get("/users/{user_id:int}")
async def profile(
    request: Request,
    user_id: int,
    db: DbSession,
    visitor: VisitorDep,
    cache: Cache,
    page: str = "1",
) -> Response:
    number = page_number(page)
    is_owner = visitor.user_id == user_id
    key = ("profile", user_id, number)

    async def build() -> Response:
        seen = cache.seen()
        person = await cache.fetch(("person", user_id), lambda: users.get_public_user(db, user_id))
        if person is None:
            raise HTTPException(404)
        if is_owner:  # with their drafts: theirs alone, never kept
            listing = await posts.owner_page(
                db, owner_id=user_id, viewer_id=user_id, page=number, per_page=PER_PAGE
            )
        else:
            listing = await counted_list(
                db,
                cache,
                key,
                lambda: posts.owner_page(
                    db, owner_id=user_id, viewer_id=None, page=number, per_page=PER_PAGE
                ),
            )
        liked = await liked_among(db, cache, visitor, key, listing)
        cards = post_cards(
            request, listing.posts, liked, key=None if is_owner else key, seen=seen, show_draft=True
        )
        context = {"profile": person, "listing": listing, "cards": cards, "is_owner": is_owner}
        return render(request, "users/profile.html", context)

    return await shared_page(request, build)
