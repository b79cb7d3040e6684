"""Profiles: a person's name, when they joined, and what they have written."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import Response

from webapp import posts, users
from webapp.deps import Cache, DbSession, VisitorDep, protect_form
from webapp.models import UserPublic
from webapp.templating import post_cards, render, shared_page
from webapp.web.posts import PER_PAGE, liked_among, page_number

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
    seen = cache.seen()

    async def load() -> tuple[UserPublic | None, posts.PostPage | None]:
        person = await users.get_public_user(db, user_id)
        if person is None:
            return None, None
        # The owner also sees their drafts; everyone else sees the same page.
        listing = await posts.owner_page(
            db,
            owner_id=user_id,
            viewer_id=visitor.user_id if is_owner else None,
            page=number,
            per_page=PER_PAGE,
        )
        if not is_owner:
            cache.put(("counts", key), listing.counts, seen, likes=True)
        return person, listing

    async def build() -> Response:
        if is_owner:
            person, listing = await load()
        else:
            person, listing = await cache.fetch(key, load)
        if person is None or listing is None:
            raise HTTPException(404)
        if not is_owner:
            counts = await cache.fetch(
                ("counts", key), lambda: posts.like_counts(db, listing.ids), likes=True
            )
            listing = listing.with_counts(counts)
        liked = await liked_among(db, cache, visitor, key, listing)
        if is_owner:  # their drafts are among them: theirs alone
            cards = post_cards(request, listing.posts, liked, key=None, seen=seen, show_draft=True)
        else:
            cards = post_cards(request, listing.posts, liked, key=key, seen=seen)
        context = {"profile": person, "listing": listing, "cards": cards, "is_owner": is_owner}
        return render(request, "users/profile.html", context)

    return await shared_page(request, build)
