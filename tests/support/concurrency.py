"""Requests that race: each sent from a thread of its own, all released at the
same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def at_the_same_time(sends: Sequence[Callable[[], T]]) -> list[T]:
    """Run every `send` at once (a barrier releases them together); their
    results, in the order given."""
    barrier = threading.Barrier(len(sends))
    results: list[T | None] = [None] * len(sends)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = sends[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results  # type: ignore[return-value]
