"""Notifications: who liked, commented on or followed what, newest first. The
unread ones a page shows are marked read as it is shown."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.core.paging import CountedPage
from webapp.rules import notifications, page_sizes
from webapp.rules.notifications import NotificationView
from webapp.web.deps import CurrentUser, VisitorDep
from webapp.web.pages import flash, page_number, redirect, render

router = area_router()


@router.get("/notifications")
async def show_notifications(
    request: Request, db: DbSession, visitor: VisitorDep, user: CurrentUser, page: str = "1"
) -> Response:
    number = page_number(page)
    shown = await notifications.list_for(
        db, user.id, offset=(number - 1) * page_sizes.NOTIFICATIONS, limit=page_sizes.NOTIFICATIONS
    )
    total = await notifications.count_for(db, user.id)
    listing = NotificationPage(shown, number, page_sizes.NOTIFICATIONS, total)
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


class NotificationPage(CountedPage[NotificationView]):
    @property
    def notifications(self) -> list[NotificationView]:
        return self.items
