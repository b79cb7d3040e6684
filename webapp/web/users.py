"""Profiles: a person's name, when they joined, and what they have written."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from webapp import posts, users
from webapp.core.deps import Cache, DbSession
from webapp.web.deps import VisitorDep
from webapp.web.listing import counted_list, liked_among, post_cards, shared_page
from webapp.web.pages import PER_PAGE, page_number, render

router = APIRouter()


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
        # UserNotFound (404) is not kept: a new account may take the id.
        person = await cache.fetch(("person", user_id), lambda: users.get_public_user(db, user_id))
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
        liked = await liked_among(db, cache, visitor, key, listing.ids)
        cards = post_cards(
            request, listing.posts, liked, key=None if is_owner else key, seen=seen, show_draft=True
        )
        context = {"profile": person, "listing": listing, "cards": cards, "is_owner": is_owner}
        return render(request, visitor, "users/profile.html", context)

    return await shared_page(request, visitor, build)
