"""Confirmed addresses: with REQUIRE_CONFIRMED_EMAIL, a new account opens a
link mailed to it before it posts, comments, likes, follows or reports.

The link is one of `webapp.rules.mail_links`' (a token whose hash alone is
kept, bound to the account's address and security stamp, used once), of the
purpose `confirm`, good for a day. It is mailed at registration, and again
on asking, `MAILS_PER_HOUR` times an hour in all (the first included),
counted in `mail_requests` after locking the account's row, so racing asks
count one after another. An address changed through its own link is
confirmed by that link.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.config import Settings
from webapp.core.db import transaction
from webapp.core.mail import Mail, Postman, render
from webapp.core.security import new_token
from webapp.errors import EmailNotConfirmed, TooManyConfirmationMails, UserNotFound
from webapp.models import MailRequest, MailToken, User, utcnow
from webapp.rules import mail_links, outbox, sliding_window

CONFIRM = "confirm"
LIFETIME = timedelta(hours=24)
MAILS_PER_HOUR = 3
WINDOW = timedelta(hours=1)


def check_may_act(confirmed: bool, *, required: bool) -> None:
    """The one check before a post, a comment, a like, a follow or a report."""
    if required and not confirmed:
        raise EmailNotConfirmed


async def mail_link(db: AsyncSession, user_id: int, site_url: str) -> Mail | None:
    """A new confirmation link for the account, its mail put in the outbox
    (the caller wakes the postman); None when its address is confirmed
    already. TooManyConfirmationMails past the hour's mails."""
    token = new_token()
    key = f"confirm:{user_id}"

    async def store() -> Mail | TooManyConfirmationMails | None:
        account = (
            await db.exec(
                select(
                    col(User.username),
                    col(User.email),
                    col(User.security_stamp),
                    col(User.email_confirmed),
                )
                .where(col(User.id) == user_id)
                .with_for_update(key_share=True)
            )
        ).first()
        if account is None:
            raise UserNotFound
        username, email, stamp, confirmed = account
        if confirmed:
            return None
        now = utcnow()
        wait = await sliding_window.wait(
            db,
            col(MailRequest.created_at),
            col(MailRequest.key) == key,
            limit=MAILS_PER_HOUR,
            window=WINDOW,
            now=now,
        )
        if wait is not None:
            return TooManyConfirmationMails(wait)
        await db.exec(insert(MailRequest).values(key=key, created_at=now))
        row = mail_links.token_row(user_id, CONFIRM, token, LIFETIME)
        await db.exec(insert(MailToken).values(**row, account_email=email, stamp=stamp))
        link = f"{site_url}/confirm-email/{token}"
        mail = render("confirm_email.txt", email, username=username, link=link)
        await outbox.put(db, [mail])  # with its link, or neither
        return mail

    made = await transaction(db, store)
    if isinstance(made, TooManyConfirmationMails):
        raise made
    return made


async def confirm(db: AsyncSession, token: str) -> bool:
    """Confirm the address of the link's account; False for a link that does
    not work (malformed, unknown, used, expired, or made for another address
    or under other credentials). The link is used in the statement that finds
    it valid: opened twice at once, it works once."""
    token_hash = mail_links.hash_of(token)
    if token_hash is None:
        return False

    async def use() -> bool:
        used = await db.exec(
            update(MailToken)
            .where(*mail_links.usable(token_hash, CONFIRM))
            .values(used_at=utcnow())
            .returning(col(MailToken.user_id))
        )
        row = used.first()
        if row is None:
            return False
        await db.exec(update(User).where(col(User.id) == row[0]).values(email_confirmed=True))
        return True

    return await transaction(db, use)


async def mail_at_registration(
    db: AsyncSession, postman: Postman | None, user_id: int, *, settings: Settings
) -> None:
    """A new account's first link, when addresses must be confirmed (both
    doors call it once the account exists; the mail is sent off the request)."""
    if not settings.confirms_email or postman is None:
        return
    if await mail_link(db, user_id, settings.public_url) is not None:
        postman.wake()
