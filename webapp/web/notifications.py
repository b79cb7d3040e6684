"""Notifications: who liked, commented on or followed what, newest first. The
unread ones a page shows are marked read as it is shown."""

from __future__ import annotations

from dataclasses import dataclass, replace

from fastapi import APIRouter, Request
from starlette.responses import Response

from webapp import notifications
from webapp.core.deps import DbSession
from webapp.notifications import NotificationView
from webapp.web.deps import CurrentUser, VisitorDep
from webapp.web.pages import PER_PAGE, flash, page_number, redirect, render

router = APIRouter()


@router.get("/notifications")
async def show_notifications(
    request: Request, db: DbSession, visitor: VisitorDep, user: CurrentUser, page: str = "1"
) -> Response:
    number = page_number(page)
    shown = await notifications.list_for(
        db, user.id, offset=(number - 1) * PER_PAGE, limit=PER_PAGE
    )
    listing = NotificationPage(shown, number, await notifications.count_for(db, user.id))
    unread = [item.id for item in shown if not item.read]
    await notifications.mark_read(db, user.id, unread)
    # The header's count was read with the session, a moment ago: these are read now.
    visitor = replace(visitor, unread=max(0, visitor.unread - len(unread)))
    context = {"listing": listing, "current_nav": "notifications"}
    return render(request, visitor, "notifications.html", context)


@router.post("/notifications/read")
async def mark_all_read(request: Request, db: DbSession, user: CurrentUser) -> Response:
    await notifications.mark_read(db, user.id)
    flash(request, "All your notifications are marked read.")
    return redirect("/notifications")


@dataclass(frozen=True)
class NotificationPage:
    """One page of notifications, and what the pager may link to."""

    notifications: list[NotificationView]
    page: int
    total: int
    per_page: int = PER_PAGE
    more = False  # the pager's look-ahead flag: this list is counted

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def past_end(self) -> bool:
        return not self.notifications and self.page > 1
