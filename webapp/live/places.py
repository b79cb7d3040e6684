"""How many live sockets one worker holds, in all and per client address.

Each socket costs the worker a file descriptor and some 40 KB. Without a cap,
two processes could hold a worker's every descriptor, and then it answers
nobody. A socket takes its place before anything else is done for it (no
session read, no database, no state in the hub), so that a refusal costs
next to nothing; its handler gives the place back when it ends, however it
ends (`webapp.web.live`).
"""

from __future__ import annotations

from typing import NamedTuple

from webapp.core import metrics

PER_ADDRESS = 20  # sockets one client address may hold on one worker (many tabs)
POLICY = 1008
TRY_AGAIN_LATER = 1013


class Refusal(NamedTuple):
    code: int
    reason: str


WORKER_FULL = Refusal(TRY_AGAIN_LATER, "This server holds all the sockets it can.")
ADDRESS_FULL = Refusal(POLICY, "Too many sockets from one address.")


class Places:
    """The places one worker has for sockets: `total` in all, `per_address`
    for each client address (the same address the throttles count: a trusted
    proxy's client, else the peer)."""

    __slots__ = ("_of_address", "per_address", "taken", "total")

    def __init__(self, total: int, per_address: int = PER_ADDRESS) -> None:
        self.total = total
        self.per_address = per_address
        self.taken = 0
        self._of_address: dict[str, int] = {}

    def take(self, address: str) -> Refusal | None:
        """Hold a place for a socket from `address`, or say why there is none."""
        if self.taken >= self.total:
            return WORKER_FULL
        held = self._of_address.get(address, 0)
        if held >= self.per_address:
            return ADDRESS_FULL
        self._of_address[address] = held + 1
        self.taken += 1
        metrics.socket_opened()
        return None

    def give_back(self, address: str) -> None:
        """The socket that held a place for `address` has ended."""
        held = self._of_address.get(address, 0)
        if held <= 0:
            return
        self.taken -= 1
        metrics.socket_closed()
        if held == 1:
            del self._of_address[address]
        else:
            self._of_address[address] = held - 1

    def held_by(self, address: str) -> int:
        return self._of_address.get(address, 0)
