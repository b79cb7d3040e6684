"""Following: who follows whom, the counts on a profile, and the lists of people.

The unique pair (follower, followed) decides every race: a second follow finds
the row there and does nothing, an unfollow of nobody deletes nothing, so a
double submit never fails. The database refuses a follow of oneself too.
The Following feed itself is a list of posts (`webapp.rules.posts.published_page`
with `followed_by`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    ScalarSelect,
    bindparam,
    delete,
    exists,
    false,
    func,
    literal_column,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from webapp.core.db import DriverStatement, insert_ignoring_duplicates, transaction
from webapp.core.paging import CountedPage
from webapp.errors import CannotFollowSelf, UserNotFound
from webapp.models import (
    MAX_ID,
    PROFILE_COLUMNS,
    Follow,
    Post,
    PostPublic,
    ProfilePublic,
    User,
    UserPublic,
    built,
    person,
    utcnow,
)
from webapp.rules import notifications, posts, safety, suspensions

# A person's profile columns, in the order `person` takes them.
PROFILE_OF_USER = tuple(getattr(User, name) for name in PROFILE_COLUMNS)


def _count(condition: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(Follow).where(condition).scalar_subquery()


# More columns than SQLModel's `select` has signatures for (four): the class
# itself, its row read by position in `profile`. Moderators read a suspended
# person's too (`PROFILE_OF_ANYONE`); everyone else, only an active one's.
PROFILE_OF_ANYONE: Select[*tuple[Any, ...]] = Select(
    col(User.id),
    col(User.username),
    col(User.created_at),
    _count(col(Follow.followed_id) == col(User.id)).label("followers"),
    _count(col(Follow.follower_id) == col(User.id)).label("following"),
    select(func.count())
    .select_from(Post)
    .where(col(Post.owner_id) == col(User.id), posts.LISTED)
    .scalar_subquery()
    .label("posts"),
    col(User.role),
    col(User.display_name),
    col(User.bio_html),
    col(User.website),
    col(User.avatar),
)
# A suspended person's profile is gone while it lasts.
PROFILE = PROFILE_OF_ANYONE.where(suspensions.ACTIVE)


async def profile(db: AsyncSession, user_id: int, *, moderator: bool = False) -> ProfilePublic:
    """A person with their follower, following and published post counts: one
    statement. UserNotFound if there is no such person (or, but to
    `moderator`s, one suspended now)."""
    row = None
    if 0 < user_id <= MAX_ID:
        found = PROFILE_OF_ANYONE if moderator else PROFILE
        row = (await db.exec(found.where(col(User.id) == user_id))).first()
    if row is None:
        raise UserNotFound
    return _person(tuple(row))


# The columns of `PROFILE`, and where a profile page's rows hold their posts.
PERSON_COLUMNS = 11
PAGE_START = PERSON_COLUMNS + 2


def _person(row: tuple[Any, ...]) -> ProfilePublic:
    found_id, username, created_at, followers, following, published, role, *profile = row
    display_name, bio_html, website, avatar = profile
    return built(
        ProfilePublic,
        id=found_id,
        username=username,
        created_at=created_at,
        display_name=display_name,
        bio_html=bio_html,
        website=website,
        avatar=avatar,
        followers=followers,
        following=following,
        posts=published,
        role=role,
    )


def as_author(someone: ProfilePublic) -> UserPublic:
    """A profile's person as their posts' author (without the counts)."""
    return person(
        someone.id,
        someone.username,
        someone.created_at,
        someone.display_name,
        someone.bio_html,
        someone.website,
        someone.avatar,
    )


@dataclass(frozen=True)
class ProfileView:
    """A profile as one visitor reads it: the person with their counts, whether
    the visitor follows them, a page of their posts (with the drafts, for
    their owner) and which of those the visitor likes."""

    person: ProfilePublic
    following: bool
    listing: posts.PostPage
    liked: set[int]


USER_ID: BindParameter[int] = bindparam("user_id")


def _profile_statement(viewer: bool, moderator: bool = False) -> Any:
    """The person with their counts, and a page of their posts as cards show
    them (`posts.OWN_CARDS`: the person is their author), as one statement,
    the person's columns on each post's row (or on one row alone, without
    posts). Built once for anonymous visitors, once
    for logged-in ones and once for moderators (who read a suspended person's
    page, and every published post on it); the values are bound when it runs."""
    visible: Any = (
        posts.MODERATED_FOR_VIEWER
        if moderator
        else posts.VISIBLE_TO_VIEWER
        if viewer
        else posts.LISTED
    )
    follows_them = exists().where(
        col(Follow.follower_id) == posts.VIEWER, col(Follow.followed_id) == col(User.id)
    )
    # The posts the visitor sees: the published ones, and the drafts for their owner.
    shown = (
        select(func.count())
        .select_from(Post)
        .where(col(Post.owner_id) == col(User.id), visible)
        .scalar_subquery()
    )
    # LIMIT 1 keeps the person a subquery of its own: merged into the join, its
    # counts would be counted again for every post of the page.
    person = (
        (PROFILE_OF_ANYONE if moderator else PROFILE)
        .add_columns(
            (follows_them if viewer else false()).label("is_following"),
            (shown if viewer else literal_column("NULL")).label("shown"),
        )
        .where(col(User.id) == USER_ID)
        .limit(1)
        .subquery("person")
    )
    page = (
        posts.OWN_CARDS.add_columns((posts.LIKED_BY_VIEWER if viewer else false()).label("liked"))
        .where(col(Post.owner_id) == USER_ID, visible)
        .order_by(*posts.NEWEST_FIRST)
        .offset(bindparam("skip"))
        .limit(bindparam("limit"))
        .subquery("page")
    )
    return (
        Select(*person.c, *page.c)
        .select_from(person)
        .outerjoin(page, true())
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


_ANONYMOUS_PROFILE = DriverStatement(_profile_statement(viewer=False))
_VISITORS_PROFILE = DriverStatement(_profile_statement(viewer=True))
_MODERATORS_PROFILE = DriverStatement(_profile_statement(viewer=True, moderator=True))


async def profile_view(
    db: AsyncSession,
    user_id: int,
    viewer_id: int | None,
    *,
    page: int,
    per_page: int,
    moderator: bool = False,
) -> ProfileView:
    """A profile's page for this visitor: one statement. UserNotFound if there
    is no such person."""
    if not 0 < user_id <= MAX_ID:
        raise UserNotFound
    params: dict[str, Any] = {"user_id": user_id, "skip": (page - 1) * per_page, "limit": per_page}
    statement = _ANONYMOUS_PROFILE
    if viewer_id is not None:
        statement = _MODERATORS_PROFILE if moderator else _VISITORS_PROFILE
        params["viewer_id"] = viewer_id
    rows = await statement.rows(db, params)
    if not rows:
        raise UserNotFound
    first = tuple(rows[0])
    person = _person(first[:PERSON_COLUMNS])
    published = person.posts
    follows_them, shown = first[PERSON_COLUMNS:PAGE_START]
    found: list[PostPublic] = []
    # The person, as each post's author (`posts.OWN_CARDS` reads no author).
    owner = as_author(person)
    for row in rows:
        if row[PAGE_START] is not None:
            found.append(
                posts.as_public(tuple(row)[PAGE_START : PAGE_START + posts.POST_COLUMNS], owner)
            )
    total = published if shown is None else shown
    listing = posts.PostPage(
        found, page, per_page, last_page=max(1, -(-total // per_page)), total=total
    )
    liked = {
        row[PAGE_START]
        for row in rows
        if row[PAGE_START] is not None and row[PAGE_START + posts.POST_COLUMNS]
    }
    return ProfileView(person, bool(follows_them), listing, liked)


async def is_following(db: AsyncSession, follower_id: int, followed_id: int) -> bool:
    statement = select(col(Follow.id)).where(
        col(Follow.follower_id) == follower_id, col(Follow.followed_id) == followed_id
    )
    return (await db.exec(statement)).first() is not None


async def followers_among(db: AsyncSession, followed_id: int, user_ids: list[int]) -> set[int]:
    """Which of these users follow `followed_id` (whose live Following feeds a
    new post of theirs concerns, `webapp.live`): one statement on the
    followed person's index."""
    if not user_ids:
        return set()
    statement = select(col(Follow.follower_id)).where(
        col(Follow.followed_id) == followed_id, col(Follow.follower_id).in_(user_ids)
    )
    return set(await db.exec(statement))


