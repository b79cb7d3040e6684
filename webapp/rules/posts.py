"""The rules for posts: who may see one, who may change it, how lists are
found and paged. Called by both the pages and the API.

Reads come back as `PostPublic` values with their author, each page in a fixed
number of statements, never as tracked ORM objects that a template could
lazy-load from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    null,
    or_,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select, SelectOfScalar

from webapp.core.announcer import announce
from webapp.core.db import (
    DriverStatement,
    Link,
    dialect_name,
    transaction,
    transaction_of_one,
)
from webapp.core.removals import taken_away
from webapp.errors import NotOwner, PostNotFound, TagNotFound, TooManyPosts
from webapp.models import (
    MAX_ID,
    Follow,
    Like,
    Post,
    PostCreate,
    PostPublic,
    PostTag,
    PostUpdate,
    TagCount,
    User,
    UserPublic,
    built,
    person,
    utcnow,
)
from webapp.rules import callers, markup, mentions, ordering, safety, sliding_window, suspensions
from webapp.rules.media_copy import media_of

# --- reading posts with their authors -------------------------------------------


# More columns than SQLModel's `select` has signatures for (four): the class
# itself, its rows read by position in `as_public`.
def _with_owner(comment_count: Any, content: Any = None) -> Select[*tuple[Any, ...]]:
    """A post with its author, its comment count read as `comment_count`, its
    text as `content` (by default the column itself)."""
    return Select(
        col(Post.id),
        col(Post.title),
        col(Post.content) if content is None else content,
        col(Post.published),
        col(Post.created_at),
        col(Post.updated_at),
        col(Post.owner_id),
        col(Post.votes),
        comment_count,
        col(User.username).label("owner_username"),
        col(User.created_at).label("owner_created_at"),
        col(Post.hidden),
        col(Post.hidden_reason),
        col(Post.content_html),
        col(Post.excerpt),
        col(Post.tags),
        suspensions.SUSPENDED_NOW.label("owner_suspended"),
        col(Post.media),
        col(User.display_name).label("owner_display_name"),
        col(User.bio_html).label("owner_bio_html"),
        col(User.website).label("owner_website"),
        col(User.avatar).label("owner_avatar"),
    ).join(User, col(User.id) == col(Post.owner_id))


# A text column left out of a row, in its place.
EMPTY_TEXT: Any = literal_column("''")
WITH_OWNER: Select[*tuple[Any, ...]] = _with_owner(suspensions.COMMENT_COUNT)
# The same with the comment counter as the row keeps it, before the comments
# of people suspended now are taken out (`suspensions.COMMENT_COUNT`): for a
# caller that counts those itself (a post's page, whose comments statement
# reads them anyway), sparing the post's statement the subplan.
WITH_OWNER_AS_KEPT: Select[*tuple[Any, ...]] = _with_owner(col(Post.comments))
# The same with the text as written read as '': for a page, which shows only
# the HTML made of it (the anonymous post page's statement).
AS_KEPT_WITHOUT_TEXT: Select[*tuple[Any, ...]] = _with_owner(
    col(Post.comments), EMPTY_TEXT.label("content")
)
# How many columns of a row of `WITH_OWNER` the post takes, and where its
# comment count is.
POST_COLUMNS, COMMENTS_AT = 22, 8

# What a card of one person's list of posts shows (`webapp.web.card_html`), in
# the places of `WITH_OWNER`'s columns, read by `as_public` with the person
# handed in as `owner`: not the content, its HTML nor the tags (a card shows
# the excerpt), nor the author, who is the person. A profile's page reads
# twenty: the full rows were a third of its statement's Python time, and the
# author's join as many index lookups.
OWN_CARDS: Select[*tuple[Any, ...]] = Select(
    col(Post.id),
    col(Post.title),
    EMPTY_TEXT.label("content"),
    col(Post.published),
    col(Post.created_at),
    col(Post.updated_at),
    col(Post.owner_id),
    col(Post.votes),
    suspensions.COMMENT_COUNT,
    null().label("owner_username"),
    null().label("owner_created_at"),
    col(Post.hidden),
    col(Post.hidden_reason),
    EMPTY_TEXT.label("content_html"),
    col(Post.excerpt),
    EMPTY_TEXT.label("tags"),
    null().label("owner_suspended"),
    col(Post.media),
    null().label("owner_display_name"),
    null().label("owner_bio_html"),
    null().label("owner_website"),
    null().label("owner_avatar"),
).select_from(Post)


def as_public(row: tuple[Any, ...], owner: UserPublic | None = None) -> PostPublic:
    """A row of `WITH_OWNER` as a post with its author; `owner`: the author,
    when the caller made them already (a page of one person's posts)."""
    (
        post_id,
        title,
        content,
        published,
        created_at,
        updated_at,
        owner_id,
        votes,
        comments,
        owner_username,
        owner_created_at,
        hidden,
        hidden_reason,
        content_html,
        excerpt,
        tags,
        owner_suspended,
        media,
        *profile,
    ) = row
    if owner is None or owner.id != owner_id:
        owner = person(owner_id, owner_username, owner_created_at, *profile)
    # Rows from our own tables were validated on the way in: constructing skips
    # re-checking every character of every text on every page view. (In the
    # fields' order: `built` then keeps its arguments as they are.)
    return built(
        PostPublic,
        title=title,
        content=content,
        published=published,
        id=post_id,
        created_at=created_at,
        updated_at=updated_at,
        owner_id=owner_id,
        owner=owner,
        votes=votes,
        comments=comments,
        hidden=hidden,
        hidden_reason=hidden_reason,
        owner_suspended=bool(owner_suspended),
        content_html=content_html,
        tags=tags.split(),
        excerpt=excerpt,
        media=media_of(media),
    )


# --- who sees what ------------------------------------------------------------


# What everyone may see: published, and not hidden by moderators or by reports
# (`webapp.rules.moderation`). Every list, search, count and item of posts
# starts from this condition.
# A suspended person's posts are gone with them (`webapp.rules.suspensions`).
LISTED = and_(
    col(Post.published).is_(True),
    col(Post.hidden).is_(None),
    col(Post.owner_id).not_in(suspensions.SUSPENDED_IDS),
)


# `LISTED` on a statement that reads the post with its owner (`WITH_OWNER`):
# the owner's row, read anyway, says whether they are suspended, where
# `LISTED` looks them up among everyone suspended (a hashed subplan built on
# every run, a seventh of a single post's statement).
LISTED_WITH_OWNER = and_(
    col(Post.published).is_(True), col(Post.hidden).is_(None), suspensions.ACTIVE
)


def visible_to(viewer_id: int | None) -> ColumnElement[bool]:
    """A draft, or a hidden post, is visible to its owner alone."""
    if viewer_id is None:
        return LISTED
    return or_(LISTED, col(Post.owner_id) == viewer_id)


def get_visible_condition(viewer_id: int | None, *, moderator: bool = False) -> ColumnElement[bool]:
    """`visible_to`, or for a moderator reading one post by itself: any
    published post, hidden or by someone suspended, and their own drafts."""
    if moderator and viewer_id is not None:
        return or_(col(Post.published).is_(True), col(Post.owner_id) == viewer_id)
    return visible_to(viewer_id)


# The statements of one post's page, built once: a statement object reused is
# compiled and keyed once (SQLAlchemy keeps both on the object), where one built
# for each request costs a tenth of the request before it is sent. The values
# are bound when it runs.
POST_ID: BindParameter[int] = bindparam("post_id")
VIEWER: BindParameter[int] = bindparam("viewer_id")
# Who may see the post of the row: `visible_to` the viewer bound as `viewer_id`;
# the same on a statement that reads the post with its owner (`WITH_OWNER`).
VISIBLE_TO_VIEWER = or_(LISTED, col(Post.owner_id) == VIEWER)
VISIBLE_WITH_OWNER = or_(LISTED_WITH_OWNER, col(Post.owner_id) == VIEWER)
# Whether the viewer bound as `viewer_id` likes the post of the row.
LIKED_BY_VIEWER = exists().where(col(Like.user_id) == VIEWER, col(Like.post_id) == col(Post.id))
# Moderators read every published post by itself (its page, its API item),
# hidden or by someone suspended, to judge it; lists still leave those out.
MODERATED_FOR_VIEWER = or_(col(Post.published).is_(True), col(Post.owner_id) == VIEWER)
_PUBLISHED_POST = DriverStatement(WITH_OWNER.where(col(Post.id) == POST_ID, LISTED_WITH_OWNER))
_VISIBLE_POST = DriverStatement(WITH_OWNER.where(col(Post.id) == POST_ID, VISIBLE_WITH_OWNER))
_MODERATED_POST = DriverStatement(WITH_OWNER.where(col(Post.id) == POST_ID, MODERATED_FOR_VIEWER))


async def find_visible_post(
    db: AsyncSession, post_id: int, viewer_id: int | None, *, moderator: bool = False
) -> PostPublic | None:
    """The post if this viewer may read it: published and shown, their own,
    or (`moderator`) published at all."""
    if not 0 < post_id <= MAX_ID:
        return None
    if viewer_id is not None and moderator:
        found = await _MODERATED_POST.rows(db, {"post_id": post_id, "viewer_id": viewer_id})
    elif viewer_id is None:
        found = await _PUBLISHED_POST.rows(db, {"post_id": post_id})
    else:
        found = await _VISIBLE_POST.rows(db, {"post_id": post_id, "viewer_id": viewer_id})
    return as_public(found[0]) if found else None


async def get_visible_post(
    db: AsyncSession, post_id: int, viewer_id: int | None, *, moderator: bool = False
) -> PostPublic:
    post = await find_visible_post(db, post_id, viewer_id, moderator=moderator)
    if post is None:
        raise PostNotFound
    return post


async def get_own_post(db: AsyncSession, post_id: int, user_id: int) -> PostPublic:
    """The one ownership check: missing or invisible → PostNotFound, someone
    else's → NotOwner."""
    post = await get_visible_post(db, post_id, user_id)
    if post.owner_id != user_id:
        raise NotOwner
    return post


# --- lists --------------------------------------------------------------------


NEWEST_FIRST = (col(Post.created_at).desc(), col(Post.id).desc())


@dataclass(frozen=True)
class PostPage:
    """One page of a list, and what the pager may link to."""

    posts: list[PostPublic]
    page: int
    per_page: int
    last_page: int  # the last page known to exist
    more: bool = False  # pages exist beyond last_page (not counted)
    total: int | None = None  # when it was cheap enough to count
    # A search's results: each post's excerpt with the matched words marked,
    # as HTML, by post id (`webapp.rules.search`).
    highlights: Mapping[int, Markup] = field(default_factory=dict)

    @property
    def past_end(self) -> bool:
        return not self.posts and self.page > 1

    @property
    def ids(self) -> list[int]:
        return [post.id for post in self.posts]

    @property
    def counts(self) -> Counts:
        return {post.id: (post.votes, post.comments) for post in self.posts}

    def with_counts(self, counts: Counts) -> PostPage:
        """The same page with these counts (a list kept from before a like or
        a comment)."""
        if counts == self.counts:
            return self
        return replace(self, posts=[with_count(post, counts) for post in self.posts])


# A post's like and comment counts, by post id.
Counts = dict[int, tuple[int, int]]


def with_count(post: PostPublic, counts: Counts) -> PostPublic:
    votes, comments = counts.get(post.id, (post.votes, post.comments))
    if (votes, comments) == (post.votes, post.comments):
        return post
    return post.model_copy(update={"votes": votes, "comments": comments})


async def counts_of(db: AsyncSession, post_ids: list[int]) -> Counts:
    """The like and comment counts of these posts now: one statement."""
    if not post_ids:
        return {}
    return await _counts(db, col(Post.id).in_(post_ids))


async def visible_counts(
    db: AsyncSession,
    post_ids: list[int],
    viewer_id: int | None,
    *,
    blocked: frozenset[int] = frozenset(),
) -> Counts:
    """The counts of those of these posts the viewer may see (a live page's
    subscription, `webapp.live`): one statement; a draft of someone else's, a
    post of someone the viewer blocks (`blocked`: not there for them, as its
    page is not) or an unknown id is left out."""
    if not post_ids:
        return {}
    condition = and_(col(Post.id).in_(post_ids), visible_to(viewer_id))
    if blocked:
        condition = and_(condition, safety.none_of(col(Post.owner_id), blocked))
    return await _counts(db, condition)


async def _counts(db: AsyncSession, condition: ColumnElement[bool]) -> Counts:
    statement = select(col(Post.id), col(Post.votes), suspensions.COMMENT_COUNT).where(condition)
    return {
        post_id: (votes, comments)
        for post_id, votes, comments in await db.exec(statement)
        # Always there in a row read back: SQLModel types the key as optional
        # for a Post not yet inserted.
        if post_id is not None
    }


# A pager shows this many pages on each side of the current one.
PAGES_AROUND = 2


# The people whose posts a reader's lists leave out: those they block or mute
# (`webapp.rules.safety.Shield.unlisted`).
Unlisted = frozenset[int]
NOBODY: Unlisted = frozenset()


def listed_for(followed_by: int | None, unlisted: Unlisted = NOBODY) -> ColumnElement[bool]:
    """Published posts, not hidden; by the people `followed_by` follows; by
    none of the `unlisted` (inside the list's own statement: a reader who
    blocks or mutes people pays no statement more)."""
    condition: ColumnElement[bool] = LISTED
    if followed_by is not None:
        condition = and_(condition, col(Post.owner_id).in_(_followed(followed_by)))
    if unlisted:
        condition = and_(condition, safety.none_of(col(Post.owner_id), unlisted))
    return condition


def _followed(user_id: int) -> SelectOfScalar[int]:
    return select(col(Follow.followed_id)).where(col(Follow.follower_id) == user_id)


# --- the Following feed -----------------------------------------------------------
#
# "Published posts by these people, newest first" has no one index that serves it:
# ix_posts_feed is in time order across everyone, ix_posts_owner_newest in time
# order within one owner. Which to read depends on how many people are followed
# (tests/perf/RESULTS.md has the measurements behind what follows):
#
# - Walking ix_posts_feed backwards, keeping the followed people's posts, reads
#   posts until it has a page's worth: few when one follows many active people,
#   but a large part of all posts for the first page of someone who follows one
#   person, and more for deep pages of a few people.
# - Each followed person's newest `offset + limit` published posts (LATERAL over
#   ix_posts_owner_newest, an index-only range), merged and cut to the page, reads
#   at most that many index entries a person: cheap for a few people whatever the
#   page, but it grows with every person followed (more when recently liked posts
#   sit on table pages not yet vacuumed, whose entries an index-only scan must
#   check in the table).
#
# So the statement holds both, each behind a condition on how many people the
# follower follows (counted through uq_follows_pair, stopping at FEW_FOLLOWED + 1):
# PostgreSQL evaluates it once and never starts the other branch, so a page still
# costs one statement. Each branch is a subquery with its own LIMIT, planned as it
# would be alone; the many-people branch is the plain query, as before.
#
# SQLite has no LATERAL; an embedded site is small, and the plain query is correct.

# At most this many people followed: each one's newest posts, through their index.
# Near 50 both ways cost about the same for the first pages and the index ranges
# win on deep pages; at 100 the plain query is faster at every page.
FEW_FOLLOWED = 50


def _following_ids(
    dialect: str,
    followed_by: int,
    offset: int,
    limit: int,
    unlisted: Unlisted = NOBODY,
) -> SelectOfScalar[Any]:
    """The ids of a page of the Following feed: published posts by the people
    `followed_by` follows, newest first (of two posts in one
    instant, the higher id first)."""
    plain = (
        select(col(Post.id))
        .where(listed_for(followed_by, unlisted))
        .order_by(*NEWEST_FIRST)
        .offset(offset)
        .limit(limit)
    )
    if dialect != "postgresql":
        return plain
    how_many = (
        select(func.count())
        .select_from(_followed(followed_by).limit(FEW_FOLLOWED + 1).subquery())
        .scalar_subquery()
    )
    # A person's posts after their newest offset + limit cannot be on this page.
    newest = (
        select(col(Post.id), col(Post.created_at))
        .where(col(Post.owner_id) == col(Follow.followed_id), listed_for(None, unlisted))
        .order_by(*NEWEST_FIRST)
        .limit(offset + limit)
        .lateral("newest")
    )
    merged = (
        select(newest.c.id, newest.c.created_at)
        .select_from(Follow)
        .join(newest, true())
        .where(col(Follow.follower_id) == followed_by)
        .order_by(newest.c.created_at.desc(), newest.c.id.desc())
        .offset(offset)
        .limit(limit)
        .subquery("merged")
    )
    walked = plain.add_columns(col(Post.created_at)).subquery("walked")
    # Each branch is planned as if alone (a condition outside a subquery with a
    # LIMIT stays outside it); one gives the page, the other nothing.
    page = union_all(
        merged.select().where(how_many <= FEW_FOLLOWED),
        walked.select().where(how_many > FEW_FOLLOWED),
    ).subquery("page")
    return select(page.c.id).order_by(page.c.created_at.desc(), page.c.id.desc())


def _tagged(tag: str, unlisted: Unlisted = NOBODY) -> SelectOfScalar[Any]:
    """The ids of the published posts carrying the tag, newest first: from
    `ix_post_tags_feed` alone."""
    # Joined with the posts for what a tag's row does not know: a post hidden,
    # or by a suspended person, is listed nowhere.
    ids = (
        select(col(PostTag.post_id))
        .join(Post, col(Post.id) == col(PostTag.post_id))
        .where(
            col(PostTag.tag) == tag,
            col(PostTag.published).is_(True),
            listed_for(None, unlisted),
        )
    )
    return ids.order_by(col(PostTag.created_at).desc(), col(PostTag.post_id).desc())


def _ordered_ids(
    dialect: str,
    order: ordering.Order,
    now: datetime,
    followed_by: int | None,
    tag: str | None,
    unlisted: Unlisted = NOBODY,
) -> SelectOfScalar[Any]:
    """The ids of a list in a ranked order (hot, top) at `now`, without offset
    or limit: the posts of the order's window alone (`ordering.window`)."""
    condition = listed_for(followed_by, unlisted)
    window = ordering.window(order, now)
    if window is not None:
        condition = and_(condition, window)
    ids: SelectOfScalar[Any]
    if tag is not None:
        ids = (
            select(col(PostTag.post_id))
            .join(Post, col(Post.id) == col(PostTag.post_id))
            .where(col(PostTag.tag) == tag, col(PostTag.published).is_(True), condition)
        )
    else:
        ids = select(col(Post.id)).where(condition)
    return ids.order_by(*ordering.ranking(order, dialect, now))


def _page_ids(
    dialect: str,
    order: ordering.Order,
    now: datetime,
    followed_by: int | None,
    tag: str | None,
    offset: int,
    limit: int,
    unlisted: Unlisted = NOBODY,
) -> SelectOfScalar[Any]:
    """The ids of `limit` posts of a list from `offset`, in the list's order."""
    if not order.newest:
        ranked = _ordered_ids(dialect, order, now, followed_by, tag, unlisted)
        return ranked.offset(offset).limit(limit)
    if tag is not None:
        return _tagged(tag, unlisted).offset(offset).limit(limit)
    if followed_by is None:
        condition = listed_for(None, unlisted)
        ids = select(col(Post.id)).where(condition).order_by(*NEWEST_FIRST)
        return ids.offset(offset).limit(limit)
    return _following_ids(dialect, followed_by, offset, limit, unlisted)


def _in_order(rows: Any, ids: Sequence[int]) -> list[PostPublic]:
    """Rows read by id, in the order of `ids`."""
    found = {post.id: post for post in map(as_public, rows)}
    return [found[post_id] for post_id in ids if post_id in found]


async def list_published(
    db: AsyncSession,
    *,
    offset: int,
    limit: int,
    followed_by: int | None = None,
    tag: str | None = None,
    order: ordering.Order = ordering.NEWEST,
    unlisted: Unlisted = NOBODY,
) -> list[PostPublic]:
    """Published posts, newest first (or in `order`), with their owners: one
    statement, the ids of the page, then their rows. The ids come from the
    feed's index alone (`ix_posts_feed` holds the order and the id), so a deep
    page walks index entries, not rows: reading whole rows joined with their
    authors up to the offset made PostgreSQL sort every published post. With
    `followed_by`, only those by the people that user follows
    (`_following_ids`); with `tag`, only those carrying it; never those of
    the `unlisted`."""
    dialect = db.get_bind().dialect.name
    now = utcnow()
    ids = _page_ids(dialect, order, now, followed_by, tag, offset, limit, unlisted)
    # The rows in the order of their ids: the same clauses, at the same `now`.
    statement = WITH_OWNER.where(col(Post.id).in_(ids))
    statement = statement.order_by(*ordering.ranking(order, dialect, now))
    return [as_public(row) for row in await db.exec(statement)]


async def published_page(
    db: AsyncSession,
    *,
    page: int,
    per_page: int,
    followed_by: int | None = None,
    tag: str | None = None,
    order: ordering.Order = ordering.NEWEST,
    unlisted: Unlisted = NOBODY,
) -> PostPage:
    """Published posts (with `followed_by`, by the people that user follows;
    with `tag`, those carrying it; never those of the `unlisted`), newest
    first (or in `order`), with their owners, in two statements whatever the
    page.

    Counting every match costs a scan of all of them (a common search word
    matches a third of all posts), so the pager instead looks ahead: the
    ids of this page and of the next two come from the index alone, and only
    this page's rows are read, joined with their authors. Only a page past the
    end counts, to link back.
    """
    offset = (page - 1) * per_page
    ahead = per_page * (PAGES_AROUND + 1) + 1
    dialect = db.get_bind().dialect.name
    now = utcnow()
    page_query = _page_ids(dialect, order, now, followed_by, tag, offset, ahead, unlisted)
    ids = list(await db.exec(page_query))
    if not ids:
        total = 0
        if page > 1:
            if not order.newest:
                every = _ordered_ids(dialect, order, now, followed_by, tag, unlisted)
                counting = select(func.count()).select_from(every.order_by(None).subquery())
            elif tag is not None:
                tagged = _tagged(tag, unlisted).order_by(None).subquery()
                counting = select(func.count()).select_from(tagged)
            else:
                condition = listed_for(followed_by, unlisted)
                counting = select(func.count()).select_from(Post).where(condition)
            total = (await db.exec(counting)).one()
        return PostPage([], page, per_page, last_page=max(1, -(-total // per_page)))
    page_ids = ids[:per_page]
    rows = await db.exec(WITH_OWNER.where(col(Post.id).in_(page_ids)).order_by(*NEWEST_FIRST))
    extra_pages = -(-(len(ids) - len(page_ids)) // per_page)
    return PostPage(
        posts=_in_order(rows, page_ids),
        page=page,
        per_page=per_page,
        last_page=page + min(extra_pages, PAGES_AROUND),
        more=len(ids) == ahead,
    )


# --- tags -------------------------------------------------------------------------


def tag_named(name: str) -> str:
    """The tag a name in an address stands for (folded); TagNotFound when it
    cannot be one."""
    tag = markup.fold_tag(name)
    if tag is None:
        raise TagNotFound
    return tag


# The popular tags are those of the published posts of this many days.
POPULAR_DAYS = 30
POPULAR_TAGS = 50


async def popular_tags(db: AsyncSession, *, limit: int = POPULAR_TAGS) -> list[TagCount]:
    """The tags with the most published posts in the last POPULAR_DAYS days,
    most first (then by name), with their counts: one statement."""
    since = utcnow() - timedelta(days=POPULAR_DAYS)
    posts_count = func.count().label("posts")
    statement = (
        select(col(PostTag.tag), posts_count)
        .where(col(PostTag.published).is_(True), col(PostTag.created_at) >= since)
        .group_by(col(PostTag.tag))
        .order_by(posts_count.desc(), col(PostTag.tag))
        .limit(limit)
    )
    return [TagCount(tag=tag, posts=count) for tag, count in await db.exec(statement)]


# --- changes ------------------------------------------------------------------


@dataclass(frozen=True)
class LockedPost:
    owner_id: int
    published: bool
    hidden: str | None = None
    owner_suspended: bool = False
    # The owner and the one acting block one another (`webapp.rules.safety`).
    blocked: bool = False

    def visible_to(self, viewer_id: int | None) -> bool:
        listed = self.published and self.hidden is None and not self.owner_suspended
        return listed or self.owner_id == viewer_id

    def reachable_by(self, actor_id: int) -> bool:
        """Whether the actor may like it or comment on it: they can see it, and
        no block stands between them and its owner."""
        return self.visible_to(actor_id) and not self.blocked


async def lock_post(db: AsyncSession, post_id: int, actor_id: int | None = None) -> LockedPost:
    """Lock the post's row for this transaction before changing what hangs from
    it (likes, comments: the lock order of `webapp.rules.likes`; on SQLite, the
    unit of work holds the database's one write lock from its start, see
    `core.db.atomic`), and learn in the same statement whether a block stands
    between its owner and `actor_id`. PostNotFound if it is gone."""
    if not 0 < post_id <= MAX_ID:
        raise PostNotFound
    locked: Select[*tuple[Any, ...]] = (
        Select(
            col(Post.owner_id),
            col(Post.published),
            col(Post.hidden),
            col(Post.owner_id).in_(suspensions.SUSPENDED_IDS),
            safety.between(col(Post.owner_id), actor_id) if actor_id is not None else false(),
        )
        .where(col(Post.id) == post_id)
        .with_for_update(key_share=True)
    )
    row = (await db.exec(locked)).first()
    if row is None:
        raise PostNotFound
    owner_id, published, hidden, owner_suspended, blocked = row
    return LockedPost(owner_id, published, hidden, bool(owner_suspended), bool(blocked))


# Every field of PostCreate, by name, and what is made of them: a field added
# there must be added here and to the function, by a migration
# (tests/test_write_costs.py checks the fields).
NEW_POST = (
    "SELECT caller, post_id, events, retry_after, owner_name, owner_since, owner_display_name, "
    "owner_bio_html, owner_website, owner_avatar FROM agora_new_post(%s, %s, %s, %s::integer, "
    "%s, %s, %s, %s, %s, %s::text[], %s::integer[], %s::integer)"
)
# An empty array as NEW_POST's `text[]` and `integer[]` read it: the bytes and
# the type psycopg sends for an empty list (the text `{}`, of no type: the same
# prepared statement), without the list dumper it makes on every call to learn
# that (two of them a new post, most of which tag and mention nobody).
EMPTY_ARRAY = "{}"
# Posts and comments are counted over the last hour (POSTS_PER_HOUR,
# COMMENTS_PER_HOUR).
LIMIT_WINDOW = timedelta(hours=1)


async def check_posts_limit(db: AsyncSession, owner_id: int, per_hour: int) -> None:
    """Inside the new post's unit of work (SQLite's write lock makes racing
    posts count one after another; PostgreSQL counts in `agora_new_post`,
    after locking the owner's row, and only when their tally of posts ever
    written reaches the limit, migration 0026): TooManyPosts past the hour's
    limit."""
    if per_hour <= 0:
        return
    wait = await sliding_window.wait(
        db,
        col(Post.created_at),
        col(Post.owner_id) == owner_id,
        limit=per_hour,
        window=LIMIT_WINDOW,
        now=utcnow(),
    )
    if wait is not None:
        raise TooManyPosts(wait)


@dataclass(frozen=True)
class Marked:
    """A post's title and content as they are saved: the HTML, the excerpt, the
    tags, and the ids of the people the content mentions."""

    content_html: str
    excerpt: str
    tags: list[str]
    mentioned: list[int]

    @property
    def columns(self) -> dict[str, str]:
        return {
            "content_html": self.content_html,
            "excerpt": self.excerpt,
            "tags": " ".join(self.tags),
        }


async def mark_up(db: AsyncSession | Link, title: str, content: str) -> Marked:
    """Render a post's content (looking up the names it mentions: one
    statement, when it mentions any) and find its tags."""
    if len(content) <= mentions.ON_LOOP_MAX:
        # A text without markup (most short posts) mentions nobody and holds
        # no tag: its HTML and excerpt made at once, without the parse, the
        # lookup of no names and the three values `mentions.render` makes
        # (tests/test_markup.py holds this against the parser's way).
        plain = markup.plain_html(content)
        if plain is not None:
            tags = markup.first_tags(markup.title_tags(title))
            return Marked(plain, markup.plain_excerpt(plain), tags, [])
    written = await mentions.render(db, content, "post")
    tags = markup.post_tags(title, written.parsed)
    rendered = written.rendered
    return Marked(rendered.html, rendered.excerpt, tags, rendered.mentioned)


def _tag_rows(post_id: int, tags: list[str], published: bool, created_at: Any) -> Any:
    return insert(PostTag).values(
        [
            {"post_id": post_id, "tag": tag, "published": published, "created_at": created_at}
            for tag in tags
        ]
    )


async def create_post(
    db: AsyncSession | Link,
    *,
    owner: UserPublic | callers.Caller,
    data: PostCreate,
    per_hour: int = 0,
) -> PostPublic:
    """Write a post, its tags, and (published) tell the people it mentions.
    TooManyPosts when the owner wrote `per_hour` posts in the last hour (0:
    no limit). `owner`: the person, or a caller as their bearer token names
    them, checked first (`webapp.rules.callers`: CallerRefused,
    EmailNotConfirmed)."""
    postgres = isinstance(db, Link) or dialect_name(db) == "postgresql"
    if not postgres and isinstance(owner, callers.Caller):
        owner = await callers.check(db, owner)
    now = utcnow()
    marked = await mark_up(db, data.title, data.content)
    if postgres:
        # The INSERT as a statement that is its own transaction (one round
        # trip, no BEGIN, no COMMIT), its caller checked in it, its live
        # event handed to the announcer after its commit.
        caller = owner if isinstance(owner, callers.Caller) else None
        params = (
            data.title,
            data.content,
            data.published,
            owner.id,
            caller.stamp if caller else None,
            caller.must_confirm if caller else False,
            now,
            marked.content_html,
            marked.excerpt,
            marked.tags or EMPTY_ARRAY,
            marked.mentioned or EMPTY_ARRAY,
            per_hour,
        )
        row = await transaction_of_one(db, NEW_POST, params)
        assert row is not None  # it returns one row
        refusal, post_id, events, retry_after, *shown = row
        callers.answered(refusal)
        if caller is not None:
            owner = person(owner.id, *shown)
        if post_id is None:
            raise TooManyPosts(retry_after)
        await announce(db, events)
    else:
        assert isinstance(owner, UserPublic)  # checked above
        assert isinstance(db, AsyncSession)  # a Link is PostgreSQL's
        checked, session = owner, db
        # PostFields' three fields by name (a field added to PostCreate is
        # added here, to NEW_POST and to the post made below:
        # tests/test_write_costs.py checks the fields).
        values = {
            "title": data.title,
            "content": data.content,
            "published": data.published,
            **marked.columns,
            "owner_id": owner.id,
            "created_at": now,
            "updated_at": now,
        }

        async def write() -> int:
            await check_posts_limit(session, checked.id, per_hour)
            statement = insert(Post).values(values).returning(col(Post.id))
            new_id: int = (await session.exec(statement)).scalar_one()
            if marked.tags:
                await session.exec(_tag_rows(new_id, marked.tags, data.published, now))
            told = mentions.tell_of_post(marked.mentioned, checked.id, new_id)
            if data.published and told is not None:
                await session.exec(told)
            return new_id

        post_id = await transaction(session, write)
    assert isinstance(owner, UserPublic)
    # Every field given: `built` sets them at once, where `model_construct`
    # looks at each field's default (and reads a default factory's signature).
    # In the fields' order, which `built` then keeps as it is.
    return built(
        PostPublic,
        title=data.title,
        content=data.content,
        published=data.published,
        id=post_id,
        created_at=now,
        updated_at=now,
        owner_id=owner.id,
        owner=owner,
        votes=0,
        comments=0,
        hidden=None,
        hidden_reason=None,
        owner_suspended=False,
        content_html=marked.content_html,
        tags=marked.tags,
        excerpt=marked.excerpt,
        media=[],
    )


async def update_post(
    db: AsyncSession, *, post: PostPublic, data: PostUpdate | PostCreate
) -> PostPublic:
    """Change what was sent (PATCH), or everything (PUT, with a PostCreate):
    the content rendered again, the tags found again, and the people the post
    mentions told who were not yet (all of them, when a draft is published).
    PostNotFound if the post was deleted meanwhile."""
    changes = data.model_dump(exclude_unset=isinstance(data, PostUpdate), exclude={"media_ids"})
    changes = {name: value for name, value in changes.items() if value is not None}
    if not changes:
        return post
    title = changes.get("title", post.title)
    published = changes.get("published", post.published)
    retagged = "title" in changes or "content" in changes or published != post.published
    marked = None
    if "title" in changes or "content" in changes or (published and not post.published):
        marked = await mark_up(db, title, changes.get("content", post.content))
        changes.update(marked.columns)
    changes["updated_at"] = utcnow()
    if changes.get("published") and not post.published:
        # A draft published: the first time is what feeds say it was published.
        changes["published_at"] = func.coalesce(col(Post.published_at), changes["updated_at"])
    statement = update(Post).where(col(Post.id) == post.id).values(changes)
    tags = marked.tags if marked is not None else post.tags

    async def write() -> PostPublic:
        await db.exec(statement)
        if retagged:
            await db.exec(delete(PostTag).where(col(PostTag.post_id) == post.id))
            if tags:
                await db.exec(_tag_rows(post.id, tags, published, post.created_at))
        if published and marked is not None:
            told = mentions.tell_of_post(marked.mentioned, post.owner_id, post.id)
            if told is not None:
                await db.exec(told)
        # Read in the transaction: no statement after it holds a connection
        # while the answer waits for a removal to be seen (`taken_away`).
        return await get_visible_post(db, post.id, post.owner_id)

    try:
        updated = await transaction(db, write)
    except IntegrityError:  # deleted meanwhile: its tags found no post
        raise PostNotFound from None
    if post.published and not updated.published:
        taken_away()
    return updated


async def delete_post(db: AsyncSession, *, post: PostPublic) -> None:
    """Its likes go with it (the database cascades, after locking the post's
    row: the lock order of `webapp.rules.likes`). Deleting what is already gone
    changes nothing, and is not an error."""

    async def write() -> None:
        await db.exec(delete(Post).where(col(Post.id) == post.id))

    await transaction(db, write)
    if post.published:
        taken_away()
