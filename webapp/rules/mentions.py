"""Text as it is written: rendered once (`webapp.rules.markup`), its `@names`
looked up, and the people it mentions told.

A published post or a comment that mentions someone tells them once
(`kind` "mention"), never themselves; a draft tells nobody until it is
published, and an edit tells only those not yet told of that post. A comment
tells nobody twice: whoever already heard of that comment (its post's owner,
the author of the comment it answers) is not told of the mention too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Insert, and_, exists, func, insert, literal, not_, null, update
from sqlalchemy import select as select_rows
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.db import Link
from webapp.models import Comment, Notification, Post, User, UTCDateTime, utcnow
from webapp.rules import markup


async def known_accounts(db: AsyncSession | Link, names: Sequence[str]) -> dict[str, int]:
    """Which of these lower-case names are accounts (name → id): one statement,
    none when there are no names."""
    if not names:
        return {}
    statement = select(func.lower(col(User.username)), col(User.id)).where(
        func.lower(col(User.username)).in_(list(names))
    )
    return {name: user_id for name, user_id in await db.exec(statement) if user_id is not None}


@dataclass(frozen=True)
class Written:
    """A text rendered for saving, with what it mentions and tags."""

    parsed: markup.Parsed
    rendered: markup.Rendered


# Characters of a text rendered on the event loop itself. The most hostile
# Markdown this short takes one or two milliseconds (measured under load); a
# plain sentence takes a fraction of one, less than its two trips to a thread
# and back would cost in wakeups and switches.
ON_LOOP_MAX = 300


async def render(db: AsyncSession | Link, source: str, kind: markup.Kind) -> Written:
    """Render a text on a thread of its own: a long or hostile one takes tens of
    milliseconds of Markdown, which on the event loop would hold up every
    other request of the worker meanwhile. A short one is rendered at once."""
    if len(source) <= ON_LOOP_MAX:
        parsed = markup.parse(source, kind)
        users = await known_accounts(db, parsed.mentions)
        return Written(parsed, parsed.render(users))
    parsed = await asyncio.to_thread(markup.parse, source, kind)
    users = await known_accounts(db, parsed.mentions)
    rendered = await asyncio.to_thread(parsed.render, users)
    return Written(parsed, rendered)


def tell_of_post(mentioned: Sequence[int], actor_id: int, post_id: int) -> Insert | None:
    """The statement telling these people that the post mentions them, each
    once for the post (a later edit tells only the others), the author never."""
    return _tell(mentioned, actor_id, post_id, None)


def tell_of_comment(
    mentioned: Sequence[int], actor_id: int, post_id: int, comment_id: int
) -> Insert | None:
    """The statement telling these people that a comment mentions them, but
    not who was already told of that comment (a reply, a comment on their
    post), nor its author."""
    return _tell(mentioned, actor_id, post_id, comment_id)


def _tell(
    mentioned: Sequence[int], actor_id: int, post_id: int, comment_id: int | None
) -> Insert | None:
    recipients = [user_id for user_id in dict.fromkeys(mentioned) if user_id != actor_id]
    if not recipients:
        return None
    told = select(col(Notification.id)).where(col(Notification.recipient_id) == col(User.id))
    if comment_id is None:
        told = told.where(
            col(Notification.kind) == "mention",
            col(Notification.post_id) == post_id,
            col(Notification.comment_id).is_(None),
        )
    else:
        told = told.where(col(Notification.comment_id) == comment_id)
    rows = select_rows(
        col(User.id),
        literal("mention"),
        literal(actor_id),
        literal(post_id),
        null() if comment_id is None else literal(comment_id),
        literal(utcnow(), UTCDateTime()),
        literal(False),
    ).where(and_(col(User.id).in_(recipients), not_(exists(told))))
    return insert(Notification).from_select(
        ["recipient_id", "kind", "actor_id", "post_id", "comment_id", "created_at", "read"], rows
    )


async def unlink(db: AsyncSession, user_id: int) -> None:
    """Inside an account's deletion: the mentions of it in other people's
    posts and comments (rendered when they were written) become plain text
    again, as a name nobody has renders, rather than links to a profile that
    is gone. A name taken later by someone else does not link to them either:
    they were not the one mentioned. Two statements to find the texts (each
    reads every text: deletions are rare), one to change each found."""
    link = f'<a href="/users/{int(user_id)}">'
    mention = re.compile(re.escape(link) + r"(@[^<]*)</a>")
    for table, owner in ((Post, Post.owner_id), (Comment, Comment.author_id)):
        found = select(col(table.id), col(table.content_html)).where(
            col(table.content_html).contains(link, autoescape=True), col(owner) != user_id
        )
        for row_id, html in list(await db.exec(found)):
            plain = mention.sub(r"\1", html)
            if plain != html:
                await db.exec(
                    update(table).where(col(table.id) == row_id).values(content_html=plain)
                )
