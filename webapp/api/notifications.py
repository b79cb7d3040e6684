"""Notifications: the caller's, newest first, and marking them all read.

They are written by the likes, comments and follows themselves
(`webapp.rules.notifications`); here they are only read and marked read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from webapp.api.deps import UNAUTHORIZED, ApiUser, Limit, Skip
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.models import NotificationPublic
from webapp.rules import notifications, page_sizes

router = area_router(prefix="/notifications", tags=["notifications"])


@router.get(
    "",
    response_model=list[NotificationPublic],
    summary="The caller's notifications, newest first",
    responses=UNAUTHORIZED,
)
async def list_notifications(
    db: DbSession,
    user: ApiUser,
    limit: Limit = page_sizes.NOTIFICATIONS,
    skip: Skip = 0,
    unread: Annotated[bool, Query(description="Only those not read yet")] = False,
) -> list[NotificationPublic]:
    """Someone liked one of the caller's posts (`like`), commented on one
    (`comment`) or followed them (`follow`). `post_id` is null for a follow,
    `comment_id` for all but a comment. Reading them does not mark them read."""
    found = await notifications.list_for(db, user.id, offset=skip, limit=limit, unread_only=unread)
    return [notification.public() for notification in found]


@router.post(
    "/read",
    response_model=None,  # 204: no body at all
    status_code=204,
    summary="Mark all the caller's notifications read",
    responses=UNAUTHORIZED,
)
async def mark_all_read(db: DbSession, user: ApiUser) -> None:
    await notifications.mark_read(db, user.id)
