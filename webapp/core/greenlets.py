"""SQLAlchemy's `greenlet_spawn`, on greenlets that are kept for the next
call: for the pool's checkout, which every uncached page runs once.

`greenlet_spawn` makes a new greenlet for each call, and a new greenlet's
first Python frame takes a fresh 16 KiB chunk of frame stack from the kernel
(an `mmap`, given back with a `munmap` when it ends, and its page faults
between): for a checkout that nearly always finds a connection idle in the
pool and never waits, that was more than the checkout's own Python. A kept
greenlet keeps its chunk.

The protocol is `greenlet_spawn`'s: the function runs in the greenlet, and
each `await_` inside it switches back here with the awaitable, which is
awaited on the caller's task and its result (or exception: a cancellation
too) sent back in. A greenlet whose function ended with anything but a
result or an `Exception` is dropped, not kept.

One that is not kept (`KEPT` are already) is ended before it is let go.
Dropped while it waits for its next call, a greenlet was never freed: the
collector does not reclaim a suspended greenlet, and each held its frame
stack and its slice of the C stack. Every checkout beyond `KEPT` waiting at
once left one behind: likes at 64 connections, about 30 in flight in each
worker against a pool of 10, grew a worker by 2 MB every 10 seconds.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet  # type: ignore[import-untyped]  # no stubs

T = TypeVar("T")

# At most this many kept for each thread (an event loop runs its requests in
# one): as many checkouts as wait at once, at most.
KEPT = 8


class _Done:
    """What a kept greenlet hands back when its function has ended: a
    result, or the `Exception` it raised (anything else ends the greenlet)."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: Exception | None) -> None:
        self.value = value
        self.error = error


class _Kept(greenlet):
    """A greenlet that runs one function after another, each call's
    `(fn, args)` switched in, its `_Done` switched out."""

    # What SQLAlchemy's `await_` looks for: a greenlet whose parent awaits.
    __sqlalchemy_greenlet_provider__ = True

    def __init__(self) -> None:
        super().__init__(self._serve)

    def _serve(self, fn: Callable[..., Any] | None, args: tuple[Any, ...]) -> None:
        while fn is not None:  # None: end (`_end`)
            try:
                done = _Done(fn(*args), None)
            except Exception as error:
                done = _Done(None, error)
            del fn, args  # nothing of this call's is kept while it waits for the next
            fn, args = self.parent.switch(done)

    def _end(self) -> None:
        """Let the function return, from where it waits for its next call."""
        self.switch(None, ())


_local = threading.local()


async def run_kept(fn: Callable[..., T], *args: Any) -> T:
    """`await greenlet_spawn(fn, *args)`, on a kept greenlet of this thread."""
    kept: list[_Kept] = _local.__dict__.setdefault("kept", [])
    runner = kept.pop() if kept else _Kept()
    runner.parent = getcurrent()
    runner.gr_context = runner.parent.gr_context  # as greenlet_spawn: the caller's context
    result = runner.switch(fn, args)
    while not isinstance(result, _Done):
        try:
            value = await result
        except BaseException:
            result = runner.throw(*sys.exc_info())
        else:
            result = runner.switch(value)
    if len(kept) < KEPT:
        kept.append(runner)
    else:
        runner._end()
    # The greenlet holds `result` and its context while it waits for its next
    # call, perhaps long after this one: emptied, neither keeps this call's
    # result alive (a pool's connection), nor its error (whose traceback
    # holds every frame of the request it went through), nor its contextvars.
    returned: T = result.value
    error = result.error
    result.value = result.error = None
    runner.gr_context = None
    if error is not None:
        try:
            raise error
        finally:
            del error  # this frame, in the error's traceback, holds no cycle
    return returned
