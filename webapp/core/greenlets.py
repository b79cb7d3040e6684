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

    def _serve(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        while True:
            try:
                done = _Done(fn(*args), None)
            except Exception as error:
                done = _Done(None, error)
            del fn, args  # nothing of this call's is kept while it waits for the next
            # Dropped while waiting here, the greenlet ends with GreenletExit.
            fn, args = self.parent.switch(done)


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
