"""When the sessions of one worker's sockets end, so that their sockets close
then, on every host, with no message between hosts: each host read the end of
every session it holds a socket of at the handshake, and a session's end
never moves.

One heap of ends and one timer for the earliest, not a task per socket: an
idle socket holds no task (`webapp.live.hub`).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from datetime import datetime

from webapp.models import utcnow

# The loop's timer may wake a hair before its time: what ends within this many
# seconds is over.
SLACK = 0.01


class SessionEnds:
    """The ends of the sessions of a worker's sockets; calls `expired` with a
    session's id at its end (in the loop that last set the timer)."""

    def __init__(self, expired: Callable[[int], None]) -> None:
        self.expired = expired
        # In the loop's time, by session, and as a heap whose earliest entry the
        # timer waits for. An entry whose session has left is dropped when it
        # comes up, or when such entries outnumber the others.
        self._end_of: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def add(self, session_id: int, expires_at: datetime) -> None:
        """A socket of this session joined (nothing to do when another of its
        sockets is here already)."""
        if session_id in self._end_of:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + (expires_at - utcnow()).total_seconds()
        self._end_of[session_id] = when
        heapq.heappush(self._heap, (when, session_id))
        self._arm(loop)

    def discard(self, session_id: int) -> None:
        """The last socket of this session here has left."""
        self._end_of.pop(session_id, None)
        if len(self._heap) > 2 * len(self._end_of) + 64:
            self._heap = [(when, session) for session, when in self._end_of.items()]
            heapq.heapify(self._heap)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Set the one timer for the earliest end, unless it is set for it already."""
        if not self._heap:
            return
        when = self._heap[0][0]
        timer = self._timer
        if timer is not None:
            if self._timer_loop is loop and not timer.cancelled() and timer.when() <= when:
                return
            timer.cancel()
        self._timer = loop.call_at(when, self._fire)
        self._timer_loop = loop

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + SLACK
        while self._heap and self._heap[0][0] <= now:
            when, session_id = heapq.heappop(self._heap)
            if self._end_of.get(session_id) != when:
                continue  # its sockets have left
            del self._end_of[session_id]
            self.expired(session_id)
        self._arm(loop)
