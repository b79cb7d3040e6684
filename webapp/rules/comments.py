"""Comments: who may write one, who may delete one, how a post's are paged.

A comment hangs from its post: writing or deleting one locks the post's row
first (the lock order of `webapp.rules.likes`), so a comment racing the post's
deletion either lands before it (and goes with it) or finds no post (404), and
the comment count kept on the post row stays exact. A draft's comments are
as invisible as the draft: every read goes through the post's visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Update,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from webapp.core.db import DriverStatement, transaction
from webapp.core.paging import CountedPage
from webapp.core.removals import taken_away
from webapp.errors import CommentNotFound, NotCommentAuthor, PostNotFound, UserNotFound
from webapp.models import (
    MAX_ID,
    Comment,
    CommentCreate,
    CommentPublic,
    Post,
    PostPublic,
    User,
    UserPublic,
    utcnow,
)
from webapp.rules import mentions, notifications, page_sizes, posts, suspensions

# The same text sent again by the same person on the same post within this
# time is the same comment (a double click, a resent form), not a second one.
REPEAT_WINDOW = timedelta(seconds=10)

# More columns than SQLModel's `select` has signatures for (four): the class
# itself, its rows read by position in `as_public`.
WITH_AUTHOR: Select[*tuple[Any, ...]] = Select(
    col(Comment.id),
    col(Comment.post_id),
    col(Comment.content),
    col(Comment.created_at),
    col(User.id).label("author_id"),
    col(User.username).label("author_username"),
    col(User.created_at).label("author_created_at"),
    col(Comment.content_html),
).join(User, col(User.id) == col(Comment.author_id))
OLDEST_FIRST = (col(Comment.created_at), col(Comment.id))
# A comment hidden by moderators or by reports is its author's alone to see
# (`webapp.rules.moderation`); every read of comments goes through these.
SHOWN = and_(
    col(Comment.hidden).is_(None), col(Comment.author_id).not_in(suspensions.SUSPENDED_IDS)
)
SHOWN_TO_VIEWER = or_(SHOWN, col(Comment.author_id) == posts.VIEWER)


def shown_to(viewer_id: int | None) -> ColumnElement[bool]:
    return SHOWN if viewer_id is None else or_(SHOWN, col(Comment.author_id) == viewer_id)


def as_public(row: tuple[Any, ...]) -> CommentPublic:
    """A row of `WITH_AUTHOR` as a comment with its author."""
    comment_id, post_id, content, created_at, author_id, username, author_created_at, html = row
    return CommentPublic.model_construct(
        id=comment_id,
        post_id=post_id,
        content=content,
        content_html=html,
        created_at=created_at,
        author=UserPublic.model_construct(
            id=author_id, username=username, created_at=author_created_at
        ),
    )


class CommentPage(CountedPage[CommentPublic]):
    """A page of a post's comments; `total` is the count kept on the post row."""

    @property
    def comments(self) -> list[CommentPublic]:
        return self.items


@dataclass(frozen=True)
class PostThread:
    """A post's page as one visitor reads it: the post, whether they like it,
    and one page of its comments."""

    post: PostPublic
    liked: bool
    comments: CommentPage


def _thread_statement(viewer: bool) -> Any:
    """The post (with its author, its counts and the visitor's like) and one page
    of its comments, as one statement: the post's row first (kind 0), then the
    comments (kind 1) in the post's columns, so that the post's text is sent
    once, not once for each comment. Built once for anonymous visitors and
    once for logged-in ones; the values are bound when it runs."""
    post = posts.WITH_OWNER.add_columns(
        literal(0).label("kind"),
        (posts.LIKED_BY_VIEWER if viewer else false()).label("liked"),
    ).where(
        col(Post.id) == posts.POST_ID,
        posts.VISIBLE_TO_VIEWER if viewer else posts.LISTED,
    )
    page = (
        WITH_AUTHOR.where(
            col(Comment.post_id) == posts.POST_ID, SHOWN_TO_VIEWER if viewer else SHOWN
        )
        .order_by(*OLDEST_FIRST)
        .offset(bindparam("skip"))
        .limit(bindparam("limit"))
        .subquery("page")
    )
    # The comment's columns where the post's go: id, title, content, published,
    # created_at, updated_at, owner_id (its author), votes, comments, the
    # author's name and when they joined, hidden, hidden_reason, content_html,
    # excerpt, tags, kind, liked.
    comments: Select[*tuple[Any, ...]] = Select(
        page.c.id,
        null(),
        page.c.content,
        null(),
        page.c.created_at,
        null(),
        page.c.author_id,
        null(),
        null(),
        page.c.author_username,
        page.c.author_created_at,
        null(),
        null(),
        page.c.content_html,
        null(),
        null(),
        literal(1),
        null(),
    )
    both = union_all(post, comments).subquery("thread")
    return Select(*both.c).order_by(both.c.kind, both.c.created_at, both.c.id)


