"""The limits counted in a sliding window (failed logins, registrations,
mails asked for): how long until one more may be made, from the rows that
recorded the last ones. One query and one sum for every limit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Mapped
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar


def last_times(
    created_at: Mapped[datetime],
    *conditions: ColumnElement[bool],
    since: datetime,
    limit: int,
) -> SelectOfScalar[datetime]:
    """When the last `limit` rows matching `conditions` were made, newest
    first, of those made after `since`."""
    return (
        select(created_at)
        .where(*conditions, created_at > since)
        .order_by(created_at.desc())
        .limit(limit)
    )


def seconds_until_free(
    times: Sequence[datetime], *, limit: int, window: timedelta, now: datetime
) -> int | None:
    """None while fewer than `limit` were made in the window; else the seconds
    until the oldest of the last `limit` leaves it (at least 1)."""
    if len(times) < limit:
        return None
    return max(1, math.ceil((times[-1] + window - now).total_seconds()))


async def wait(
    db: AsyncSession,
    created_at: Mapped[datetime],
    *conditions: ColumnElement[bool],
    limit: int,
    window: timedelta,
    now: datetime,
) -> int | None:
    """`seconds_until_free` for the rows matching `conditions`: one statement."""
    statement = last_times(created_at, *conditions, since=now - window, limit=limit)
    times = list(await db.exec(statement))
    return seconds_until_free(times, limit=limit, window=window, now=now)
