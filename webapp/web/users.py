"""Profiles: a person's name, when they joined, and what they have written."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import Response

from webapp import users
from webapp.deps import DbSession, VisitorDep, protect_form
from webapp.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(protect_form)])


@router.get("/users/{user_id:int}")
def profile(request: Request, user_id: int, db: DbSession, visitor: VisitorDep) -> Response:
    user = users.get_user(db, user_id)
    if user is None:
        raise HTTPException(404)
    return render(request, "users/profile.html", {"profile": user})