_ANONYMOUS_THREAD = DriverStatement(_thread_statement(viewer=False))
_VISITORS_THREAD = DriverStatement(_thread_statement(viewer=True))


async def thread(db: AsyncSession, post_id: int, viewer_id: int | None, *, page: int) -> PostThread:
    """A post's page for this visitor: one statement. PostNotFound when it is
    gone or a draft of someone else's."""
    offset = (page - 1) * page_sizes.COMMENTS
    post, liked, found = await _thread(db, post_id, viewer_id, offset, page_sizes.COMMENTS)
    return PostThread(post, liked, CommentPage(found, page, page_sizes.COMMENTS, post.comments))


async def list_visible(
    db: AsyncSession, post_id: int, viewer_id: int | None, *, offset: int, limit: int
) -> list[CommentPublic]:
    """A post's comments, oldest first, with their authors, if the viewer may
    see the post: one statement. PostNotFound when they may not."""
    return (await _thread(db, post_id, viewer_id, offset, limit))[2]


async def _thread(
    db: AsyncSession, post_id: int, viewer_id: int | None, offset: int, limit: int
) -> tuple[PostPublic, bool, list[CommentPublic]]:
    if not 0 < post_id <= MAX_ID:
        raise PostNotFound
    params: dict[str, Any] = {"post_id": post_id, "skip": offset, "limit": limit}
    statement = _ANONYMOUS_THREAD
    if viewer_id is not None:
        statement = _VISITORS_THREAD
        params["viewer_id"] = viewer_id
    rows = await statement.rows(db, params)
    # The comments of a post the visitor may not see come back without it (a
    # draft's row is not read for anyone else), and are dropped with it.
    if not rows or rows[0].kind != 0:
        raise PostNotFound
    first, *others = rows
    found = [
        CommentPublic.model_construct(
            id=row[0],
            post_id=post_id,
            content=row[2],
            content_html=row[13],
            created_at=row[4],
            author=UserPublic.model_construct(id=row[6], username=row[9], created_at=row[10]),
        )
        for row in others
    ]
    return posts.as_public(tuple(first)[: posts.POST_COLUMNS]), bool(first.liked), found


async def add(
    db: AsyncSession, *, post_id: int, author_id: int, data: CommentCreate
) -> CommentPublic:
    """Comment on a post the author can see, and tell its owner, then the
    people it mentions. PostNotFound if the post is gone or a draft of someone
    else. The same text resent within REPEAT_WINDOW gives back the first
    comment instead of a second."""
    now = utcnow()
    written = await mentions.render(db, data.content, "comment")

    async def write() -> CommentPublic:
        post = await posts.lock_post(db, post_id)
        if not post.visible_to(author_id):
            raise PostNotFound
        repeated = select(col(Comment.id)).where(
            col(Comment.post_id) == post_id,
            col(Comment.author_id) == author_id,
            col(Comment.content) == data.content,
            col(Comment.created_at) > now - REPEAT_WINDOW,
        )
        comment_id = (await db.exec(repeated.limit(1))).first()
        if comment_id is None:
            added = insert(Comment).values(
                content=data.content,
                content_html=written.rendered.html,
                excerpt=written.rendered.excerpt,
                post_id=post_id,
                author_id=author_id,
                created_at=now,
            )
            comment_id = (await db.exec(added.returning(col(Comment.id)))).scalar_one()
            await _count(db, post_id, +1)
            await notifications.notify_once_unread(
                db, post.owner_id, "comment", author_id, post_id=post_id, comment_id=comment_id
            )
            # Last: whoever was told of this comment already is not told again;
            # and nobody of a comment under a draft, which they cannot read.
            mentioned = [who for who in written.rendered.mentioned if who != post.owner_id]
            told = mentions.tell_of_comment(mentioned, author_id, post_id, comment_id)
            if told is not None and post.published:
                await db.exec(told)
        # Read in the transaction: once it commits, the post (and the comment
        # with it) may be deleted at any moment.
        return as_public((await db.exec(WITH_AUTHOR.where(col(Comment.id) == comment_id))).one())

    try:
        return await transaction(db, write)
    except IntegrityError:  # the author's account went meanwhile (the post is locked)
        raise UserNotFound from None


