"""The pages: one router for all of them, and it checks the CSRF token of
every unsafe request before any page route runs, so a new page area cannot
forget to. The twin of `webapp.api.routes`. (/healthz is not a page: it
reads no cookie and takes no form, `webapp.web.health`.)"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from webapp.web import (
    admin,
    auth,
    comments,
    feeds,
    follows,
    media,
    moderation,
    notifications,
    password_reset,
    posts,
    profiles,
    reports,
    safety,
    search,
    settings,
    tags,
)
from webapp.web.deps import protect_form

router = APIRouter(include_in_schema=False, dependencies=[Depends(protect_form)])
# Matched in this order: the busiest pages first.
for area in (
    posts,
    comments,
    profiles,
    tags,
    search,
    follows,
    notifications,
    auth,
    password_reset,
    settings,
    safety,
    reports,
    moderation,
    admin,
    feeds,
    media,
):
    router.include_router(area.router)
