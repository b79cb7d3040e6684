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
`api-newest` (/api/posts?limit=20: the newest page, which no page cache holds either),
`home` (/), `healthz` (one `SELECT 1`), `following` (/following), `ten-words`
(/?q= ten words drawn from the seed's vocabulary, as bench.py's "10 random words": a search no page
cache holds), and two writes with a bearer token,
by 50 people as the benchmark's: `vote`
(`POST /api/vote`: a like of a random post, then the same like taken back, in
turns) and `new-post` (`POST /api/posts`, a short published post). The writes
change the database they run on: use a copy; `--floor` calls the like floor
(like_floor_app.py: Agora's statements for them from a bare ASGI app) instead
of Agora, for what those statements cost by themselves. `--as NAME` logs in as that
seeded person first (the demo password) and sends their session cookie with
every GET: the logged-in pages, which the HTML cache does not keep. To
compare `following` with `home`, take someone who likes none of the posts on
the first page of either (their cards are kept then, as for bench.py's fresh
account; a liked post has them made again on every request), e.g. a copy's
account made to follow the 200 most-followed people in SQL, as bench.py does.
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
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SECRET_KEY", "request-cost")
os.environ.setdefault("WEBAPP_ENV", "development")
# The writers write more than an hour's posts over a few runs (the check is one
# parameter of the same statement either way).
os.environ.setdefault("POSTS_PER_HOUR", "0")

from sqlalchemy import text

from webapp import seed
from webapp.app import create_app
from webapp.core.deps import services_of

# The callers of the writes: the benchmark's 50 likers.
WRITERS = 50

# The words bench.py draws its "10 random words" from: the seeded texts' words
# of more than three letters.
VOCABULARY = sorted({word for word in seed.WORDS + seed.VERBS + seed.RARE_WORDS if len(word) > 3})


def ten_words() -> str:
    return "/?q=" + "+".join(random.choice(VOCABULARY) for _ in range(10))


@dataclass
class Call:
    """One request: a GET of `address`, or a JSON POST by `caller` (a user id)."""

    address: str
    body: bytes = b""
    caller: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Likes:
    """A like of a random post by one of the writers, then the same like taken
    back: 201 and 200 in turns, whatever the database held before."""

    def __init__(self, posts: int) -> None:
        self.posts = posts
        self.last: tuple[int, int] | None = None

    def __call__(self) -> Call:
        if self.last is None:
            self.last = (random.randint(1, WRITERS), random.randint(1, self.posts))
            caller, post = self.last
            return Call("/api/vote", b'{"post_id": %d, "dir": 1}' % post, caller)
        (caller, post), self.last = self.last, None
        return Call("/api/vote", b'{"post_id": %d, "dir": 0}' % post, caller)


def new_post() -> Call:
    body = b'{"title": "Cost %d", "content": "Written through the API."}' % random.randint(1, 10**6)
    return Call("/api/posts", body, random.randint(1, WRITERS))


def scenarios(posts: int, users: int) -> dict[str, Callable[[], Call]]:
    return {
        "post": lambda: Call(f"/posts/{random.randint(1, posts)}"),
        "user": lambda: Call(f"/users/{random.randint(1, users)}"),
        "api-post": lambda: Call(f"/api/posts/{random.randint(1, posts)}"),
        "api-list": lambda: Call(f"/api/posts?limit=20&skip={random.randint(0, posts - 1000)}"),
        "api-newest": lambda: Call("/api/posts?limit=20"),
        "home": lambda: Call("/"),
        "healthz": lambda: Call("/healthz"),
        "following": lambda: Call("/following"),
        "vote": Likes(posts),
        "new-post": new_post,
        "ten-words": lambda: Call(ten_words()),
    }


async def bearers(app: Any) -> dict[int, bytes]:
    """The writers' `Authorization` headers, from their stamps."""
    services = services_of(app)
    async with services.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, security_stamp FROM users WHERE id <= :n"), {"n": WRITERS}
        )
        return {
            user_id: b"Bearer " + services.api_tokens.issue(user_id, stamp).encode()
            for user_id, stamp in rows
        }