@dataclass(frozen=True)
class CommentRef:
    """A comment with what deciding about it needs: its author, its post's owner."""

    id: int
    post_id: int
    author_id: int
    post_owner_id: int
    created_at: datetime


async def find(db: AsyncSession, comment_id: int, viewer_id: int | None) -> CommentRef:
    """The comment, if the viewer can see its post; else CommentNotFound."""
    row = None
    if 0 < comment_id <= MAX_ID:
        # Five columns, one more than SQLModel's `select` has signatures for.
        statement: Select[*tuple[Any, ...]] = (
            Select(
                col(Comment.id),
                col(Comment.post_id),
                col(Comment.author_id),
                col(Post.owner_id).label("post_owner_id"),
                col(Comment.created_at),
            )
            .join(Post, col(Post.id) == col(Comment.post_id))
            .where(
                col(Comment.id) == comment_id,
                posts.visible_to(viewer_id),
                shown_to(viewer_id),
            )
        )
        row = (await db.exec(statement)).first()
    if row is None:
        raise CommentNotFound
    return CommentRef(*row)


async def get_deletable(db: AsyncSession, comment_id: int, user_id: int) -> CommentRef:
    """The one rule of deleting a comment: its author or its post's owner may.
    CommentNotFound if invisible, NotCommentAuthor (403) for anyone else."""
    comment = await find(db, comment_id, user_id)
    if user_id not in (comment.author_id, comment.post_owner_id):
        raise NotCommentAuthor
    return comment


async def delete_comment(db: AsyncSession, comment: CommentRef) -> None:
    """Delete it (its notification goes with it, by cascade) and count it out.
    Deleting what is already gone changes nothing, and is not an error."""

    async def write() -> None:
        try:
            await posts.lock_post(db, comment.post_id)
        except PostNotFound:
            return  # the post went, and its comments with it
        statement = delete(Comment).where(col(Comment.id) == comment.id)
        gone = (await db.exec(statement.returning(col(Comment.hidden)))).first()
        if gone is not None and gone[0] is None:  # a hidden comment was not counted
            await _count(db, comment.post_id, -1)

    await transaction(db, write)
    taken_away()


# What finding a comment's page needs: a CommentPublic or a CommentRef.
Locatable = CommentPublic | CommentRef


async def page_showing(db: AsyncSession, comment: Locatable) -> int:
    """The page of its post's comments that shows this one."""
    before = (
        select(func.count())
        .select_from(Comment)
        .where(
            col(Comment.post_id) == comment.post_id,
            or_(
                col(Comment.created_at) < comment.created_at,
                and_(col(Comment.created_at) == comment.created_at, col(Comment.id) < comment.id),
            ),
        )
    )
    return (await db.exec(before)).one() // page_sizes.COMMENTS + 1


async def _count(db: AsyncSession, post_id: int, change: int) -> None:
    await db.exec(
        update(Post).where(col(Post.id) == post_id).values(comments=col(Post.comments) + change)
    )


def count_down_for_author(author_id: int | None) -> Update:
    """The statement that takes a departing author's comments out of the counts
    of the posts they commented on (an account deletion, `webapp.rules.accounts`,
    before the database cascades the comments away)."""
    theirs = (
        select(func.count())
        .select_from(Comment)
        .where(col(Comment.post_id) == col(Post.id), col(Comment.author_id) == author_id, SHOWN)
        .scalar_subquery()
    )
    commented = select(col(Comment.post_id)).where(col(Comment.author_id) == author_id)
    return (
        update(Post).where(col(Post.id).in_(commented)).values(comments=col(Post.comments) - theirs)
    )
