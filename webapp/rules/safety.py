"""Blocks and mutes: what a person does to stop seeing someone, or to stop
someone reaching them, without waiting for a moderator.

- A block removes the follows between the two, both ways; afterwards the
  blocked person's follow, like, comment or reply aimed at the blocker (or
  the blocker's posts and comments) is refused as something they cannot see
  (`between`, checked under the locks of those writes), and the blocker
  sees none of their posts in any list and their comments collapsed.
- A mute takes the muted person's posts out of the muter's lists.
- Neither is ever told to the other. Notifications from someone blocked or
  muted are never written: a trigger on `notifications` drops them
  (migration 0016), whichever statement writes one; `silenced` is the same
  condition for the one statement that renews a notification instead.

Who a person blocks and mutes is read with their session (pages) or their
account (API), in the statement already read for every request (`ids_of`),
and reaches the lists as a `Shield`: lists leave out the posts of
`Shield.unlisted`, and lists of people (followers, following) the people of
`Shield.blocked`, inside their own statement; the page cache keeps them under
that set (`webapp.web.cache_policy`), so two people's lists never mix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, ColumnElement, Integer, String, and_, bindparam, delete, exists, or_
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import insert_ignoring_duplicates, transaction
from webapp.errors import CannotBlockSelf, CannotMuteSelf, UserNotFound
from webapp.models import MAX_ID, Block, Follow, Mute, Notification, User, UserPublic, utcnow


@dataclass(frozen=True)
class Shield:
    """The people one reader blocks and mutes. What the lists and the page
    cache's keys read of it is worked out once, when it is made: a logged-in
    page reads it several times."""

    blocked: frozenset[int] = frozenset()
    muted: frozenset[int] = frozenset()
    # The people whose posts leave the reader's lists.
    unlisted: frozenset[int] = field(init=False, compare=False, repr=False)
    # What the reader's lists depend on, for the page cache's keys: () for
    # someone who blocks and mutes nobody, whose lists are everyone's.
    key: tuple[int, ...] = field(init=False, compare=False, repr=False)
    # What the reader's lists of people depend on (they leave out the people
    # the reader blocks; a mute changes none of them).
    blocked_key: tuple[int, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        unlisted = self.blocked | self.muted
        object.__setattr__(self, "unlisted", unlisted)
        object.__setattr__(self, "key", tuple(sorted(unlisted)))
        object.__setattr__(self, "blocked_key", tuple(sorted(self.blocked)))

    def hides_post_of(self, owner_id: int) -> bool:
        """A post of someone the reader blocks is not there for them (404)."""
        return owner_id in self.blocked

    @classmethod
    def of(cls, blocked: str | None, muted: str | None) -> Shield:
        """From the ids as `ids_of` reads them (None: nobody)."""
        if not blocked and not muted:
            return NOBODY
        return _shield_of(blocked, muted)


@lru_cache(maxsize=1024)
def _shield_of(blocked: str | None, muted: str | None) -> Shield:
    """Every page of a reader who blocks or mutes someone reads the same two
    texts: parsed once (a Shield is immutable)."""
    return Shield(_ids(blocked), _ids(muted))


NOBODY = Shield()


def _ids(text: str | None) -> frozenset[int]:
    return frozenset(int(part) for part in text.split()) if text else frozenset()


class _IdList(FunctionElement[str]):
    """The ids of an aggregate's rows, separated by spaces (NULL for none), in
    plain SQL text: `func.aggregate_strings` binds its separator at execution
    time, which the statements sent on the driver's own cursor
    (`core.db.DriverStatement`, the API caller's row) cannot take."""

    type = String()
    name = "id_list"
    inherit_cache = True


@compiles(_IdList, "postgresql")
def _id_list_postgresql(element: _IdList, compiler: Any, **kw: Any) -> str:
    return f"string_agg(CAST({compiler.process(element.clauses, **kw)} AS TEXT), ' ')"


@compiles(_IdList)
def _id_list(element: _IdList, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, ' ')"


class _NoneOf(FunctionElement[bool]):
    """A column's value is none of a list of ids, the list bound as one value."""

    name = "none_of"
    inherit_cache = True


# The list as one bound value: an array on PostgreSQL, JSON text on SQLite.
_IDS = ARRAY(Integer).with_variant(JSON(), "sqlite")


def none_of(column: Any, ids: frozenset[int]) -> ColumnElement[bool]:
    """`column NOT IN ids` for the people a reader blocks or mutes, with the
    ids bound as one value rather than one bound value each: a hundred of
    them cost SQLAlchemy and the driver a hundred values to render, cast and
    send at every statement, twice in a list read in two ways, which made
    building a shielded reader's page three quarters more Python calls."""
    return _NoneOf(column, bindparam(None, sorted(ids), type_=_IDS))


@compiles(_NoneOf, "postgresql")
def _none_of_postgresql(element: _NoneOf, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} <> ALL ({ids})"


@compiles(_NoneOf)
def _none_of(element: _NoneOf, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(clause, **kw) for clause in element.clauses)
    # Compiled SQL: a column and a bound parameter, nothing of a visitor.
    return f"{column} NOT IN (SELECT value FROM json_each({ids}))"  # noqa: S608


def ids_of(user_id: Any, *, muted: bool) -> Any:
    """A scalar subquery: the ids the user (an id, or the column holding one)
    blocks (or mutes), separated by spaces, or NULL. Read with the session and
    the API's caller: their primary keys start with the user, so it is one
    index range, empty for almost everyone."""
    table, who, whom = (
        (Mute, Mute.muter_id, Mute.muted_id)
        if muted
        else (
            Block,
            Block.blocker_id,
            Block.blocked_id,
        )
    )
    return (
        core_select(_IdList(col(whom)))
        .select_from(table)
        .where(col(who) == user_id)
        .scalar_subquery()
    )


async def shields_of(db: AsyncSession, user_ids: list[int]) -> dict[int, Shield]:
    """Whom each of these people blocks and mutes now (a live socket's, after
    one of them changed it): one statement."""
    if not user_ids:
        return {}
    statement = select(
        col(User.id), ids_of(col(User.id), muted=False), ids_of(col(User.id), muted=True)
    ).where(col(User.id).in_(user_ids))
    found: Any = await db.exec(statement)
    return {user_id: Shield.of(blocked, muted) for user_id, blocked, muted in found}


def between(one: Any, other: Any) -> ColumnElement[bool]:
    """Either of the two blocks the other: no follow, like, comment or reply
    passes from one to the other (the blocked person's is refused as for
    something they cannot see; the blocker sees nothing of theirs to act on)."""
    return exists().where(
        or_(
            and_(col(Block.blocker_id) == one, col(Block.blocked_id) == other),
            and_(col(Block.blocker_id) == other, col(Block.blocked_id) == one),
        )
    )


def silenced(recipient_id: Any, actor_id: Any) -> ColumnElement[bool]:
    """The recipient blocks or mutes the actor: nothing of the actor's reaches
    them (the trigger of migration 0016 says the same for a new notification)."""
    return or_(
        exists().where(col(Block.blocker_id) == recipient_id, col(Block.blocked_id) == actor_id),
        exists().where(col(Mute.muter_id) == recipient_id, col(Mute.muted_id) == actor_id),
    )


def _check(user_id: int, other_id: int, error: type[Exception]) -> None:
    if not 0 < other_id <= MAX_ID:
        raise UserNotFound
    if user_id == other_id:
        raise error


async def block(db: AsyncSession, *, blocker_id: int, blocked_id: int) -> None:
    """Block someone: the follows between the two go, both ways, and what the
    blocked person's doings had told the blocker. Repeating it changes nothing.
    UserNotFound for an unknown person, CannotBlockSelf for oneself.

    Both people's rows are locked first (in id order): a follow takes a share
    lock on the followed person's row before it checks for a block, so a
    follow racing the block either lands first (and is removed here) or waits
    and sees the block."""
    _check(blocker_id, blocked_id, CannotBlockSelf)
    pair = sorted((blocker_id, blocked_id))
    locked = (
        select(col(User.id))
        .where(col(User.id).in_(pair))
        .order_by(col(User.id))
        .with_for_update(key_share=True)
    )
    added = insert_ignoring_duplicates(db, Block).values(
        blocker_id=blocker_id, blocked_id=blocked_id, created_at=utcnow()
    )
    follows = delete(Follow).where(
        or_(
            and_(col(Follow.follower_id) == blocker_id, col(Follow.followed_id) == blocked_id),
            and_(col(Follow.follower_id) == blocked_id, col(Follow.followed_id) == blocker_id),
        )
    )
    told = delete(Notification).where(
        col(Notification.recipient_id) == blocker_id,
        col(Notification.actor_id) == blocked_id,
        col(Notification.kind) != "moderation",
    )

    async def write() -> None:
        if len(list(await db.exec(locked))) != 2:
            raise UserNotFound
        await db.exec(added)
        await db.exec(follows)
        await db.exec(told)

    await transaction(db, write)


async def unblock(db: AsyncSession, *, blocker_id: int, blocked_id: int) -> None:
    """Take a block back (nothing it removed comes back); repeating it changes nothing."""
    _check(blocker_id, blocked_id, CannotBlockSelf)
    await _require_user(db, blocked_id)
    statement = delete(Block).where(
        col(Block.blocker_id) == blocker_id, col(Block.blocked_id) == blocked_id
    )
    await _write(db, statement)


async def mute(db: AsyncSession, *, muter_id: int, muted_id: int) -> None:
    """Mute someone; repeating it changes nothing. UserNotFound for an
    unknown person, CannotMuteSelf for oneself."""
    _check(muter_id, muted_id, CannotMuteSelf)
    await _require_user(db, muted_id)
    statement = insert_ignoring_duplicates(db, Mute).values(
        muter_id=muter_id, muted_id=muted_id, created_at=utcnow()
    )
    await _write(db, statement)


async def unmute(db: AsyncSession, *, muter_id: int, muted_id: int) -> None:
    _check(muter_id, muted_id, CannotMuteSelf)
    await _require_user(db, muted_id)
    statement = delete(Mute).where(col(Mute.muter_id) == muter_id, col(Mute.muted_id) == muted_id)
    await _write(db, statement)


async def _write(db: AsyncSession, statement: Any) -> None:
    async def write() -> None:
        await db.exec(statement)

    await transaction(db, write)


async def _require_user(db: AsyncSession, user_id: int) -> None:
    if (await db.exec(select(col(User.id)).where(col(User.id) == user_id))).first() is None:
        raise UserNotFound


async def blocked_people(db: AsyncSession, user_id: int) -> list[UserPublic]:
    """The people the user blocks, the latest block first: one statement."""
    return await _people(db, Block, col(Block.blocker_id), col(Block.blocked_id), user_id)


async def muted_people(db: AsyncSession, user_id: int) -> list[UserPublic]:
    """The people the user mutes, the latest mute first: one statement."""
    return await _people(db, Mute, col(Mute.muter_id), col(Mute.muted_id), user_id)


async def _people(
    db: AsyncSession, table: type[Block] | type[Mute], who: Any, whom: Any, user_id: int
) -> list[UserPublic]:
    statement = (
        select(col(User.id), col(User.username), col(User.created_at))
        .join(table, whom == col(User.id))
        .where(who == user_id)
        .order_by(col(table.created_at).desc(), col(User.id).desc())
    )
    return [
        UserPublic.model_construct(id=person_id, username=username, created_at=created_at)
        for person_id, username, created_at in await db.exec(statement)
    ]
