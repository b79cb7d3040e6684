"""What one uncached request costs Agora's own process, without a network or a
load generator: the app is called in-process over ASGI, one request at a time,
and the CPU time and Python calls per request are printed. The calls are a
count, not a timing, so they compare two versions of the code on a machine
too busy for timings to mean much.

Usage (from the repository root, against a database seeded as bench.py seeds
it, e.g. `python -m webapp seed --users 1000 --posts 100000 --votes 300000`):

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/agora_bench \\
        python tests/perf/request_cost.py post --requests 1000
    python tests/perf/request_cost.py user --profile cumulative   # the top of a cProfile

Scenarios: `post` (/posts/{random id}), `user` (/users/{random id}),
`api-post` (/api/posts/{random id}), `api-list` (/api/posts?limit=20&skip={random}),
`ten-words` (/?q= ten words drawn from the seed's vocabulary, as bench.py's
"10 random words": a search no page cache holds).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SECRET_KEY", "request-cost")
os.environ.setdefault("WEBAPP_ENV", "development")

from webapp import seed
from webapp.app import create_app

# The words bench.py draws its "10 random words" from: the seeded texts' words
# of more than three letters.
VOCABULARY = sorted({word for word in seed.WORDS + seed.VERBS + seed.RARE_WORDS if len(word) > 3})


def ten_words() -> str:
    return "/?q=" + "+".join(random.choice(VOCABULARY) for _ in range(10))


def scenarios(posts: int, users: int) -> dict[str, Callable[[], str]]:
    return {
        "post": lambda: f"/posts/{random.randint(1, posts)}",
        "user": lambda: f"/users/{random.randint(1, users)}",
        "api-post": lambda: f"/api/posts/{random.randint(1, posts)}",
        "api-list": lambda: f"/api/posts?limit=20&skip={random.randint(0, posts - 1000)}",
        "ten-words": ten_words,
    }


async def one(app: Any, address: str) -> int:
    path, _, query = address.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"request-cost")],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def measure(args: argparse.Namespace) -> None:
    app = create_app()
    make = scenarios(args.posts, args.users)[args.scenario]
    async with app.router.lifespan_context(app):
        for _ in range(300):  # warm: prepared statements, templates, the pool
            await one(app, make())
        random.seed(1)
        addresses = [make() for _ in range(args.requests)]
        profile = cProfile.Profile()
        statuses: Counter[int] = Counter()
        wall, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        for address in addresses:
            statuses[await one(app, address)] += 1
        profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = pstats.Stats(profile)
    n = args.requests
    print(
        f"{args.scenario}: {stats.total_calls / n:,.0f} calls, {1e6 * cpu / n:,.0f} µs CPU"
        f" and {1e6 * wall / n:,.0f} µs in all per request (under cProfile);"
        f" statuses {dict(statuses)}"
    )
    if args.profile:
        stats.sort_stats(args.profile).print_stats(int(os.environ.get("PROFILE_ROWS", "40")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(scenarios(1, 1)))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--posts", type=int, default=100_000, help="the highest post id")
    parser.add_argument("--users", type=int, default=1_000, help="the highest user id")
    parser.add_argument("--profile", choices=["cumulative", "tottime", "ncalls"])
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
