"""The admins' page of people: find someone by name and set their role.
Anyone but an admin gets 404; an admin cannot change their own role."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession
from webapp.errors import NotFound
from webapp.rules import roles
from webapp.web.deps import Visitor, VisitorDep
from webapp.web.pages import FormText, flash, page_number, redirect, render

router = area_router()


def admin_of(visitor: Visitor) -> int:
    if visitor.user is None or visitor.role != "admin":
        raise NotFound
    return visitor.user.id


@router.get("/admin/users")
async def admin_users(
    request: Request, db: DbSession, visitor: VisitorDep, q: str = "", page: str = "1"
) -> Response:
    admin_of(visitor)
    listing = await roles.people_page(db, query=q, page=page_number(page))
    context = {"listing": listing, "q": q, "roles": roles.ROLES, "errors": {}}
    return render(request, visitor, "admin/users.html", context)


@router.post("/admin/users/{user_id:id}/role")
async def set_role(
    request: Request, user_id: int, db: DbSession, visitor: VisitorDep, role: FormText = ""
) -> Response:
    admin_id = admin_of(visitor)
    person, _ = await roles.role_of(db, user_id)
    if role not in roles.ROLES:
        listing = await roles.people_page(db, query=person.username, page=1)
        errors = {"form": f"A role is one of: {', '.join(roles.ROLES)}."}
        context = {"listing": listing, "q": person.username, "roles": roles.ROLES, "errors": errors}
        return render(request, visitor, "admin/users.html", context, status_code=422)
    changed = await roles.set_role(
        db, admin_id=admin_id, admin_role=visitor.role, user_id=user_id, role=role
    )
    flash(request, f"{person.username} is now {role}." if changed else "Nothing changed.")
    return redirect("/admin/users?q=" + person.username)