def _check(follower_id: int, followed_id: int) -> None:
    if not 0 < followed_id <= MAX_ID:
        raise UserNotFound
    if follower_id == followed_id:
        raise CannotFollowSelf


async def follow(db: AsyncSession, *, follower_id: int, followed_id: int) -> bool:
    """Follow someone, and tell them; False when already following.
    UserNotFound for an unknown person, CannotFollowSelf for oneself, and
    UserNotFound when a block stands between the two: the followed person's
    row is read with a share lock first, which a block racing the follow
    waits for (or the follow waits for it), and the block is looked for in
    the statement after, which sees what committed while it waited (a
    condition in the locking statement would be read from before the wait).
    So a block always ends with no follow between the two
    (`webapp.rules.safety.block`)."""
    _check(follower_id, followed_id)
    locked = select(col(User.id)).where(col(User.id) == followed_id).with_for_update(read=True)
    blocked = select(safety.between(followed_id, follower_id))
    # RETURNING tells whether a row went in: none when already following.
    statement = (
        insert_ignoring_duplicates(db, Follow)
        .values(follower_id=follower_id, followed_id=followed_id, created_at=utcnow())
        .returning(col(Follow.id))
    )

    async def write() -> bool:
        if (await db.exec(locked)).first() is None or (await db.exec(blocked)).one():
            raise UserNotFound
        if (await db.exec(statement)).first() is None:
            return False
        told = notifications.notify(followed_id, "follow", follower_id)
        if told is not None:
            await db.exec(told)
        return True

    try:
        return await transaction(db, write)
    except IntegrityError:  # the foreign key: no such person (or gone meanwhile)
        raise UserNotFound from None


