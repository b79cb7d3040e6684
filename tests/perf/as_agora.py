"""An ASGI app of the benchmark's (a floor) served by uvicorn as `python -m
webapp serve` serves Agora: workers forked from this process, each listening on
a socket of its own at the same address (`SO_REUSEPORT`,
`webapp.__main__.workers_forked_on_own_listeners`), uvloop and httptools, no access log.

A floor measures what the machine and the server add to a request; served on
uvicorn's one shared socket while Agora's workers each have their own, the two
would not meet the same server: connections opened at once split between the
workers by who wakes first on one side and by the kernel's hash on the other,
and the busier worker makes a round's tail.

    python as_agora.py floor_app:app --workers 2 --port 8123
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from webapp.__main__ import workers_forked_on_own_listeners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("app", help="MODULE:ATTRIBUTE, importable from this folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    workers_forked_on_own_listeners()
    uvicorn.run(
        args.app,
        workers=args.workers,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