async def log_in(app: Any, username: str) -> bytes:
    """The session cookie of a login through the app's own form."""
    import re

    import httpx2 as httpx

    from webapp.seed import DEMO_PASSWORD

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no csrf_token on /login"
        answer = await client.post(
            "/login",
            data={"csrf_token": token[1], "username": username, "password": DEMO_PASSWORD},
            headers={"origin": "http://127.0.0.1:8000"},
        )
        assert answer.status_code == 303, f"login: {answer.status_code}"
        await client.get("/")  # shows and drops the login's flash: the steady cookie
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()


async def one(app: Any, call: Call, tokens: dict[int, bytes], cookie: bytes | None = None) -> int:
    path, _, query = call.address.partition("?")
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"request-cost")]
    if cookie and not call.caller:
        headers.append((b"cookie", cookie))
    if call.caller:
        headers += [
            (b"authorization", tokens[call.caller]),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(call.body)).encode()),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST" if call.caller else "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": call.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@asynccontextmanager
async def like_floor() -> AsyncIterator[tuple[Any, dict[int, bytes]]]:
    """like_floor_app.py's app, started, and the writers' `Authorization`
    headers as it reads them (`ID:STAMP`), on the database of DATABASE_URL."""
    import psycopg

    url = os.environ["DATABASE_URL"].replace("+psycopg", "")
    os.environ["LIKE_FLOOR_DATABASE_URL"] = url
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import like_floor_app

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT id, security_stamp FROM users WHERE id <= %s", (WRITERS,)
        ).fetchall()
    tokens = {user_id: b"Bearer %d:%s" % (user_id, stamp.encode()) for user_id, stamp in rows}
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    running = asyncio.create_task(
        like_floor_app.app({"type": "lifespan"}, started.get, answers.put)
    )
    await started.put({"type": "lifespan.startup"})
    await answers.get()
    try:
        yield like_floor_app.app, tokens
    finally:
        await started.put({"type": "lifespan.shutdown"})
        await running


@asynccontextmanager
async def agora(as_user: str | None) -> AsyncIterator[tuple[Any, dict[int, bytes], bytes | None]]:
    app = create_app()
    async with app.router.lifespan_context(app):
        tokens = await bearers(app)
        cookie = await log_in(app, as_user) if as_user else None
        yield app, tokens, cookie


async def measure(args: argparse.Namespace) -> None:
    make = scenarios(args.posts, args.users)[args.scenario]
    async with AsyncExitStack() as stack:
        if args.floor:
            if args.scenario not in ("vote", "new-post"):
                raise SystemExit("--floor answers the writes alone: vote, new-post")
            app, tokens = await stack.enter_async_context(like_floor())
            cookie = None
        else:
            app, tokens, cookie = await stack.enter_async_context(agora(args.as_user))
        for _ in range(300):  # warm: prepared statements, templates, the pool
            await one(app, make(), tokens, cookie)
        random.seed(1)
        calls = [make() for _ in range(args.requests)]
        profile = cProfile.Profile()
        statuses: Counter[int] = Counter()
        wall, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        for call in calls:
            statuses[await one(app, call, tokens, cookie)] += 1
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
    if args.dump:
        stats.dump_stats(args.dump)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(scenarios(1, 1)))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--posts", type=int, default=100_000, help="the highest post id")
    parser.add_argument("--users", type=int, default=1_000, help="the highest user id")
    parser.add_argument(
        "--dump", help="write the profile to this file (pstats), to read its callers"
    )
    parser.add_argument("--profile", choices=["cumulative", "tottime", "ncalls"])
    parser.add_argument("--as", dest="as_user", metavar="NAME", help="log in as this person")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="call like_floor_app.py instead of Agora (vote, new-post): the floor's own cost",
    )
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
