"""Comments: who may write, answer, edit and delete one, how a post's are
threaded and paged.

Comments are threads: a reply answers a comment of the same post, and a page
reads each top-level comment oldest first, each followed by its replies,
depth-first and oldest first at each level. Every comment keeps its thread's
first comment (`root_id`) and the path of ids below it (`path`, written when
it is added), so that order is read off the post's comments' own rows. A deleted
comment with replies stays as a placeholder (no author, no text) that keeps
them in place; without replies it is gone.

A comment hangs from its post: writing or deleting one locks the post's row
first (the lock order of `webapp.rules.likes`), so a comment racing the post's
deletion either lands before it (and goes with it) or finds no post (404), and
the comment count kept on the post row stays exact. A draft's comments are
as invisible as the draft: every read goes through the post's visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    Update,
    and_,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    null,
    or_,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from webapp.core.db import DriverStatement, highest_id, transaction
from webapp.core.paging import CountedPage
from webapp.core.removals import taken_away
from webapp.errors import (
    CommentNotFound,
    NotCommentAuthor,
    NotCommentEditor,
    ParentNotFound,
    PostNotFound,
    ThreadTooDeep,
    TooManyComments,
    UserNotFound,
)
from webapp.models import (
    MAX_DEPTH,
    MAX_ID,
    PATH_STEP,
    USERS,
    Comment,
    CommentCreate,
    CommentEdit,
    CommentPublic,
    Notification,
    NotificationKind,
    Post,
    PostPublic,
    Report,
    ThreadComment,
    User,
    UserPublic,
    built,
    person,
    utcnow,
)
from webapp.rules import (
    mentions,
    notifications,
    page_sizes,
    posts,
    safety,
    sliding_window,
    suspensions,
)
from webapp.rules.safety import Shield

# The same text sent again by the same person on the same post within this
# time is the same comment (a double click, a resent form), not a second one.
REPEAT_WINDOW = timedelta(seconds=10)

# Pages indent replies up to this level; deeper ones show there, saying whom
# they answer.
SHOWN_LEVELS = 4

# A thread reads in the order of its first comment (ROOT: oldest first), then of
# the path of each reply below it: depth-first, oldest first at each level
# (`_threaded` for a page, `page_showing` for the page of one comment).
COMMENTS: Table = Comment.__table__  # type: ignore[attr-defined]  # made with the class
ROOT = COMMENTS.alias("root")
PARENT = COMMENTS.alias("parent")
PARENT_AUTHOR = USERS.alias("parent_author")
# (A path's length is a whole number of steps.)
DEPTH = cast(func.length(col(Comment.path)) / PATH_STEP, Integer) + 1
# A comment that is not a "[deleted]" placeholder.
NOT_DELETED = col(Comment.deleted).is_(False)
# A comment hidden by moderators or by reports is its author's alone to see
# (`webapp.rules.moderation`), as is a suspended person's; every read of
# comments goes through these.
SHOWN = and_(
    col(Comment.hidden).is_(None), col(Comment.author_id).not_in(suspensions.SUSPENDED_IDS)
)
SHOWN_TO_VIEWER = or_(SHOWN, col(Comment.author_id) == posts.VIEWER)
# What the comment count kept on a post's row counts: comments neither deleted
# nor hidden (a suspended person's are taken out as it is read,
# `suspensions.COMMENT_COUNT`, since a suspension ends by itself).
COUNTED = and_(NOT_DELETED, col(Comment.hidden).is_(None))


def shown_to(viewer_id: int | None) -> ColumnElement[bool]:
    return SHOWN if viewer_id is None else or_(SHOWN, col(Comment.author_id) == viewer_id)


def named_in_replies(comment: Any) -> ColumnElement[bool]:
    """Whether the replies to a comment (of `comments`, or an alias of it) say
    whose they answer: not once it is deleted, nor while it is hidden."""
    return and_(comment.c.deleted.is_(False), comment.c.hidden.is_(None))


# More columns than SQLModel's `select` has signatures for (four): the class
# itself, its rows read by position in `as_public`. A comment with its author,
# where it sits in its thread (its depth, read off its path), and the name of
# the author it answers.
WITH_AUTHOR: Select[*tuple[Any, ...]] = (
    Select(
        col(Comment.id),
        col(Comment.post_id),
        col(Comment.content),
        col(Comment.created_at),
        col(User.id).label("author_id"),
        col(User.username).label("author_username"),
        col(User.created_at).label("author_created_at"),
        col(Comment.parent_id),
        col(Comment.edited_at),
        col(Comment.deleted),
        DEPTH.label("depth"),
        PARENT_AUTHOR.c.username.label("replying_to"),
        col(Comment.content_html),
        col(Comment.hidden),
        col(Comment.hidden_reason),
        suspensions.SUSPENDED_NOW.label("author_suspended"),
        col(User.display_name).label("author_display_name"),
        col(User.bio_html).label("author_bio_html"),
        col(User.website).label("author_website"),
        col(User.avatar).label("author_avatar"),
    )
    .join(User, col(User.id) == col(Comment.author_id))
    .outerjoin(PARENT, PARENT.c.id == col(Comment.parent_id))
    .outerjoin(
        PARENT_AUTHOR,
        and_(PARENT_AUTHOR.c.id == PARENT.c.author_id, named_in_replies(PARENT)),
    )
)


def text_values(content: str, written: mentions.Written) -> dict[str, Any]:
    """The columns that hold a comment's text: the text as written, and what
    was made of it (`mentions.render`): the one place that writes them, for a
    new comment and an edit alike."""
    return {
        "content": content,
        "content_html": written.rendered.html,
        "excerpt": written.rendered.excerpt,
    }


def make_public(
    *,
    comment_id: int,
    post_id: int,
    content: str,
    created_at: datetime,
    author: UserPublic,
    parent_id: int | None,
    edited_at: datetime | None,
    deleted: bool,
    depth: int,
    replying_to: str | None,
    html: str,
    removed: bool = False,
    hidden: str | None = None,
    hidden_reason: str | None = None,
    author_suspended: bool = False,
) -> ThreadComment:
    """A comment as it is shown: a deleted one keeps its place, and nothing else
    (no author, no text). One hidden from everyone else that this visitor
    still reads (its author, a moderator) says why."""
    placeholder = bool(deleted) or removed
    return built(
        ThreadComment,
        id=comment_id,
        post_id=post_id,
        content="" if placeholder else content,
        content_html="" if placeholder else html,
        created_at=created_at,
        author=None if placeholder else author,
        parent_id=parent_id,
        edited=edited_at is not None and not placeholder,
        deleted=placeholder,
        depth=int(depth),
        replying_to=replying_to,
        removed=removed and not deleted,
        moderated=None if placeholder else moderated(hidden, hidden_reason, author_suspended),
        blocked=False,
    )


def moderated(hidden: str | None, reason: str | None, author_suspended: bool) -> str | None:
    """Why a post or comment is hidden from everyone but its author and
    moderators (None: it is not)."""
    if hidden == "moderators":
        return f"Hidden by moderators: {reason or 'no reason given'}"
    if hidden is not None:
        return "Hidden pending review: people reported it."
    if author_suspended:
        return "Hidden while its author is suspended."
    return None


def as_public(row: tuple[Any, ...]) -> ThreadComment:
    """A row of `WITH_AUTHOR` as a comment with its author."""
    (
        comment_id,
        post_id,
        content,
        created_at,
        author_id,
        username,
        author_created_at,
        parent_id,
        edited_at,
        deleted,
        depth,
        replying_to,
        html,
        hidden,
        hidden_reason,
        author_suspended,
        *profile,
    ) = row
    return make_public(
        hidden=hidden,
        hidden_reason=hidden_reason,
        author_suspended=bool(author_suspended),
        html=html,
        comment_id=comment_id,
        post_id=post_id,
        content=content,
        created_at=created_at,
        author=person(author_id, username, author_created_at, *profile),
        parent_id=parent_id,
        edited_at=edited_at,
        deleted=deleted,
        depth=depth,
        replying_to=replying_to,
    )


class CommentPage(CountedPage[ThreadComment]):
    """A page of a post's comments in thread order; `total` counts the
    comments of the thread, placeholders included (the pages they fill)."""

    @property
    def comments(self) -> list[ThreadComment]:
        return self.items


@dataclass(frozen=True)
class PostThread:
    """A post's page as one visitor reads it: the post, whether they like it,
    and one page of its comments."""

    post: PostPublic
    liked: bool
    comments: CommentPage


def _nulls_like(columns: list[Any]) -> list[Any]:
    """NULLs standing for these columns in a branch of a union that has none
    of them, typed as they are (the union's first branch types its rows)."""
    return [type_coerce(null(), column.type).label(column.key) for column in columns]


def _page_statement(viewer: bool, moderator: bool = False, *, texts: bool = True) -> Any:
    """A post's page in one statement: the post (with its author, its counts
    and the visitor's like) if the visitor may see it, and beside it every
    comment of the post, flat, each with its author and what the page needs
    to know of it: whether the visitor sees it (moderators see the hidden
    too), whether the post's comment count leaves it out now (shown, by
    someone suspended now: `suspensions.COMMENT_COUNT`; the post's counter is
    read as the row keeps it), and whether its replies name its author.
    `_threaded` puts the comments in thread order and picks the page from
    them: threading, sorting and paging a post's few comments in PostgreSQL
    (a CTE, sorts, a window and a union) cost it several times the reads.
    Rows with a post `id` are the post; the others are its comments (read
    whether or not the post is visible: without the post's row they are
    dropped). Built once for anonymous visitors, once for logged-in ones and
    once for moderators; the values are bound when it runs. Without `texts`,
    the post's and the comments' texts as written are read as '': the page
    shows the HTML made of them, and the anonymous page's statement, the one
    a stream of random posts runs, is spared sending them."""
    author = USERS.alias("author")
    shown: Any = (
        true()
        if moderator
        else and_(col(Comment.hidden).is_(None), suspensions.active(author.c.suspended_until))
    )
    if viewer and not moderator:
        shown = or_(shown, col(Comment.author_id) == posts.VIEWER)
    kept = posts.WITH_OWNER_AS_KEPT if texts else posts.AS_KEPT_WITHOUT_TEXT
    post = kept.add_columns((posts.LIKED_BY_VIEWER if viewer else false()).label("liked")).where(
        col(Post.id) == posts.POST_ID,
        posts.MODERATED_FOR_VIEWER
        if moderator
        else posts.VISIBLE_WITH_OWNER
        if viewer
        else posts.LISTED_WITH_OWNER,
    )
    comment = [
        col(Comment.id).label("comment_id"),
        (col(Comment.content) if texts else posts.EMPTY_TEXT).label("comment_content"),
        col(Comment.created_at).label("comment_created_at"),
        col(Comment.author_id),
        author.c.username.label("author_username"),
        author.c.created_at.label("author_created_at"),
        col(Comment.parent_id),
        col(Comment.root_id),
        col(Comment.path),
        DEPTH.label("depth"),
        col(Comment.edited_at),
        col(Comment.deleted),
        col(Comment.content_html).label("comment_html"),
        col(Comment.hidden).label("comment_hidden"),
        col(Comment.hidden_reason).label("comment_hidden_reason"),
        suspensions.suspended_now(author.c.suspended_until).label("author_suspended"),
        author.c.display_name.label("author_display_name"),
        author.c.bio_html.label("author_bio_html"),
        author.c.website.label("author_website"),
        author.c.avatar.label("author_avatar"),
        shown.label("visible"),
        and_(COUNTED, suspensions.suspended_now(author.c.suspended_until)).label("left_out"),
        named_in_replies(COMMENTS).label("named"),
    ]
    comments: Select[*tuple[Any, ...]] = (
        Select(*_nulls_like(list(post.selected_columns)), *comment)
        .select_from(COMMENTS)
        .join(author, author.c.id == col(Comment.author_id))
        .where(col(Comment.post_id) == posts.POST_ID)
    )
    return union_all(post.add_columns(*_nulls_like(comment)), comments)


_ANONYMOUS_PAGE = DriverStatement(_page_statement(viewer=False, texts=False))
# The API's list of a post's comments shows their texts as written too.
_ANONYMOUS_LIST = DriverStatement(_page_statement(viewer=False))
_VISITORS_PAGE = DriverStatement(_page_statement(viewer=True))
_MODERATORS_PAGE = DriverStatement(_page_statement(viewer=True, moderator=True))


def _threaded(rows: list[Any], skip: int, limit: int) -> tuple[int, int, list[Any]]:
    """A post's comments (rows of `_page_statement`) as its thread lists them:
    how many it lists (the pager's count, placeholders included), how many
    the post's comment count leaves out now, and the rows of one page, in
    thread order (by the time of the thread's first comment, then its id,
    then the path: `page_showing`'s order). A comment the visitor may not see (hidden by
    moderators, or by someone suspended) that has replies keeps their place,
    as "[removed by moderators]"; without replies it is not listed at all."""
    answered = {row.parent_id for row in rows}
    # (A thread's first comment is there as long as any reply below it is:
    # deleting a comment with replies leaves a placeholder.)
    first_at = {row.comment_id: row.comment_created_at for row in rows if row.root_id is None}

    def place(row: Any) -> tuple[datetime, int, str]:
        root = row.comment_id if row.root_id is None else row.root_id
        return first_at[root], root, row.path

    listed = sorted((row for row in rows if row.visible or row.comment_id in answered), key=place)
    left_out = sum(1 for row in rows if row.left_out)
    return len(listed), left_out, listed[skip : skip + limit]


async def thread(
    db: AsyncSession, post_id: int, viewer_id: int | None, *, page: int, moderator: bool = False
) -> PostThread:
    """A post's page for this visitor: one statement. PostNotFound when it is
    gone or a draft of someone else's."""
    offset = (page - 1) * page_sizes.COMMENTS
    post, liked, in_thread, found = await _thread(
        db, post_id, viewer_id, offset, page_sizes.COMMENTS, moderator
    )
    return PostThread(post, liked, CommentPage(found, page, page_sizes.COMMENTS, in_thread))


AnyComment = TypeVar("AnyComment", bound=CommentPublic)


def collapsed(comment: AnyComment, shield: Shield) -> AnyComment:
    """A comment as the reader sees it: by someone they block, collapsed
    without its author or text (pages and the API read, and the page cache
    keeps, comments as everyone sees them; this is the reader's own view)."""
    author = comment.author
    if author is None or author.id not in shield.blocked:
        return comment
    update: dict[str, Any] = {"content": "", "content_html": "", "author": None, "edited": False}
    if "blocked" in type(comment).model_fields:
        update["blocked"] = True
    return comment.model_copy(update=update)


async def list_visible(
    db: AsyncSession,
    post_id: int,
    viewer_id: int | None,
    *,
    offset: int,
    limit: int,
    moderator: bool = False,
) -> list[CommentPublic]:
    """A post's comments in thread order, with their authors, if the viewer may
    see the post: one statement. PostNotFound when they may not."""
    thread = await _thread(db, post_id, viewer_id, offset, limit, moderator, texts=True)
    found: list[CommentPublic] = [*thread[3]]
    return found


async def _thread(
    db: AsyncSession,
    post_id: int,
    viewer_id: int | None,
    offset: int,
    limit: int,
    moderator: bool = False,
    *,
    texts: bool = False,
) -> tuple[PostPublic, bool, int, list[ThreadComment]]:
    """`texts`: an anonymous reader's comments come with their texts as
    written (the API shows them; a page does not: `_page_statement`)."""
    if not 0 < post_id <= MAX_ID:
        raise PostNotFound
    params: dict[str, Any] = {"post_id": post_id}
    statement = _ANONYMOUS_LIST if texts else _ANONYMOUS_PAGE
    if viewer_id is not None:
        statement = _MODERATORS_PAGE if moderator else _VISITORS_PAGE
        params["viewer_id"] = viewer_id
    rows = await statement.rows(db, params)
    post_row = next((row for row in rows if row.id is not None), None)
    if post_row is None:
        raise PostNotFound
    found = [row for row in rows if row.comment_id is not None]
    in_thread, left_out, page = _threaded(found, offset, limit)
    values = tuple(post_row)[: posts.POST_COLUMNS]
    if left_out:
        at = posts.COMMENTS_AT
        values = (*values[:at], max(0, values[at] - left_out), *values[at + 1 :])
    # Who a reply answers: its parent is among the post's comments.
    named = {row.comment_id: row.author_username for row in found if row.named}
    comments = [
        make_public(
            comment_id=row.comment_id,
            post_id=post_id,
            content=row.comment_content,
            created_at=row.comment_created_at,
            author=person(
                row.author_id,
                row.author_username,
                row.author_created_at,
                row.author_display_name,
                row.author_bio_html,
                row.author_website,
                row.author_avatar,
            ),
            parent_id=row.parent_id,
            edited_at=row.edited_at,
            deleted=row.deleted,
            depth=row.depth,
            replying_to=named.get(row.parent_id),
            html=row.comment_html,
            removed=not row.visible,
            hidden=row.comment_hidden,
            hidden_reason=row.comment_hidden_reason,
            author_suspended=bool(row.author_suspended),
        )
        for row in page
    ]
    return posts.as_public(values), bool(post_row.liked), in_thread, comments


async def add(
    db: AsyncSession, *, post_id: int, author_id: int, data: CommentCreate, per_hour: int = 0
) -> ThreadComment:
    """Comment on a post the author can see, or answer a comment on it, and
    tell whom it concerns. PostNotFound if the post is gone or a draft of
    someone else; ParentNotFound (422) for a parent that is not a comment of
    this post; CommentNotFound (404) if the comment answered was one, deleted
    since (a deleted one that keeps a placeholder may still be answered).
    The same text resent within REPEAT_WINDOW gives back the first comment
    instead of a second. The people it mentions are told last.

    A block between the author and the post's owner, or the author of the
    comment answered, is a PostNotFound or a CommentNotFound, as for what the
    author cannot see. TooManyComments when the author wrote `per_hour`
    comments in the last hour (0: no limit): counted after locking the
    author's row, before the post's (the lock order of an account's
    deletion), so racing comments of one person count one after another."""
    written = await mentions.render(db, data.content, "comment")

    async def write() -> ThreadComment:
        await _check_limit(db, author_id, per_hour)
        post = await posts.lock_post(db, post_id, author_id)
        if not post.reachable_by(author_id):
            raise PostNotFound
        now = utcnow()  # under the post's lock: ids and times go up together
        parent = await _parent(db, post_id, data.parent_id, author_id)
        repeated = select(col(Comment.id)).where(
            col(Comment.post_id) == post_id,
            col(Comment.author_id) == author_id,
            col(Comment.content) == data.content,
            col(Comment.parent_id) == data.parent_id
            if data.parent_id is not None
            else col(Comment.parent_id).is_(None),
            NOT_DELETED,
            col(Comment.created_at) > now - REPEAT_WINDOW,
        )
        comment_id = (await db.exec(repeated.limit(1))).first()
        if comment_id is None:
            added = insert(Comment).values(
                **text_values(data.content, written),
                post_id=post_id,
                author_id=author_id,
                created_at=now,
                parent_id=data.parent_id,
                root_id=parent.root_id if parent else None,
            )
            comment_id = (await db.exec(added.returning(col(Comment.id)))).scalar_one()
            if parent is not None:
                await db.exec(
                    update(Comment)
                    .where(col(Comment.id) == comment_id)
                    .values(path=parent.path + path_step(comment_id))
                )
            await _count(db, post_id, +1)
            await tell(
                db,
                post_owner_id=post.owner_id,
                parent_author_id=parent.author_id if parent and parent.shown else None,
                author_id=author_id,
                post_id=post_id,
                comment_id=comment_id,
            )
            # Last: whoever was told of this comment already is not told again;
            # and nobody of a comment under a draft, which they cannot read.
            mentioned = [who for who in written.rendered.mentioned if who != post.owner_id]
            told = mentions.tell_of_comment(mentioned, author_id, post_id, comment_id)
            if told is not None and post.published:
                await db.exec(told)
        # Read in the transaction: once it commits, the post (and the comment
        # with it) may be deleted at any moment.
        return await _read(db, comment_id)

    try:
        return await transaction(db, write)
    except IntegrityError:  # the author's account, or the thread's, went meanwhile
        raise UserNotFound from None


def path_step(comment_id: int) -> str:
    """A comment's part of its replies' paths: its id in base 36, PATH_STEP
    characters (ids only grow, so the paths of siblings sort oldest first)."""
    digits = ""
    while comment_id:
        comment_id, digit = divmod(comment_id, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits.rjust(PATH_STEP, "0")


@dataclass(frozen=True)
class Parent:
    """What a reply takes from the comment it answers."""

    root_id: int
    path: str
    author_id: int
    shown: bool


# Comments are counted over the last hour (COMMENTS_PER_HOUR).
LIMIT_WINDOW = timedelta(hours=1)


async def _check_limit(db: AsyncSession, author_id: int, per_hour: int) -> None:
    if per_hour <= 0:
        return
    await db.exec(
        select(col(User.id)).where(col(User.id) == author_id).with_for_update(key_share=True)
    )
    wait = await sliding_window.wait(
        db,
        col(Comment.created_at),
        col(Comment.author_id) == author_id,
        limit=per_hour,
        window=LIMIT_WINDOW,
        now=utcnow(),
    )
    if wait is not None:
        raise TooManyComments(wait)


async def _parent(
    db: AsyncSession, post_id: int, parent_id: int | None, author_id: int
) -> Parent | None:
    """What a reply takes from the comment it answers. ParentNotFound for no
    comment of this post; CommentNotFound for one deleted since, or by
    someone a block stands between the author and."""
    if parent_id is None:
        return None
    statement: Select[*tuple[Any, ...]] = Select(
        col(Comment.post_id),
        col(Comment.root_id),
        col(Comment.path),
        col(Comment.author_id),
        col(Comment.deleted),
        safety.between(col(Comment.author_id), author_id),
    ).where(col(Comment.id) == parent_id)
    found = (await db.exec(statement)).first() if 0 < parent_id <= MAX_ID else None
    if found is None:
        if await _was_a_comment(db, parent_id):
            raise CommentNotFound
        raise ParentNotFound
    parent_post_id, root_id, path, parent_author_id, deleted, blocked = tuple(found)
    if parent_post_id != post_id:
        raise ParentNotFound
    if blocked and not deleted:
        raise CommentNotFound
    if len(path) // PATH_STEP + 2 > MAX_DEPTH:  # the reply's depth
        raise ThreadTooDeep
    return Parent(
        root_id=root_id if root_id is not None else parent_id,
        path=path,
        author_id=parent_author_id,
        shown=not deleted,
    )


async def tell(
    db: AsyncSession,
    *,
    post_owner_id: int,
    parent_author_id: int | None,
    author_id: int,
    post_id: int,
    comment_id: int,
) -> set[int]:
    """Tell of a new comment: the author of the comment it answers (`reply`),
    then the post's owner (`comment`), each person once, nobody of their own
    comment. Returns who was told, so that a later kind of notification of
    the same comment can pass them by."""
    told: set[int] = set()
    kinds: tuple[tuple[int | None, NotificationKind], ...] = (
        (parent_author_id, "reply"),
        (post_owner_id, "comment"),
    )
    for recipient, kind in kinds:
        if recipient is None or recipient in told or recipient == author_id:
            continue
        await notifications.notify_once_unread(
            db, recipient, kind, author_id, post_id=post_id, comment_id=comment_id
        )
        told.add(recipient)
    return told


async def _read(db: AsyncSession, comment_id: int) -> ThreadComment:
    return as_public((await db.exec(WITH_AUTHOR.where(col(Comment.id) == comment_id))).one())


async def read_visible(
    db: AsyncSession, comment_id: int, viewer_id: int | None, *, moderator: bool = False
) -> tuple[ThreadComment, int]:
    """One comment where it sits in its thread (a placeholder too), with its
    post's owner, if the viewer can see its post: one statement, as the
    post's page shows it to them: one hidden from them (by moderators, or by
    someone suspended) is "[removed by moderators]" when it has replies, else
    CommentNotFound, as when it is gone."""
    row = None
    if 0 < comment_id <= MAX_ID:
        reply = COMMENTS.alias("reply")
        seen: Any = true() if moderator and viewer_id is not None else shown_to(viewer_id)
        statement: Any = (
            WITH_AUTHOR.add_columns(
                col(Post.owner_id), seen, exists().where(reply.c.parent_id == col(Comment.id))
            )
            .join(Post, col(Post.id) == col(Comment.post_id))
            .where(
                col(Comment.id) == comment_id,
                posts.get_visible_condition(viewer_id, moderator=moderator),
            )
        )
        row = (await db.exec(statement)).first()
    if row is None:
        raise CommentNotFound
    *comment, post_owner_id, shown, has_replies = tuple(row)
    if not shown and not has_replies:
        raise CommentNotFound
    found = as_public(tuple(comment))
    if not shown:
        found = make_public(
            comment_id=found.id,
            post_id=found.post_id,
            content="",
            created_at=found.created_at,
            author=UserPublic.model_construct(),
            parent_id=found.parent_id,
            edited_at=None,
            deleted=found.deleted,
            depth=found.depth,
            replying_to=found.replying_to,
            html="",
            removed=True,
        )
    return found, post_owner_id


@dataclass(frozen=True)
class Editable:
    """A comment its author may edit: its text, and the title of its post."""

    id: int
    content: str
    post_title: str


async def editable(db: AsyncSession, comment_id: int, user_id: int) -> Editable:
    """The one rule of editing a comment: its author alone may (NotCommentEditor,
    403, for anyone else; CommentNotFound if invisible or deleted)."""
    row = None
    if 0 < comment_id <= MAX_ID:
        statement = (
            select(col(Comment.author_id), col(Comment.content), col(Post.title))
            .join(Post, col(Post.id) == col(Comment.post_id))
            .where(
                col(Comment.id) == comment_id,
                NOT_DELETED,
                posts.visible_to(user_id),
            )
        )
        row = (await db.exec(statement)).first()
    if row is None:
        raise CommentNotFound
    author_id, content, title = row
    if author_id != user_id:
        raise NotCommentEditor
    return Editable(comment_id, content, title)


@dataclass(frozen=True)
class CommentRef:
    """A comment with what deciding about it needs: its author, its post's owner,
    where it sits (its thread, its path) and whether it is deleted."""

    id: int
    post_id: int
    author_id: int
    post_owner_id: int
    created_at: datetime
    parent_id: int | None
    root_id: int | None
    path: str
    deleted: bool


async def find(
    db: AsyncSession, comment_id: int, viewer_id: int | None, *, placeholders: bool = True
) -> CommentRef:
    """The comment, if the viewer can see its post and it is not gone (nor a
    placeholder, without `placeholders`); else CommentNotFound."""
    row = None
    if 0 < comment_id <= MAX_ID:
        # More columns than SQLModel's `select` has signatures for.
        statement: Select[*tuple[Any, ...]] = (
            Select(
                col(Comment.id),
                col(Comment.post_id),
                col(Comment.author_id),
                col(Post.owner_id).label("post_owner_id"),
                col(Comment.created_at),
                col(Comment.parent_id),
                col(Comment.root_id),
                col(Comment.path),
                col(Comment.deleted),
            )
            .join(Post, col(Post.id) == col(Comment.post_id))
            .where(
                col(Comment.id) == comment_id,
                true() if placeholders else NOT_DELETED,
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
    CommentNotFound if invisible or deleted, NotCommentAuthor (403) for anyone
    else."""
    comment = await find(db, comment_id, user_id, placeholders=False)
    if user_id not in (comment.author_id, comment.post_owner_id):
        raise NotCommentAuthor
    return comment


async def edit(db: AsyncSession, comment_id: int, user_id: int, data: CommentEdit) -> ThreadComment:
    """Change a comment's text, by the rule of `editable`. A changed text is
    marked edited; the same text again changes nothing."""
    comment = await find(db, comment_id, user_id, placeholders=False)
    if comment.author_id != user_id:
        raise NotCommentEditor
    written = await mentions.render(db, data.content, "comment")

    async def write() -> ThreadComment:
        post = await posts.lock_post(db, comment.post_id)
        changed = (
            update(Comment)
            .where(
                col(Comment.id) == comment_id,
                NOT_DELETED,
                col(Comment.content) != data.content,
            )
            .values(**text_values(data.content, written), edited_at=utcnow())
            .returning(col(Comment.id))
        )
        if (await db.exec(changed)).first() is not None and post.published:
            # Only the people it newly mentions: whoever was told of this
            # comment before (a mention, a reply, a comment) is not told again.
            told = mentions.tell_of_comment(
                written.rendered.mentioned, user_id, comment.post_id, comment_id
            )
            if told is not None:
                await db.exec(told)
        found = (
            await db.exec(WITH_AUTHOR.where(col(Comment.id) == comment_id, NOT_DELETED))
        ).first()
        if found is None:
            raise CommentNotFound  # deleted meanwhile
        return as_public(tuple(found))

    edited = await transaction(db, write)
    taken_away()  # the text readers saw is gone
    return edited


async def delete_comment(db: AsyncSession, comment: CommentRef) -> None:
    """Delete it: with replies it stays as a placeholder that keeps them in
    place, without them it is gone (and so is a placeholder above it that
    it was the last reply of). Either way its notifications go and it is
    counted out. Deleting what is already deleted changes nothing, and is
    not an error."""

    async def write() -> None:
        try:
            await posts.lock_post(db, comment.post_id)
        except PostNotFound:
            return  # the post went, and its comments with it
        if await _has_replies(db, comment.id):
            statement: Any = (
                update(Comment)
                .where(col(Comment.id) == comment.id, NOT_DELETED)
                .values(deleted=True, content="", content_html="", excerpt="")
            )
            await db.exec(delete(Notification).where(col(Notification.comment_id) == comment.id))
            # As a deleted row's reports go with it (a trigger): nothing is left to judge.
            await db.exec(
                delete(Report).where(
                    col(Report.target_type) == "comment", col(Report.target_id) == comment.id
                )
            )
        else:  # its notifications go with it, by cascade
            statement = delete(Comment).where(col(Comment.id) == comment.id, NOT_DELETED)
        gone = (await db.exec(statement.returning(col(Comment.hidden)))).first()
        if gone is None:
            return  # deleted meanwhile
        if gone[0] is None:  # a hidden comment was not counted
            await _count(db, comment.post_id, -1)
        parent_id = comment.parent_id
        while parent_id is not None:
            parent_id = await _clear_placeholder(db, parent_id)

    await transaction(db, write)
    taken_away()


async def _has_replies(db: AsyncSession, comment_id: int) -> bool:
    replies = select(col(Comment.id)).where(col(Comment.parent_id) == comment_id)
    return (await db.exec(replies.limit(1))).first() is not None


async def _clear_placeholder(db: AsyncSession, comment_id: int) -> int | None:
    """A placeholder whose last reply went goes too; its parent is next."""
    if await _has_replies(db, comment_id):
        return None
    gone = (
        delete(Comment)
        .where(col(Comment.id) == comment_id, col(Comment.deleted).is_(True))
        .returning(col(Comment.parent_id))
    )
    row = (await db.exec(gone)).first()
    return None if row is None else row[0]


async def _was_a_comment(db: AsyncSession, comment_id: int) -> bool:
    """Whether this id was given to a comment once (ids are never given twice):
    a reply to one deleted since is told it is gone, not that it never was."""
    if not 0 < comment_id <= MAX_ID:
        return False
    return comment_id <= await highest_id(db, "comments")


# What finding a comment's page needs: a comment as shown, or a CommentRef.
Locatable = ThreadComment | CommentRef


async def page_showing(db: AsyncSession, comment: Locatable) -> int:
    """The page of its post's comments that shows this one: how many come
    before it in thread order, in one statement."""
    target = COMMENTS.alias("target")
    target_root = COMMENTS.alias("target_root")
    before = (
        select(func.count())
        .select_from(Comment)
        .join(ROOT, ROOT.c.id == func.coalesce(col(Comment.root_id), col(Comment.id)))
        .join(target, target.c.id == comment.id)
        .join(target_root, target_root.c.id == func.coalesce(target.c.root_id, target.c.id))
        .where(
            col(Comment.post_id) == comment.post_id,
            or_(
                ROOT.c.created_at < target_root.c.created_at,
                and_(
                    ROOT.c.created_at == target_root.c.created_at,
                    or_(
                        ROOT.c.id < target_root.c.id,
                        and_(ROOT.c.id == target_root.c.id, col(Comment.path) < target.c.path),
                    ),
                ),
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
    before the database cascades the comments away, and the replies below
    them with them): every shown comment of theirs, or below one of theirs."""
    theirs = COMMENTS.alias("theirs")
    below_theirs = (
        select(theirs.c.id)
        .where(
            theirs.c.author_id == author_id,
            theirs.c.post_id == col(Comment.post_id),
            func.coalesce(theirs.c.root_id, theirs.c.id)
            == func.coalesce(col(Comment.root_id), col(Comment.id)),
            func.substr(col(Comment.path), 1, func.length(theirs.c.path)) == theirs.c.path,
        )
        .exists()
    )
    going = (
        select(func.count())
        .select_from(Comment)
        .where(col(Comment.post_id) == col(Post.id), COUNTED, below_theirs)
        .scalar_subquery()
    )
    commented = select(col(Comment.post_id)).where(col(Comment.author_id) == author_id)
    return (
        update(Post).where(col(Post.id).in_(commented)).values(comments=col(Post.comments) - going)
    )
