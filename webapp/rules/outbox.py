"""The outbox: mails as rows (`OutboxMail`), put in by the requests that ask
for them, in their own transaction, and sent by the postman of any worker of
any host (`webapp.core.mail.Postman`, through `Outbox`).

A worker takes one due row at a time for `LEASE` seconds: on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so that workers never wait on each other's rows; on
SQLite as its one writer. A row whose mail the server took is deleted at
once; a refused one is tried again later; one whose worker died (killed
mid-send) is taken again when its lease ends, so a mail is lost by no stop
and sent twice only if a worker dies between the server's "taken" and the
row's deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core.mail import Letter, Mail
from webapp.models import OutboxMail, utcnow

MAIL, RESET = "mail", "reset"
# Seconds a worker holds a row it is sending: more than an SMTP exchange's
# few timeouts, so that a slow server's mail is not sent twice.
LEASE = 120.0

T = TypeVar("T")


class Transactions(Protocol):
    """`work` run as one transaction, its answer handed back
    (`webapp.core.db.transaction_in_thread` on an engine)."""

    def __call__(self, work: Callable[[Connection], T]) -> T: ...


# What a reset row becomes when it is due (`webapp.rules.mail_links`): the
# mail to send, made in the given transaction, or None (no account, or the
# address's mails of the hour all sent).
ResetMail = Callable[[Connection, str], Mail | None]


async def put(db: AsyncSession, mails: Iterable[Mail]) -> None:
    """Keep `mails` to be sent, in the caller's transaction."""
    rows = [{"kind": MAIL, "address": m.to, "subject": m.subject, "body": m.body} for m in mails]
    if rows:
        now = utcnow()
        await db.exec(insert(OutboxMail).values([{**row, **_new(now)} for row in rows]))


async def put_reset(db: AsyncSession, address: str, delay: float) -> None:
    """A password reset asked for `address`, to be looked into `delay`
    seconds from now: the same row whether or not an account has it."""
    now = utcnow()
    values = {**_new(now), "due_at": now + timedelta(seconds=delay)}
    await db.exec(insert(OutboxMail).values(kind=RESET, address=address, **values))


def _new(now: datetime) -> dict[str, object]:
    return {"created_at": now, "due_at": now, "attempts": 0}


class Outbox:
    """The postman's side of the table (`webapp.core.mail.Store`): each call
    is a transaction of its own, on the sync engine of the postman's thread."""

    def __init__(self, run: Transactions, reset_mail: ResetMail) -> None:
        self._run = run
        self._reset_mail = reset_mail

    def claim(self) -> Letter | None:
        def work(db: Connection) -> Letter | None:
            now = utcnow()
            due = (
                select(col(OutboxMail.id))
                .where(
                    col(OutboxMail.due_at) <= now,
                    col(OutboxMail.gave_up_at).is_(None),
                    or_(
                        col(OutboxMail.locked_until).is_(None),
                        col(OutboxMail.locked_until) < now,
                    ),
                )
                .order_by(col(OutboxMail.due_at))
                .limit(1)
            )
            if db.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            row = db.execute(
                update(OutboxMail)
                .where(col(OutboxMail.id) == due.scalar_subquery())
                .values(locked_until=now + timedelta(seconds=LEASE))
                .returning(
                    col(OutboxMail.id),
                    col(OutboxMail.kind),
                    col(OutboxMail.address),
                    col(OutboxMail.subject),
                    col(OutboxMail.body),
                    col(OutboxMail.attempts),
                )
            ).first()
            return None if row is None else Letter(**row._mapping)

        return self._run(work)

    def open(self, letter: Letter) -> Mail | None:
        """The mail of a taken row. A reset's is made now, with its link, and
        kept in the row in the same transaction, so that a retry sends the
        same link; a reset that sends nothing leaves no row."""
        if letter.kind != RESET:
            return Mail(letter.address, letter.subject, letter.body)

        def work(db: Connection) -> Mail | None:
            mail = self._reset_mail(db, letter.address)
            where = col(OutboxMail.id) == letter.id
            if mail is None:
                db.execute(delete(OutboxMail).where(where))
                return None
            db.execute(
                update(OutboxMail)
                .where(where)
                .values(kind=MAIL, address=mail.to, subject=mail.subject, body=mail.body)
            )
            return mail

        return self._run(work)

    def sent(self, letter: Letter) -> None:
        statement = delete(OutboxMail).where(col(OutboxMail.id) == letter.id)
        self._run(lambda db: db.execute(statement))

    def retry(self, letter: Letter, reason: str, after: float) -> None:
        due = utcnow() + timedelta(seconds=after)
        self._change(letter, attempts=letter.attempts + 1, last_error=reason, due_at=due)

    def give_up(self, letter: Letter, reason: str) -> None:
        now = utcnow()
        self._change(letter, attempts=letter.attempts + 1, last_error=reason, gave_up_at=now)

    def _change(self, letter: Letter, **values: object) -> None:
        statement = (
            update(OutboxMail)
            .where(col(OutboxMail.id) == letter.id)
            .values(locked_until=None, **values)
        )
        self._run(lambda db: db.execute(statement))

    def waiting(self) -> tuple[int, float | None]:
        """The rows still to send (not given up), and the seconds until the
        next one that no worker holds is due (None: none)."""

        def work(db: Connection) -> tuple[int, float | None]:
            now = utcnow()
            open_rows = col(OutboxMail.gave_up_at).is_(None)
            count = db.execute(
                select(func.count()).select_from(OutboxMail).where(open_rows)
            ).scalar_one()
            free = or_(col(OutboxMail.locked_until).is_(None), col(OutboxMail.locked_until) < now)
            first = db.execute(
                select(func.min(col(OutboxMail.due_at))).where(open_rows, free)
            ).scalar_one()
            return count, None if first is None else (first - now).total_seconds()

        return self._run(work)
