"""Profiles: a person's name, when they joined, and what they have written."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import Response

from webapp import posts, users, votes
from webapp.deps import DbSession, OptionalUser, protect_form
from webapp.templating import render
from webapp.web.posts import PER_PAGE, page_number

router = APIRouter(include_in_schema=False, dependencies=[Depends(protect_form)])


@router.get("/users/{user_id:int}")
def profile(
    request: Request, user_id: int, db: DbSession, viewer: OptionalUser, page: str = "1"
) -> Response:
    user = users.get_user(db, user_id)
    if user is None:
        raise HTTPException(404)
    listing = posts.owner_page(
        db, owner=user, viewer=viewer, page=page_number(page), per_page=PER_PAGE
    )
    liked = votes.liked_ids(db, user=viewer, post_ids=[post.id for post in listing.posts])
    is_owner = viewer is not None and viewer.id == user.id
    context = {"profile": user, "listing": listing, "liked": liked, "is_owner": is_owner}
    return render(request, "users/profile.html", context)