async def unfollow(db: AsyncSession, *, follower_id: int, followed_id: int) -> bool:
    """Stop following someone, and take back the notification of the follow;
    False when not following. UserNotFound for an unknown person."""
    _check(follower_id, followed_id)
    await _require_user(db, followed_id)
    statement = (
        delete(Follow)
        .where(col(Follow.follower_id) == follower_id, col(Follow.followed_id) == followed_id)
        .returning(col(Follow.id))
    )

    async def write() -> bool:
        if (await db.exec(statement)).first() is None:
            return False
        await db.exec(notifications.withdraw("follow", follower_id, recipient_id=followed_id))
        return True

    return await transaction(db, write)


async def _require_user(db: AsyncSession, user_id: int) -> None:
    if (await db.exec(select(col(User.id)).where(col(User.id) == user_id))).first() is None:
        raise UserNotFound


class PeoplePage(CountedPage[UserPublic]):
    @property
    def people(self) -> list[UserPublic]:
        return self.items


async def people(
    db: AsyncSession,
    user_id: int,
    *,
    followers: bool,
    offset: int,
    limit: int,
    blocked: frozenset[int] = frozenset(),
) -> list[UserPublic]:
    """The user's followers (or the people they follow), newest follow first
    (in one instant, the later follow first), but for the people the reader
    `blocked` (`webapp.rules.safety.Shield`) and those suspended now (their
    profile is gone while it lasts): one statement."""
    them, me = (
        (col(Follow.follower_id), col(Follow.followed_id))
        if followers
        else (col(Follow.followed_id), col(Follow.follower_id))
    )
    statement = (
        select(col(User.id), col(User.username), col(User.created_at), *PROFILE_OF_USER)
        .join(Follow, them == col(User.id))
        .where(me == user_id, suspensions.ACTIVE)
    )
    if blocked:
        statement = statement.where(safety.none_of(them, blocked))
    statement = (
        statement.order_by(col(Follow.created_at).desc(), col(Follow.id).desc())
        .offset(offset)
        .limit(limit)
    )
    rows: Any = await db.exec(statement)
    return [person(*row) for row in rows]


async def people_page(
    db: AsyncSession,
    person: ProfilePublic,
    *,
    followers: bool,
    page: int,
    per_page: int,
    blocked: frozenset[int] = frozenset(),
) -> PeoplePage:
    """A page of a profile's followers or followed, but for the people the
    reader `blocked`; the total is the profile's count, as everyone reads it."""
    found = await people(
        db,
        person.id,
        followers=followers,
        offset=(page - 1) * per_page,
        limit=per_page,
        blocked=blocked,
    )
    total = person.followers if followers else person.following
    return PeoplePage(found, page, per_page, total)
