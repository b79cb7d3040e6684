"""The pool's checkout runs on kept greenlets (`webapp.core.greenlets`): as
`greenlet_spawn` for what it runs (results, errors, `await_` inside,
several at once, a cancellation), with a greenlet kept for the next call
only when its function ended with a result or an `Exception`, and no
greenlet left behind beyond those kept."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from sqlalchemy.util.concurrency import await_

from tests.support.app import on_own_loop
from webapp.core import greenlets
from webapp.core.greenlets import run_kept


def waits(value: int) -> int:
    return await_(asyncio.sleep(0.01, result=value * 2))


def refuses() -> None:
    raise ValueError("refused")


def waits_then_refuses() -> None:
    await_(asyncio.sleep(0))
    raise KeyError("gone")


def kept() -> list[object]:
    found: list[object] = greenlets._local.__dict__.get("kept", [])
    return found


def test_a_call_runs_as_greenlet_spawn_runs_it() -> None:
    async def calls() -> None:
        assert await run_kept(len, "four") == 4
        assert await run_kept(waits, 3) == 6
        with pytest.raises(ValueError, match="refused"):
            await run_kept(refuses)
        with pytest.raises(KeyError):
            await run_kept(waits_then_refuses)
        assert await asyncio.gather(run_kept(waits, 1), run_kept(waits, 2), run_kept(len, "x")) == [
            2,
            4,
            1,
        ]

    on_own_loop(calls())


def test_the_next_call_takes_the_greenlet_the_last_one_left() -> None:
    async def calls() -> tuple[object, object]:
        await run_kept(len, "a")
        first = kept()[-1]
        await run_kept(waits, 1)
        return first, kept()[-1]

    first, again = on_own_loop(calls())
    assert again is first


def test_a_call_cancelled_while_it_waits_leaves_its_greenlet_behind() -> None:
    async def cancelled() -> int:
        await run_kept(len, "a")
        before = len(kept())
        waiting = asyncio.ensure_future(run_kept(lambda: await_(asyncio.sleep(10))))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert len(kept()) == before - 1  # ended by the cancellation, not kept
        return await run_kept(waits, 4)

    assert on_own_loop(cancelled()) == 8


class Held:
    """Something of one request's: a call's result, a local of the request's."""


def test_a_kept_greenlet_holds_nothing_of_its_last_call() -> None:
    """A greenlet may wait long for its next call: it keeps neither the last
    one's result (a pool's connection), nor its error (whose traceback holds
    the frames of the request it went through), nor its request's context."""
    left: list[weakref.ref[Held]] = []

    async def a_request() -> None:
        mine = Held()
        left.append(weakref.ref(mine))
        left.append(weakref.ref(await run_kept(Held)))
        with pytest.raises(ValueError):
            await run_kept(refuses)

    async def requests() -> None:
        await asyncio.create_task(a_request())
        gc.collect()
        assert kept()  # the greenlets are kept ...
        assert [ref() for ref in left] == [None, None]  # ... and nothing of the request
        assert all(runner.gr_context is None for runner in kept())

    on_own_loop(requests())


def live_runners() -> list[greenlets._Kept]:
    gc.collect()
    return [found for found in gc.get_objects() if isinstance(found, greenlets._Kept)]


def test_calls_beyond_those_kept_leave_no_greenlet_behind() -> None:
    """More calls at once than greenlets are kept (a crowd waiting for the
    pool): those not kept end, and none lives on, suspended, unreachable."""

    async def crowds() -> tuple[list[int], int, int]:
        # Other tests' threads may have left theirs: only this one's count.
        before = len(live_runners()) - len(kept())
        found: list[int] = []
        for _ in range(5):
            found = await asyncio.gather(*(run_kept(waits, n) for n in range(3 * greenlets.KEPT)))
        return found, len(kept()), len(live_runners()) - before

    found, kept_now, alive = on_own_loop(crowds())
    assert found == [2 * n for n in range(3 * greenlets.KEPT)]
    assert kept_now == greenlets.KEPT
    assert alive == kept_now
