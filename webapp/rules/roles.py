"""Who moderates: every account is a member; moderators and admins moderate,
and admins alone set roles. Nobody acts on their own account, and a moderator
never on an admin's. Called by both doors and by the command line; the role is
read from the database with the session or the token on every request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import func, update
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import rows, transaction
from webapp.core.paging import CountedPage
from webapp.errors import CannotActOnAdmin, CannotActOnSelf, NotFound, UserNotFound
from webapp.models import MAX_ID, User, UserPublic

Role = Literal["member", "moderator", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
MODERATING = frozenset({"moderator", "admin"})
ADMINS_PAGE = 50


def moderates(role: str | None) -> bool:
    return role in MODERATING


def require_moderator(role: str | None) -> None:
    """The moderators' pages and routes do not exist for anyone else (404)."""
    if not moderates(role):
        raise NotFound


def require_admin(role: str | None) -> None:
    if role != "admin":
        raise NotFound


def check_may_act(*, actor_id: int, actor_role: str, target_id: int, target_role: str) -> None:
    """Nobody on themselves (403); a moderator not on an admin (403)."""
    if actor_id == target_id:
        raise CannotActOnSelf
    if target_role == "admin" and actor_role != "admin":
        raise CannotActOnAdmin


@dataclass(frozen=True)
class Person:
    """Someone as the admins' list shows them: their name and role."""

    user: UserPublic
    role: str


_PEOPLE: Any = core_select(col(User.id), col(User.username), col(User.created_at), col(User.role))


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def people_page(db: AsyncSession, *, query: str, page: int) -> CountedPage[Person]:
    """People whose name holds `query` (any letter case), by name, 50 a page."""
    condition: Any = True
    query = query.strip()[:30]
    if query:
        pattern = f"%{_escape_like(query.lower())}%"
        condition = func.lower(col(User.username)).like(pattern, escape="\\")
    total = (await rows(db, core_select(func.count()).select_from(User).where(condition))).one()[0]
    statement: Any = (
        _PEOPLE.where(condition)
        .order_by(func.lower(col(User.username)))
        .offset((page - 1) * ADMINS_PAGE)
        .limit(ADMINS_PAGE)
    )
    found = [_person(row) for row in await rows(db, statement)]
    return CountedPage(found, page, ADMINS_PAGE, total)


def _person(row: Any) -> Person:
    user_id, username, created_at, role = row
    return Person(
        UserPublic.model_construct(id=user_id, username=username, created_at=created_at), role
    )


async def role_of(db: AsyncSession, user_id: int) -> tuple[UserPublic, str]:
    row: Any = None
    if 0 < user_id <= MAX_ID:
        row = (await rows(db, _PEOPLE.where(col(User.id) == user_id))).first()
    if row is None:
        raise UserNotFound
    user_id, username, created_at, role = row
    return UserPublic.model_construct(id=user_id, username=username, created_at=created_at), role


async def set_role(
    db: AsyncSession, *, admin_id: int | None, admin_role: str, user_id: int, role: str
) -> bool:
    """Give someone a role (an admin's act; `admin_id` None: the command
    line). True when it changed; ValueError for a role that is none."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if admin_id is not None:
        require_admin(admin_role)
        if admin_id == user_id:
            raise CannotActOnSelf
    await role_of(db, user_id)

    async def write() -> bool:
        changed = await db.exec(
            update(User).where(col(User.id) == user_id, col(User.role) != role).values(role=role)
        )
        return bool(changed.rowcount)

    return await transaction(db, write)


async def set_role_by_name(db: AsyncSession, username: str, role: str) -> bool:
    """The command line's `users set-role`: UserNotFound for an unknown name."""
    statement = core_select(col(User.id)).where(func.lower(col(User.username)) == username.lower())
    row = (await rows(db, statement)).first()
    if row is None:
        raise UserNotFound
    return await set_role(db, admin_id=None, admin_role="admin", user_id=row[0], role=role)
