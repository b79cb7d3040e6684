"""Agora against a plain Flask yardstick, on the same data, the same machine, the same run.

Usage (from the repository root, with tests/perf/requirements.txt installed and wrk on PATH):

    python tests/perf/bench.py                 # PostgreSQL, 100,000 posts, 2 rounds of 10 s
    python tests/perf/bench.py --quick         # 10,000 posts, 1 round of 3 s (about 13 minutes)
    python tests/perf/bench.py --sqlite        # the embedded default: SQLite, one worker each
    python tests/perf/bench.py --keep-data     # reuse agora_bench when it has the right size
    python tests/perf/bench.py --agora-dir /tmp/agora-base   # serve another checkout
    python tests/perf/bench.py --db-prefix mine   # databases mine, mine_ref, mine_small, mine_floor
    python tests/perf/bench.py --quick --only writes   # only the writes' rows (or: memory, reads)

What it does:

1. Seeds PostgreSQL database `agora_bench` with `python -m webapp seed` (1,000 users,
   100,000 posts, 300,000 likes, 20,000 follows, 100,000 comments and the notifications
   they make; --quick: 10,000 posts, 30,000 likes, 20,000 follows, 10,000 comments),
   copies it as `agora_bench_ref` for the reference app (without Agora's triggers: a
   plain app has none) and as `agora_bench_floor` for the like floor (with them), and
   seeds `agora_bench_small` (100 users, 1,000 posts, 2,000 follows, 1,000 comments)
   for the growth row.
2. Starts Agora (`python -m webapp serve --workers 2`) and the reference app
   (tests/perf/reference: Flask + Jinja2 + psycopg pool under gunicorn, 2 workers of
   4 threads), waits for /healthz on both and warms both up.
3. Registers fresh accounts on each side and logs them in through the pages; the
   account of the logged-in scenarios follows the 200 most-followed authors.
4. Runs every scenario with `wrk -t2 -c16 --latency`, Agora and the reference
   taking turns round by round, and prints one markdown table. The writes, the
   pages served from memory against the page floor, the random reads, `/healthz` and
   growth are measured in several rounds in turns, each ratio the median of the
   rounds' own (rounds.py; below).

The scenarios:

- `/healthz`: the floor of each stack (routing, one `SELECT 1`); in at least 3 rounds
  (READ_ROUNDS) in turns even with --quick, its p99 ÷ ref p99 the median of the
  rounds' own, as the random reads'.
- `/` anonymous and logged in: the front page; logged in adds loading the visitor
  (Agora: the server-side session; the reference: `g.user`).
- `/?page=500`: a deep page (OFFSET 10,000; with --quick the page at the same depth).
- `/?q=<common word>`, `/?q=<rare word>`: search for a word in about 30% and about
  1% of posts, chosen by measuring the seeded data.
- `/?q="<two words>"`: a quoted phrase of two words often next to each other (the
  reference, which knows no phrases, looks for both words); `/?q=<common word>&page=50`;
  `/?q=<10 random words>`: ten words of the seed's vocabulary drawn by wrk's Lua for
  every request, the same way on both sides, which no cache holds.
- `/posts/{id}`, `/users/{id}`: a recent post, its author's profile.
- `/?sort=hot`, `/?sort=top&t=week` (anonymous and logged in), `/?sort=hot&page=50`:
  the ranked orders; the reference orders by the same formula in SQL (ORDER BY the
  expression, LIMIT/OFFSET) over every published post.
- `GET /api/posts?limit=20`: the JSON list (the reference has a tiny equivalent).
- random reads, an id drawn for every request by wrk's Lua among all the published
  posts (all the people), the same ids on both sides: `/posts/{random id}`,
  `/users/{random id}`, `GET /api/posts?limit=20&skip={random}` (0 to posts − 20),
  `GET /api/posts/{random id}`: what no cache can hold. These, and the 10 random
  words, run in at least 3 rounds (READ_ROUNDS) in turns even with --quick, Agora and
  the reference taking turns going first; "÷ ref" and "p99 ÷ ref p99" are the
  medians of the rounds' own ratios, and a line gives every round's figures (in one
  round each, the same code's random post page gave 1.37 and 1.77 in two runs).
- likes through the API: 50 seeded people (their tokens from /api/login) like random
  posts they do not like yet (`POST /api/vote`, dir 1) and, every other request, take
  back their oldest like (dir 0); the reference inserts or deletes the like's row and
  does nothing else. Again at 64 connections (PostgreSQL), in rounds in turns as the
  other writes (below; the like floor at 64 connections in the floor's turns), while
  pg_stat_activity is sampled every 50 ms: the share of active backends waiting on a
  lock, and the top wait events.
- new posts through the API (`POST /api/posts`) by the same 50 people. Both writes are
  measured last, in at least 3 rounds (WRITE_ROUNDS) even with --quick: Agora, the
  reference, the floor, the reference, the next round the other way round; "÷ ref" and
  "p99 ÷ ref p99" are the medians of the rounds' ratios (the reference's run in Agora's
  turn), and a line gives every round's figures.
- `/following` logged in (Agora only): the feed of the people the account follows, a
  fresh account following the 200 most-followed authors (about a fifth of the posts).
  It is compared with `/` logged in, the same account on the front page of the same
  server, the two measured in turns (at least 3 rounds each, so that both meet the same
  moment's load; target: at least 0.8 of its req/s): logged in against logged in, since
  only anonymous pages are served from the HTML cache. A checkout without following
  (--agora-dir) skips it.
- a shielded reader (Agora only): a twin of the logged-in account (the same 200
  follows) who also blocks 50 people and mutes 50 (the authors of the newest posts;
  the muted among those followed), on `/` and `/following`, each in turns with the
  account without them (at least 3 rounds each; target: at least 0.9 of its req/s),
  and the statements both run for each page.
- mixed: 95% of requests read those pages, 5% write (3% toggle a like, 2% publish a
  post) by 8 logged-in users; any status >= 400 or socket error is an error.
- login pressure (Agora only): `/` p99 alone, then while 4 threads log in back to
  back (bcrypt at its default cost), and their ratio.
- growth (Agora only): `/` req/s on 100,000 posts divided by `/` req/s on 1,000, the
  two servers in turns in at least 3 rounds (READ_ROUNDS), the median of the rounds'
  own ratios.
- floor: tests/perf/floor_app.py, an ASGI app that answers each page Agora serves
  from memory with that page's bytes (and anything else with the front page's) and
  does nothing else, under the same uvicorn and workers: the p99 any page of that size
  served from memory can have on this machine. Each such page is measured in 5 rounds
  (2 s with --quick, 3 s otherwise) in turns with it, just before its rounds against
  the reference (target: the median of the rounds' p99 ratios within 1.5).
- like floor (PostgreSQL): tests/perf/like_floor_app.py, a bare ASGI app that sends
  the statements Agora sends for a like (the like, which checks its caller, then its
  live events), on a copy of the data with Agora's triggers,
  in turns with the reference's likes (the rounds of the likes above); Agora's likes ÷
  the floor's is the median of the rounds' own (both run in each round), target ≥ 0.8;
  the figure taken through the reference ((Agora ÷ ref) ÷ (floor ÷ ref)) is printed
  beside it.
- new-post floor (PostgreSQL): the same app sending the statements Agora sends for a new
  post through the API, in turns with the reference's new posts; Agora's new posts ÷ the
  floor's, the median of the rounds' own in the same way, target ≥ 0.8.
- peak RSS (VmHWM) of every worker process of each app after the scenarios; as it runs,
  the log says after which phase an Agora worker's peak rose by more than 0.5 MB.
- statements: SQL statements each Agora page runs, counted in process (anonymous / logged
  in, built → served again; "–" for a page that sends anonymous visitors to /login).

Reading the numbers: a ratio "Agora ÷ ref" above 1 means Agora serves more requests
per second than the reference on the same data at the same moment. Absolute
req/s depend on the machine and on whatever else it is doing; only ratios taken
in the same run are worth comparing, and the reference exists to give them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rounds import median, median_ratio, per_round, spread, through_reference, turns
from servers import Server, ServerError, catch_signals, free_port, peak_rss_mb

PERF_DIR = Path(__file__).resolve().parent
REFERENCE_DIR = PERF_DIR / "reference"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DB_PREFIX = "agora_bench"  # agora_bench, agora_bench_ref, agora_bench_small, agora_bench_floor
SECRET_KEY = "agora-bench-" + "k" * 40
PASSWORD = "bench-password-4821"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
WRK_CONNECTIONS, WRK_THREADS = 16, 2
MIXED_USERS = 8
LOGIN_THREADS = 4
LIKERS = 50  # the seeded people who like posts through the API
DEMO_PASSWORD = "agora-demo-password"  # every seeded account's (webapp/seed.py)
LOCK_CONNECTIONS = 64  # wrk's connections while the lock waits are sampled
SAMPLE_EVERY = 0.05  # seconds between two looks at pg_stat_activity
SETTLE_LIMIT = 60.0  # seconds a round waits at most for the last one's statements to end
SETTLE_SAID = 0.5  # a wait from this long is said in the log
WRITE_ROUNDS = 3  # rounds of each write and its floor, in turns, even with --quick
# Rounds of each page from memory in turns with the page floor (serving that page's
# bytes), and each round's length by --quick: 3 rounds of 1 s were too few and too
# short for a p99 (tests/perf/README.md, "Rounds in turns").
PAGE_FLOOR_ROUNDS = 5
PAGE_FLOOR_SECONDS = {True: 2.0, False: 3.0}
# Rounds, in turns, of the reads whose single round flipped between runs of the same
# code (the random reads, /healthz's p99, growth), even with --quick.
READ_ROUNDS = 3
ONLY = ("writes", "memory", "reads")  # the groups of rows --only can select


class BenchError(Exception):
    """Something the benchmark cannot go on without."""


@dataclass(frozen=True)
class Size:
    users: int
    posts: int
    votes: int
    follows: int = 0
    comments: int = 0


# Follows go with the people (20 a person), likes and comments with the posts.
FULL, QUICK, SMALL = (
    Size(1_000, 100_000, 300_000, 20_000, 100_000),
    Size(1_000, 10_000, 30_000, 20_000, 10_000),
    Size(100, 1_000, 3_000, 2_000, 1_000),
)
FOLLOWED = 200  # the people the /following scenario's account follows
SHIELDED = 50  # the people the shielded reader blocks, and as many it mutes


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


_peak_seen: dict[int, float] = {}


def note_peak(server: Server, after: str) -> None:
    """Logs the workers' peak RSS (VmHWM) whenever one of them rose by more than
    half a megabyte, naming what ran last: the phase behind the peak RSS line."""
    risen = []
    for pid in server.worker_pids():
        peak = peak_rss_mb(pid)
        if peak > _peak_seen.get(pid, 0.0) + 0.5:
            _peak_seen[pid] = peak
            risen.append(f"{pid} {peak:.1f} MB")
    if risen:
        log(f"{server.name} peak RSS rose after {after}: " + ", ".join(risen))


# --- databases ---------------------------------------------------------------------------


def sql_rows(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a PostgreSQL or SQLite URL (`%s` placeholders)."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            sql = sql.replace("%s", "?").replace("%%", "%").replace("ILIKE", "LIKE")
            rows = connection.execute(sql, params).fetchall()
            connection.commit()
            return rows
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def pg_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def pg_admin(statement: str) -> None:
    sql_rows(pg_url("postgres"), statement)


def counts(url: str) -> Size | None:
    try:
        users, posts, votes = sql_rows(
            url,
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts), "
            "(SELECT count(*) FROM votes)",
        )[0]
    except Exception:
        return None
    try:
        follows, comments = sql_rows(
            url, "SELECT (SELECT count(*) FROM follows), (SELECT count(*) FROM comments)"
        )[0]
    except Exception:  # a checkout from before following and comments (--agora-dir)
        follows = comments = 0
    return Size(users, posts, votes, follows, comments)


def seeded_enough(url: str, size: Size) -> bool:
    found = counts(url)
    return (
        found is not None
        and size.users <= found.users <= size.users + 200
        and size.posts <= found.posts <= size.posts * 1.05
        and found.votes >= size.votes * 0.9
        and found.follows >= size.follows
        and found.comments >= size.comments
    )


def knows_people(agora_dir: Path) -> bool:
    """Whether this checkout has following and comments (its seed takes --follows)."""
    result = subprocess.run(
        [sys.executable, "-m", "webapp", "seed", "--help"],
        cwd=agora_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    return "--follows" in result.stdout


def for_checkout(size: Size, people: bool) -> Size:
    return size if people else replace(size, follows=0, comments=0)


def seed(agora_dir: Path, url: str, size: Size) -> None:
    started = time.monotonic()
    command = [sys.executable, "-m", "webapp", "seed", "--users", str(size.users)]
    command += ["--posts", str(size.posts), "--votes", str(size.votes)]
    if size.follows or size.comments:
        command += ["--follows", str(size.follows), "--comments", str(size.comments)]
    result = subprocess.run(
        command, cwd=agora_dir, env=agora_env(url), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"seeding {url} failed:\n{result.stderr[-3000:]}")
    log(f"seeded {url} ({size.posts:,} posts) in {time.monotonic() - started:.1f} s")


def prepare_postgres(
    agora_dir: Path, size: Size, small: Size, keep: bool, prefix: str = DB_PREFIX
) -> Databases:
    """agora_bench (reused with --keep-data when its counts fit), its copies for
    the reference and the like floor, and agora_bench_small; the two seedings run
    side by side."""
    main, ref, small_db, floor = (f"{prefix}{end}" for end in ("", "_ref", "_small", "_floor"))
    wanted = [(main, size), (small_db, small)]
    to_seed = []
    for name, want in wanted:
        if keep and seeded_enough(pg_url(name), want):
            log(f"reusing {name}: {counts(pg_url(name))}")
            continue
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {name}")
        to_seed.append((name, want))
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(seed, agora_dir, pg_url(n), w) for n, w in to_seed]:
            done.result()
    for copy in (ref, floor):
        pg_admin(f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {copy} TEMPLATE {main}")
    drop_triggers(pg_url(ref))
    reference_search_index(pg_url(ref))
    return Databases(
        agora=pg_url(main), reference=pg_url(ref), small=pg_url(small_db), floor=pg_url(floor)
    )


def reference_search_index(url: str) -> None:
    """The reference's ILIKE search keeps the trigram index it was measured with
    (Agora's own search no longer needs one: its migration 0022_search drops it)."""
    sql_rows(url, "CREATE EXTENSION IF NOT EXISTS pg_trgm")
    sql_rows(
        url,
        "CREATE INDEX IF NOT EXISTS ix_posts_search ON posts "
        "USING gin ((title || ' ' || content) gin_trgm_ops)",
    )
    sql_rows(url, "ANALYZE posts")


def drop_triggers(url: str) -> None:
    """The reference's copy loses Agora's triggers (the data versions of its cache,
    its live events): a plain app has none, and its writes are only their rows."""
    for name, table in sql_rows(
        url, "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal"
    ):
        sql_rows(url, f'DROP TRIGGER "{name}" ON {table}')


def prepare_sqlite(agora_dir: Path, folder: Path, size: Size, small_size: Size) -> Databases:
    main, reference, small = (f"sqlite:///{folder / name}.db" for name in ("agora", "ref", "small"))
    with ThreadPoolExecutor(2) as pool:
        for done in [
            pool.submit(seed, agora_dir, main, size),
            pool.submit(seed, agora_dir, small, small_size),
        ]:
            done.result()
    # Copy only a quiescent file: fold the write-ahead log into it first.
    sql_rows(main, "PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(folder / "agora.db", folder / "ref.db")
    return Databases(agora=main, reference=reference, small=small)


@dataclass
class Databases:
    agora: str
    reference: str
    small: str
    floor: str | None = None  # the like floor's copy, with Agora's triggers (PostgreSQL only)


# --- what to ask for ---------------------------------------------------------------------


@dataclass
class Targets:
    common_word: str
    common_share: float
    rare_word: str
    rare_share: float
    post_id: int
    author_id: int
    like_ids: list[int]
    deep_page: int
    followed: list[int] = field(default_factory=list)  # for /following; none: not measured
    followed_share: float = 0.0  # of published posts, by the followed people
    # For the random scenarios: every published post and every person, the same on both sides.
    post_ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    likers: list[tuple[int, str]] = field(default_factory=list)  # (id, username), seeded
    # Whom the shielded reader blocks and mutes (none: not measured).
    blocked: list[int] = field(default_factory=list)
    muted: list[int] = field(default_factory=list)
    # Search: two words often next to each other, and the seed's words to draw from.
    phrase: tuple[str, str] = ("", "")
    vocabulary: list[str] = field(default_factory=list)

    @property
    def published(self) -> int:
        return len(self.post_ids)


def word_share(url: str, word: str, published: int) -> float:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found = sql_rows(
        url,
        "SELECT count(*) FROM posts WHERE published AND "
        "(title || ' ' || content) ILIKE %s ESCAPE '\\'",
        (f"%{escaped}%",),
    )[0][0]
    return found / published


def closest_word(
    url: str, shares: dict[str, float], target: float, published: int
) -> tuple[str, float]:
    """The word whose share of posts (measured with SQL) is nearest the target.

    The shares from the sample rank the candidates; the five nearest are then counted
    in the whole table with the search's own ILIKE (substrings count: "rain" is in "train").
    """
    ranked = sorted(shares, key=lambda word: abs(shares[word] - target))[:5]
    measured = {word: word_share(url, word, published) for word in ranked}
    best = min(measured, key=lambda word: abs(measured[word] - target))
    return best, measured[best]


def pick_targets(url: str, size: Size) -> Targets:
    """Words from the seeded text (webapp/seed.py's vocabulary), ids of recent posts."""
    published = sql_rows(url, "SELECT count(*) FROM posts WHERE published")[0][0]
    step = max(1, published // 5_000)
    texts = sql_rows(
        url,
        "SELECT title || ' ' || content FROM posts WHERE published AND id %% %s = 0",
        (step,),
    )
    seen: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for (text,) in texts:
        tokens = text.lower().split()
        seen.update({token for token in tokens if token.isalpha()})
        pairs.update({(a, b) for a, b in itertools.pairwise(tokens) if a.isalpha() and b.isalpha()})
    shares = {word: n / len(texts) for word, n in seen.items()}
    common, common_share = closest_word(url, shares, 0.30, published)
    # The seed's rare words (webapp.seed.RARE_WORDS) run from about 30% of posts
    # down to about 1%.
    rare, rare_share = closest_word(url, shares, 0.01, published)
    recent = [
        row[0]
        for row in sql_rows(
            url,
            "SELECT id FROM posts WHERE published ORDER BY created_at DESC, id DESC LIMIT 50",
        )
    ]
    post_id = recent[9]
    author_id = sql_rows(url, "SELECT owner_id FROM posts WHERE id = %s", (post_id,))[0][0]
    # /?page=500 is OFFSET 10,000 of 100,000 posts; a smaller database gets the page at
    # the same depth.
    deep_page = max(2, round(500 * size.posts / FULL.posts))
    targets = Targets(common, common_share, rare, rare_share, post_id, author_id, recent, deep_page)
    # A phrase of two words, neither a stop word, found in a few percent of posts.
    phrases = [
        pair
        for pair, n in pairs.most_common()
        if len(pair[0]) > 3 and len(pair[1]) > 3 and n / len(texts) < 0.2
    ]
    targets.phrase = phrases[0] if phrases else (common, rare)
    targets.vocabulary = sorted(word for word in seen if len(word) > 3)
    if size.follows:
        targets.followed, targets.followed_share = most_followed_authors(url, published)
        if knows_blocks(url):
            targets.blocked, targets.muted = shielded_from(url, targets.followed)
    targets.post_ids = ids(url, RANDOM_IDS["posts"])
    targets.user_ids = ids(url, RANDOM_IDS["users"])
    targets.likers = seeded_likers(url)
    return targets


def seeded_likers(url: str) -> list[tuple[int, str]]:
    """The people who write through the API: the first `LIKERS` seeded, (id, username)."""
    likers = sql_rows(url, "SELECT id, username FROM users ORDER BY id LIMIT %s", (LIKERS,))
    return [(user_id, username) for user_id, username in likers]


def ids(url: str, sql: str) -> list[int]:
    return [row[0] for row in sql_rows(url, sql)]


def most_followed_authors(url: str, published: int) -> tuple[list[int], float]:
    """The FOLLOWED people with published posts whom most people follow (whom a new
    account is likeliest to follow), and their share of the published posts."""
    rows = sql_rows(
        url,
        "SELECT authors.owner_id, authors.n FROM "
        "(SELECT owner_id, count(*) AS n FROM posts WHERE published GROUP BY owner_id) AS authors "
        "LEFT JOIN (SELECT followed_id, count(*) AS n FROM follows GROUP BY followed_id) AS fans "
        "ON fans.followed_id = authors.owner_id "
        "ORDER BY coalesce(fans.n, 0) DESC, authors.owner_id LIMIT %s",
        (FOLLOWED,),
    )
    return [row[0] for row in rows], sum(row[1] for row in rows) / published


def knows_blocks(url: str) -> bool:
    """Whether this database has blocks and mutes (a checkout from before has not)."""
    try:
        sql_rows(url, "SELECT count(*) FROM blocks WHERE blocker_id = 0")
        sql_rows(url, "SELECT count(*) FROM mutes WHERE muter_id = 0")
    except Exception:
        return False
    return True


def shielded_from(url: str, followed: list[int]) -> tuple[list[int], list[int]]:
    """Whom the shielded reader blocks and mutes: the authors of the newest posts,
    whose posts its feeds would show. It blocks SHIELDED people it does not follow
    (a block ends a follow) and mutes SHIELDED it does."""
    authors = ids(
        url,
        "SELECT owner_id FROM posts WHERE published GROUP BY owner_id "
        "ORDER BY max(created_at) DESC, owner_id",
    )
    following = set(followed)
    blocked = [a for a in authors if a not in following][:SHIELDED]
    muted = [a for a in authors if a in following][:SHIELDED]
    return blocked, muted


def shield_all(url: str, username: str, blocked: list[int], muted: list[int]) -> None:
    """The account blocks and mutes these people (in SQL, as `follow_all` follows)."""
    for table, who, whom, people in (
        ("blocks", "blocker_id", "blocked_id", blocked),
        ("mutes", "muter_id", "muted_id", muted),
    ):
        if not people:
            continue
        marks = ", ".join(["%s"] * len(people))  # every value is bound, none written in
        sql_rows(
            url,
            f"INSERT INTO {table} ({who}, {whom}, created_at) "  # noqa: S608
            "SELECT reader.id, other.id, CURRENT_TIMESTAMP FROM users AS reader, users AS other "
            f"WHERE reader.username = %s AND other.id IN ({marks})",
            (username, *people),
        )


def follow_all(url: str, username: str, followed: list[int]) -> None:
    """The account follows these people (in SQL: what the scenario measures is the feed,
    not 200 follow requests; the follows table's trigger moves the pages' data version
    as a follow through the site does)."""
    marks = ", ".join(["%s"] * len(followed))  # every value is bound, none written in
    sql_rows(
        url,
        "INSERT INTO follows (follower_id, followed_id, created_at) "  # noqa: S608
        "SELECT follower.id, followed.id, CURRENT_TIMESTAMP "
        "FROM users AS follower, users AS followed "
        f"WHERE follower.username = %s AND followed.id IN ({marks})",
        (username, *followed),
    )


# --- servers -----------------------------------------------------------------------------


UNREACHED_LIMIT = "1000000"  # posts an hour, for each writer


def agora_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        SECRET_KEY=SECRET_KEY,
        WEBAPP_ENV="development",
        # The bench registers ~10 accounts a run from one address; not what it measures.
        REGISTRATIONS_PER_HOUR="0",
        # Its 50 writers post more than an hour's limit (30 each) in a few seconds:
        # a limit too high to reach, so that every post is counted against it as
        # always and none is refused (the new-post floor is given the same).
        POSTS_PER_HOUR=UNREACHED_LIMIT,
        PYTHONUNBUFFERED="1",
    )
    return env


def agora_server(agora_dir: Path, url: str, workers: int, name: str = "agora") -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "webapp", "serve", "--workers", str(workers)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    return Server(name, argv, agora_dir, agora_env(url), port)


def reference_server(url: str, workers: int) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread"]
    argv += ["--threads", "4", "-b", f"127.0.0.1:{port}", "app:create_app()"]
    env = dict(os.environ, REF_DATABASE_URL=url, REF_POOL_SIZE="4", PYTHONUNBUFFERED="1")
    return Server("reference", argv, REFERENCE_DIR, env, port)


def floor_server(body_file: Path, workers: int, pages: Path | None = None) -> Server:
    """floor_app.py under uvicorn as `python -m webapp serve` runs Agora
    (as_agora.py), answering Agora's front page from memory; with `pages`
    (JSON: request target -> file), each of those targets with its own page's
    bytes."""
    port = free_port()
    argv = served_as_agora("floor_app:app", workers, port)
    env = dict(os.environ, FLOOR_BODY_FILE=str(body_file), PYTHONUNBUFFERED="1")
    if pages is not None:
        env["FLOOR_PAGES"] = str(pages)
    return Server("floor", argv, PERF_DIR, env, port)


def served_as_agora(app: str, workers: int, port: int) -> list[str]:
    """The command serving `app` (of this folder) as Agora's workers are served."""
    return [
        sys.executable,
        str(PERF_DIR / "as_agora.py"),
        app,
        "--workers",
        str(workers),
        "--port",
        str(port),
    ]


def like_floor_server(url: str, workers: int) -> Server:
    """like_floor_app.py under uvicorn as Agora is served (as_agora.py), on the
    floor's copy."""
    port = free_port()
    argv = served_as_agora("like_floor_app:app", workers, port)
    env = dict(
        os.environ,
        LIKE_FLOOR_DATABASE_URL=url,
        POSTS_PER_HOUR=UNREACHED_LIMIT,
        PYTHONUNBUFFERED="1",
    )
    return Server("like-floor", argv, PERF_DIR, env, port)


def start_all(servers: list[Server]) -> None:
    """Start side by side (their start-ups overlap), then wait for each /healthz."""
    for server in servers:
        server.start()
    for server in servers:
        server.wait_ready()


# --- HTTP, logging in --------------------------------------------------------------------


def http_get(port: int, path: str) -> tuple[int, str]:
    return Client(port).request("GET", path)


class Client:
    """A browser's worth of HTTP: one cookie jar, no redirects followed."""

    def __init__(self, port: int, cookie: str = "") -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        for pair in filter(None, cookie.split("; ")):
            name, _, value = pair.partition("=")
            self.cookies[name] = value

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        json_body: object = None,
    ) -> tuple[int, str]:
        headers = {"Cookie": self.cookie_header()} if self.cookies else {}
        body: bytes | None = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    self._keep(value)
            return response.status, text
        finally:
            connection.close()

    def _keep(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        if "max-age=0" in attributes.lower().replace(" ", "") or value in ("", '""', "null"):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value


@dataclass
class Identity:
    username: str
    cookie: str
    csrf: str = ""


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    if not found:
        raise BenchError("no csrf_token on the page")
    return found.group(1)


def agora_register(port: int, username: str) -> None:
    status, body = Client(port).request(
        "POST",
        "/api/users",
        json_body={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    if status not in (200, 201):
        raise BenchError(f"POST /api/users answered {status}: {body[:300]}")


def agora_login(port: int, username: str, password: str = PASSWORD) -> Identity:
    client = Client(port)
    status, page = client.request("GET", "/login")
    status, body = client.request(
        "POST",
        "/login",
        form={"username": username, "password": password, "csrf_token": csrf_of(page)},
    )
    if status != 303:
        raise BenchError(f"Agora POST /login answered {status}: {body[:300]}")
    # The next page shows (and drops) the flash; its cookie is the steady one, and the
    # logout form carries the session's CSRF token.
    status, page = client.request("GET", "/")
    if status != 200 or username not in page:
        raise BenchError(f"Agora GET / after logging in answered {status}, without the username")
    return Identity(username, client.cookie_header(), csrf_of(page))


def reference_account(url: str, port: int, username: str) -> Identity:
    """A fresh account on the reference's database, logged in through its form."""
    password_hash, created_at = sql_rows(
        url, "SELECT password_hash, created_at FROM users ORDER BY id LIMIT 1"
    )[0]
    sql_rows(
        url,
        "INSERT INTO users (username, email, password_hash, security_stamp, created_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (username, f"{username}@example.com", password_hash, secrets.token_hex(16), created_at),
    )
    client = Client(port)
    status, body = client.request(
        "POST", "/login", form={"username": username, "password": PASSWORD}
    )
    if status != 303:
        raise BenchError(f"reference POST /login answered {status}: {body[:300]}")
    status, page = client.request("GET", "/")
    if status != 200 or username not in page:
        raise BenchError("reference GET / after logging in does not show the username")
    return Identity(username, client.cookie_header())


def api_token(port: int, username: str, password: str) -> str:
    """A bearer token from POST /api/login (Agora's, or the reference's own kind)."""
    form = {"username": username, "password": password}
    status, body = Client(port).request("POST", "/api/login", form=form)
    if status != 200:
        raise BenchError(f"POST /api/login on port {port} answered {status}: {body[:300]}")
    return str(json.loads(body)["access_token"])


def api_tokens(port: int, likers: list[tuple[int, str]]) -> list[str]:
    """The likers' tokens, in their order (bcrypt makes each login slow: four at a time)."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda liker: api_token(port, liker[1], DEMO_PASSWORD), likers))


def agora_accounts(port: int, names: list[str]) -> list[Identity]:
    def one(name: str) -> Identity:
        agora_register(port, name)
        return agora_login(port, name)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, names))


# --- wrk ---------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50: float  # milliseconds
    p99: float
    requests: int
    errors: int  # status >= 400 and socket errors
    output: str
    locks: LockWaits | None = None  # sampled while it ran (the lock-wait scenario)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(
    url: str,
    duration: float,
    cookie: str = "",
    script: Path | None = None,
    connections: int = WRK_CONNECTIONS,
) -> WrkResult:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if result.returncode != 0 or "Requests/sec" not in output:
        raise BenchError(f"wrk failed: {shlex.join(command)}\n{output[-2000:]}")
    latency = {
        int(found[1]): float(found[2]) * UNITS[found[3]]
        for found in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    status_errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(status_errors[1]) if status_errors else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    requests = re.search(r"(\d+) requests in", output)
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),  # type: ignore[index]
        p50=latency.get(50, float("nan")),
        p99=latency.get(99, float("nan")),
        requests=int(requests[1]) if requests else 0,
        errors=errors,
        output=output,
    )


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string


def mixed_script(
    folder: Path,
    name: str,
    users: list[Identity],
    reads: list[str],
    like_ids: list[int],
    agora: bool,
) -> Path:
    """95% reads of the scenario pages, 3% like toggles, 2% new posts, 8 users in turn.

    wrk's Lua cannot tell connections apart, so each of its threads takes its own
    half of the users and moves to the next one on every request.
    """
    user_rows = "\n".join(
        f"  {{cookie = {lua_string(u.cookie)}, csrf = {lua_string(urllib.parse.quote(u.csrf))}}},"
        for u in users
    )
    like_path = "/posts/%d/vote" if agora else "/posts/%d/like"
    post_extra = '&published=on&csrf_token=" .. user.csrf' if agora else '"'
    like_body = '"csrf_token=" .. user.csrf' if agora else '""'
    script = f"""
local users = {{
{user_rows}
}}
local reads = {{{", ".join(lua_string(path) for path in reads)}}}
local like_ids = {{{", ".join(str(i) for i in like_ids)}}}
local threads = {{}}
local started = 0

function setup(thread)
  started = started + 1
  thread:set("id", started)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  writes = 0
end

function request()
  n = n + 1
  local user = users[(n * {WRK_THREADS} + id - 1) % #users + 1]
  local headers = {{Cookie = user.cookie}}
  local slot = n % 100
  if slot < 3 then
    writes = writes + 1
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    local path = string.format("{like_path}", like_ids[n % #like_ids + 1])
    return wrk.format("POST", path, headers, {like_body})
  elseif slot < 5 then
    writes = writes + 1
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    local body = "title=Bench+post+" .. id .. "-" .. n ..
      "&content=Written+by+the+mixed+benchmark+scenario.{post_extra}
    return wrk.format("POST", "/posts", headers, body)
  end
  return wrk.format("GET", reads[n % #reads + 1], headers)
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("writes")
  end
  io.write(string.format("MIXED_WRITES %d\\n", total))
end
"""
    path = folder / f"mixed-{name}.lua"
    path.write_text(script)
    return path


# wrk's Lua runs one interpreter per thread: each thread learns its number in
# `setup`, seeds its own random numbers with it, and reads the ids from a file
# (a table of 100,000 numbers written in the script would pass LuaJIT's limit
# on the constants of one function).
LUA_PRELUDE = f"""
local started = 0
function setup(thread)
  started = started + 1
  thread:set("id", started)
end

local function numbers(path)
  local found = {{}}
  for line in io.lines(path) do found[#found + 1] = tonumber(line) end
  return found
end

local function begin()
  math.randomseed(os.time() * {WRK_THREADS} + id)
  n = 0
end
"""


def write_lines(path: Path, values: Sequence[object]) -> Path:
    path.write_text("".join(f"{value}\n" for value in values))
    return path


def write_script(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(LUA_PRELUDE + body)
    return path


# The reads of an id drawn at random for every request: their name, their path
# (one %d), and what the number is drawn from: the ids of `RANDOM_IDS` ("posts",
# "users"), or, for "", a number from 0 to the published posts less 20 (a skip).
# tests/perf/cpu_split.py measures the same rows.
RANDOM_READS = (
    ("/posts/{random id}", "/posts/%d", "posts"),
    ("/users/{random id}", "/users/%d", "users"),
    ("GET /api/posts?limit=20&skip={random}", "/api/posts?limit=20&skip=%d", ""),
    ("GET /api/posts/{random id}", "/api/posts/%d", "posts"),
)
RANDOM_IDS = {
    "posts": "SELECT id FROM posts WHERE published ORDER BY id",
    "users": "SELECT id FROM users ORDER BY id",
}


def random_read_script(
    folder: Path, name: str, template: str, ids_file: Path | None, highest: int
) -> Path:
    """wrk's script for GETs of `template` (one %d) with an id drawn for every request
    from `ids_file` (one a line), or with a number from 0 to `highest` without one."""
    if ids_file is None:
        pick, load = f"math.random(0, {highest})", ""
    else:
        pick, load = "ids[math.random(#ids)]", f"  ids = numbers({lua_string(str(ids_file))})\n"
    body = f"""
function init(args)
  begin()
{load}end

function request()
  return wrk.format("GET", string.format({lua_string(template)}, {pick}))
end
"""
    return write_script(folder, name, body)


def random_reads(name: str, template: str, ids: str, highest: int) -> ScriptMaker:
    """`random_read_script` for a side of the run, from the run's list of `ids`."""

    def make(run: Run, server: Server) -> Path:
        ids_file = run.ids_file(ids) if ids else None
        return random_read_script(run.folder, f"{name}-{server.name}", template, ids_file, highest)

    return make


def token_table(tokens: list[str]) -> str:
    """The callers' bearer tokens, and the ones this wrk thread takes in turn."""
    rows = "\n".join(f"  {lua_string(token)}," for token in tokens)
    return f"""
local tokens = {{
{rows}
}}

local function my_callers()
  local mine = {{}}
  for i = id, #tokens, {WRK_THREADS} do mine[#mine + 1] = i end
  return mine
end

local function api_post(path, who, body)
  local headers = {{Authorization = "Bearer " .. tokens[who]}}
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", path, headers, body)
end
"""


# Likes a thread sent and has not taken back yet, at most: it takes back the
# oldest, long answered (far more than its connections), every other request.
LIKES_KEPT = 256


def likes_script(run: Run, server: Server) -> Path:
    side = run.sides[server.name]
    return likes_lua(run.folder, server.name, side, run.targets.likers, run.ids_file("posts"))


def likes_lua(
    folder: Path, name: str, side: Side, likers: list[tuple[int, str]], posts_file: Path
) -> Path:
    """POST /api/vote by the 50 likers, each thread with its own half of them: a like
    (dir 1) of a random post the caller does not like yet, and every other request,
    once the thread has enough, the oldest of its likes taken back (dir 0). What each
    caller likes already is read from the server's database before every run, so that
    no request meets a like that is there (409) or one that is not (404).

    wrk calls the first thread's `request()` once before the run, to count the
    requests it returns, and never sends that one: a like noted then was never made,
    and taking it back was the one 404 of every run, on both sides. That first call
    of the first thread is answered without noting anything."""
    index = {user_id: i for i, (user_id, _) in enumerate(likers, start=1)}
    marks = ", ".join(["%s"] * len(index))  # every value is bound, none written in
    liked = sql_rows(
        side.url,
        f"SELECT user_id, post_id FROM votes WHERE user_id IN ({marks})",  # noqa: S608
        list(index),
    )
    liked_file = write_lines(folder / f"liked-{name}.txt", [f"{index[u]}:{p}" for u, p in liked])
    body = f"""{token_table(side.tokens)}
function init(args)
  begin()
  posts = numbers({lua_string(str(posts_file))})
  liked = {{}}
  for line in io.lines({lua_string(str(liked_file))}) do liked[line] = true end
  mine = my_callers()
  kept, first, last = {{}}, 1, 0
  rehearsal = id == 1
end

local function take_back()
  local oldest = kept[first]
  kept[first] = nil
  first = first + 1
  liked[oldest.key] = nil
  local body = string.format('{{"post_id": %d, "dir": 0}}', oldest.post)
  return api_post("/api/vote", oldest.who, body)
end

local function like()
  local who = mine[n % #mine + 1]
  local post, key
  repeat
    post = posts[math.random(#posts)]
    key = who .. ":" .. post
  until not liked[key]
  liked[key] = true
  last = last + 1
  kept[last] = {{key = key, who = who, post = post}}
  return api_post("/api/vote", who, string.format('{{"post_id": %d, "dir": 1}}', post))
end

function request()
  if rehearsal then
    rehearsal = false
    return api_post("/api/vote", mine[1], '{{"post_id": 0, "dir": 1}}')
  end
  n = n + 1
  if n % 2 == 0 and last - first >= {LIKES_KEPT} then
    return take_back()
  end
  return like()
end
"""
    return write_script(folder, f"likes-{name}", body)


def new_posts_script(run: Run, server: Server) -> Path:
    return new_posts_lua(run.folder, server.name, run.sides[server.name].tokens)


def new_posts_lua(folder: Path, name: str, tokens: list[str]) -> Path:
    """POST /api/posts by the 50 likers in turn: a short published post each time."""
    body = f"""{token_table(tokens)}
function init(args)
  begin()
  mine = my_callers()
end

function request()
  n = n + 1
  local body = string.format(
    '{{"title": "Bench post %d-%d", "content": "Written through the API by the benchmark."}}',
    id, n)
  return api_post("/api/posts", mine[n % #mine + 1], body)
end
"""
    return write_script(folder, f"posts-{name}", body)


# --- lock waits, sampled -----------------------------------------------------------------


@dataclass
class LockWaits:
    """What pg_stat_activity showed of one database's active backends, summed over samples."""

    samples: int = 0
    active: int = 0
    waiting: int = 0  # on a lock (wait_event_type 'Lock')
    events: Counter[str] = field(default_factory=Counter)

    @property
    def share(self) -> float:
        return self.waiting / self.active if self.active else float("nan")

    def add(self, other: LockWaits) -> LockWaits:
        return LockWaits(
            self.samples + other.samples,
            self.active + other.active,
            self.waiting + other.waiting,
            self.events + other.events,
        )

    def describe(self) -> str:
        top = ", ".join(f"{event} {n / self.active:.0%}" for event, n in self.events.most_common(4))
        return (
            f"{self.share:.1%} of active backends waiting on a lock "
            f"({self.active / max(self.samples, 1):.1f} active on average, {self.samples} samples; "
            f"wait events: {top or 'none'})"
        )


class LockSampler:
    """Looks at pg_stat_activity every SAMPLE_EVERY seconds, from a connection of its
    own, while a run lasts: the active backends of one database and what they wait on."""

    QUERY = (
        "SELECT coalesce(wait_event_type || ':' || wait_event, 'running'), count(*) "
        "FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
        "AND pid <> pg_backend_pid() GROUP BY 1"
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.found = LockWaits()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def __enter__(self) -> LockSampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def sample(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self.stop.wait(SAMPLE_EVERY):
                rows = connection.execute(self.QUERY).fetchall()
                self.found.samples += 1
                for event, n in rows:
                    self.found.active += n
                    self.found.events[event] += n
                    if event.startswith("Lock:"):
                        self.found.waiting += n


def lock_waits(results: list[WrkResult]) -> LockWaits:
    total = LockWaits()
    for result in results:
        if result.locks is not None:
            total = total.add(result.locks)
    return total


# --- scenarios ---------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    agora_path: str
    ref_path: str | None  # None: Agora only (the reference has no such page)
    logged_in: bool = False
    mixed: bool = False
    login_only: bool = False  # anonymous visitors are sent to /login
    script: ScriptMaker | None = None  # the requests, when not one GET of the path
    connections: int = WRK_CONNECTIONS
    from_memory: bool = False  # Agora answers it from its page cache
    writes: bool = False  # every request changes something
    sample_locks: bool = False  # pg_stat_activity is sampled while it runs
    # Measured in several rounds in turns (agora[i] beside ref[i]), its ratios the
    # median of the rounds' own: the writes, the pages against the page floor, the
    # random reads and /healthz.
    in_rounds: bool = False
    agora: list[WrkResult] = field(default_factory=list)
    ref: list[WrkResult] = field(default_factory=list)

    @staticmethod
    def mean(results: list[WrkResult], attribute: str) -> float:
        values = [getattr(result, attribute) for result in results]
        return statistics.fmean(values) if values else float("nan")

    def figures(self, attribute: str) -> tuple[list[float], list[float]]:
        """Each round's figure of both sides, round by round."""
        return (
            [getattr(result, attribute) for result in self.agora],
            [getattr(result, attribute) for result in self.ref],
        )

    def ratio(self, attribute: str = "rps") -> float:
        """Agora ÷ the other side: the median of the rounds' ratios when measured in
        rounds, else the mean of Agora's rounds ÷ the mean of the other's."""
        if self.in_rounds:
            return median_ratio(*self.figures(attribute))
        mine, theirs = Scenario.mean(self.agora, attribute), Scenario.mean(self.ref, attribute)
        return mine / theirs if theirs else float("nan")

    def round_ratios(self, attribute: str = "rps") -> list[float]:
        return per_round(*self.figures(attribute))


def scenarios(targets: Targets) -> list[Scenario]:
    common = urllib.parse.quote(targets.common_word)
    rare = urllib.parse.quote(targets.rare_word)
    rows = [
        ("/healthz", "/healthz", False),
        ("/", "/", False),
        ("/ logged in", "/", True),
        (f"/?page={targets.deep_page}", f"/?page={targets.deep_page}", False),
        (f"/?q={targets.common_word} ({targets.common_share:.0%})", f"/?q={common}", False),
        (f"/?q={targets.rare_word} ({targets.rare_share:.1%})", f"/?q={rare}", False),
        ("/posts/{id}", f"/posts/{targets.post_id}", False),
        ("/users/{id}", f"/users/{targets.author_id}", False),
        ("GET /api/posts?limit=20", "/api/posts?limit=20", False),
    ]
    found = [Scenario(name, path, path, logged_in) for name, path, logged_in in rows]
    found[0].in_rounds = True  # /healthz: its p99 against the reference's, in rounds
    for scenario in found[1:8]:  # the anonymous pages that the HTML cache answers
        scenario.from_memory = not scenario.logged_in
    found += ordered_scenarios()
    found += search_scenarios(targets)
    found += random_scenarios(targets)
    if targets.followed:
        # Agora only: the feed of the people the logged-in account follows.
        found.append(Scenario(FOLLOWING, "/following", None, logged_in=True, login_only=True))
    return found


PHRASE = '/?q="two-word phrase"'
TEN_WORDS = "/?q={10 random words}"
COMMON_PAGE_50 = "/?q={common word}&page=50"


def search_scenarios(targets: Targets) -> list[Scenario]:
    """The searches the page cache does not make easy: a quoted two-word phrase
    (the reference, which knows no phrases, looks for both words), page 50 of
    a common word, and 10 words drawn at random from the seed's vocabulary for
    every request, which no cache holds (the same words on both sides)."""
    first, second = targets.phrase
    quoted = urllib.parse.quote(f'"{first} {second}"')
    both = urllib.parse.quote(f"{first} {second}")
    common = urllib.parse.quote(targets.common_word)
    sample = " ".join(targets.vocabulary[:10])
    return [
        Scenario(f'{PHRASE} ("{first} {second}")', f"/?q={quoted}", f"/?q={both}"),
        Scenario(COMMON_PAGE_50, f"/?q={common}&page=50", f"/?q={common}&page=50"),
        Scenario(
            TEN_WORDS,
            f"/?q={urllib.parse.quote(sample)}",
            f"/?q={urllib.parse.quote(sample)}",
            script=random_words("ten-words", targets.vocabulary),
            in_rounds=True,
        ),
    ]


def random_words(name: str, vocabulary: list[str]) -> ScriptMaker:
    """GETs of /?q= with 10 words drawn from `vocabulary` for every request."""

    def make(run: Run, server: Server) -> Path:
        words = ",\n".join(f"  {lua_string(word)}" for word in vocabulary)
        body = f"""
local words = {{
{words}
}}

function init(args)
  begin()
end

function request()
  local picked = {{}}
  for i = 1, 10 do picked[i] = words[math.random(#words)] end
  return wrk.format("GET", "/?q=" .. table.concat(picked, "+"))
end
"""
        return write_script(run.folder, f"{name}-{server.name}", body)

    return make


def ordered_scenarios() -> list[Scenario]:
    """The feed in the ranked orders: Agora reads the last 30 days' posts through
    its index and keeps the page a few seconds; the reference orders every
    published post by the formula in SQL (ORDER BY the expression, LIMIT/OFFSET)."""
    rows = [
        ("/?sort=hot", "/?sort=hot", False),
        ("/?sort=hot logged in", "/?sort=hot", True),
        ("/?sort=top&t=week", "/?sort=top&t=week", False),
        ("/?sort=top&t=week logged in", "/?sort=top&t=week", True),
        ("/?sort=hot&page=50", "/?sort=hot&page=50", False),
    ]
    return [
        Scenario(name, path, path, logged_in, from_memory=not logged_in)
        for name, path, logged_in in rows
    ]


def random_scenarios(targets: Targets) -> list[Scenario]:
    """Reads of an id drawn at random for every request, among all the published posts
    (all the people), the same ids on both sides: what no cache can hold. The path is
    one of them, for the statement count."""
    last_skip = max(0, targets.published - 20)
    example = {
        "posts": targets.post_ids[len(targets.post_ids) // 2],
        "users": targets.user_ids[-1],
        "": last_skip // 2,
    }
    found = []
    for i, (name, template, ids) in enumerate(RANDOM_READS):
        path = template % example[ids]
        script = random_reads(f"random-{i}", template, ids, last_skip)
        found.append(Scenario(name, path, path, script=script, in_rounds=True))
    return found


FOLLOWING = "/following logged in"


# --- Markdown: a long post with 50 comments, and a tag page ---------------------------------

LONG_POST_CHARS = 20_000
MARKDOWN_COMMENTS = 50
MARKDOWN_SECTION = """## Notes from the {n}th walk

Some *emphasis*, some **strong words**, ~~a struck idea~~ and `inline code`, then a
[link to the docs](https://docs.python.org/3/library/) and a bare address,
https://example.com/walks/{n}, with a #walks tag.

- a list item with `code`
- another, with a [relative link](/posts/1)
  - and a nested one

> A quote from someone,
> on two lines.

```
def walk(n):
    return n * 2
```

"""


def long_markdown() -> str:
    """About LONG_POST_CHARS characters of Markdown, every construct many times."""
    parts: list[str] = []
    n = 0
    while sum(map(len, parts)) < LONG_POST_CHARS - 600:
        n += 1
        parts.append(MARKDOWN_SECTION.format(n=n))
    return "".join(parts).strip()


def markdown_comment(number: int) -> str:
    return (
        f"Comment {number}: I *liked* the part about `walk({number})`, see "
        f"https://example.com/c/{number} and **this**:\n\n- one\n- two #walks\n\n"
        "> quoted back"
    )


def api_write(port: int, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        connection.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
    finally:
        connection.close()
    if response.status != 201:
        raise BenchError(f"POST {path} on port {port} answered {response.status}: {text[:300]}")
    return dict(json.loads(text))


def markdown_scenarios(run: Run, dbs: Databases) -> list[Scenario]:
    """A post page with a long Markdown post and 50 Markdown comments, and the
    page of the most used tag. Agora renders when the text is written (the
    post and its comments go in through its API); the reference renders on
    every request (the same text goes into its copy of the database by SQL)."""
    try:
        (tag,) = sql_rows(
            dbs.agora,
            "SELECT tag FROM post_tags WHERE published GROUP BY tag "
            "ORDER BY count(*) DESC, tag LIMIT 1",
        )[0]
    except Exception as error:  # a checkout without tags: said, and skipped
        log(f"no Markdown scenarios: {type(error).__name__}: {error}")
        return []
    token = api_token(run.agora.port, run.agora_user.username, PASSWORD)
    content = long_markdown()
    post = api_write(
        run.agora.port, "/api/posts", token, {"title": "A long walk", "content": content}
    )
    for number in range(MARKDOWN_COMMENTS):
        body = {"content": markdown_comment(number)}
        api_write(run.agora.port, f"/api/posts/{post['id']}/comments", token, body)
    author = run.targets.author_id
    now: Any = datetime.now(UTC)
    if dbs.reference.startswith("sqlite"):
        now = now.replace(tzinfo=None)  # as Agora keeps times in SQLite
    (ref_id,) = sql_rows(
        dbs.reference,
        "INSERT INTO posts (title, content, published, owner_id, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        ("A long walk", content, True, author, now, now),
    )[0]
    for number in range(MARKDOWN_COMMENTS):
        sql_rows(
            dbs.reference,
            "INSERT INTO comments (content, post_id, author_id, created_at) "
            "VALUES (%s, %s, %s, %s)",
            (markdown_comment(number), ref_id, author, now + timedelta(seconds=number)),
        )
    log(f"Markdown: post {post['id']} ({len(content):,} characters, 50 comments), tag #{tag}")
    quoted = urllib.parse.quote(tag)
    return [
        Scenario(
            "/posts/{id} Markdown, 20,000 characters, 50 comments",
            f"/posts/{post['id']}",
            f"/md/posts/{ref_id}",
            from_memory=True,
        ),
        Scenario(
            f"/tags/{{tag}} (#{tag})", f"/tags/{quoted}", f"/md/tags/{quoted}", from_memory=True
        ),
    ]


def read_paths(targets: Targets) -> list[str]:
    return [s.agora_path for s in scenarios(targets)[1:] if not (s.logged_in or s.script)]


@dataclass
class Side:
    """What the API scenarios need of one server: its database and the likers' tokens."""

    url: str
    tokens: list[str]


@dataclass
class Run:
    """Both servers and what the scenarios need to reach them."""

    agora: Server
    ref: Server
    agora_user: Identity
    ref_user: Identity
    agora_mixed: list[Identity]
    ref_mixed: list[Identity]
    folder: Path
    targets: Targets
    sides: dict[str, Side] = field(default_factory=dict)  # by server name

    def ids_file(self, kind: str) -> Path:
        """The ids the random scenarios draw from, one a line ("posts" or "users")."""
        return self.folder / f"{kind}-ids.txt"


ScriptMaker = Callable[[Run, Server], Path]  # writes a side's wrk script before its run


def measure(run: Run, scenario: Scenario, rounds: int, duration: float) -> None:
    for number in range(rounds):
        sides = [("agora", run.agora), ("ref", run.ref)]
        if number % 2:
            sides.reverse()  # take turns going first
        for side, server in sides:
            path = scenario.agora_path if side == "agora" else scenario.ref_path
            if path is not None:
                result = measure_once(run, scenario, side, server, path, duration)
                getattr(scenario, side).append(result)


def settle(urls: list[str], before: str) -> None:
    """Wait until no statement runs on the run's PostgreSQL databases: a request
    that wrk stopped waiting for at the end of a round still runs its statement
    (the reference's ranked pages take seconds each), and it would take its CPU
    from the next side's round. Said when it waited long."""
    names = [
        urllib.parse.urlsplit(url).path.lstrip("/") for url in urls if url.startswith("postgres")
    ]
    if not names:
        return
    import psycopg

    started = time.monotonic()
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        while True:
            (running,) = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)"
                " AND backend_type = 'client backend' AND state = 'active'"
                " AND pid <> pg_backend_pid()",
                (names,),
            ).fetchone() or (0,)
            waited = time.monotonic() - started
            if not running or waited >= SETTLE_LIMIT:
                break
            time.sleep(SAMPLE_EVERY)
    if waited >= SETTLE_SAID:
        log(f"before {before}: waited {waited:.1f} s for the last round's statements to end")


def measure_once(
    run: Run, scenario: Scenario, side: str, server: Server, path: str, duration: float
) -> WrkResult:
    user = run.agora_user if side == "agora" else run.ref_user
    script = None
    if scenario.mixed:
        script = run.folder / f"mixed-{side}.lua"
    elif scenario.script is not None:
        script = scenario.script(run, server)
    settle([s.url for s in run.sides.values()], f"{side} {scenario.name}")
    sampler = LockSampler(run.sides[server.name].url) if scenario.sample_locks else None
    with sampler or contextlib.nullcontext():
        result = run_wrk(
            server.url + path,
            duration,
            cookie=user.cookie if scenario.logged_in else "",
            script=script,
            connections=scenario.connections,
        )
    result.locks = sampler.found if sampler else None
    # The next run, of either app, must not share the CPU with this one's leftovers
    # (the reference's Markdown pages outlive wrk by seconds).
    server.settle()
    if server is run.agora:
        note_peak(server, f"{scenario.name} ({result.rps:,.0f} req/s)")
    return result


def login_pressure(run: Run, duration: float) -> tuple[float, float, int]:
    """`/` p99 alone, then while 4 threads log in back to back; and how many logins."""
    alone = run_wrk(run.agora.url + "/", duration).p99
    stop = threading.Event()
    done: list[int] = []
    failures: list[str] = []

    def log_in_repeatedly() -> None:
        n = 0
        while not stop.is_set():
            try:
                agora_login(run.agora.port, run.agora_user.username)
                n += 1
            except (BenchError, OSError) as error:
                failures.append(str(error))
        done.append(n)

    threads = [threading.Thread(target=log_in_repeatedly) for _ in range(LOGIN_THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    try:
        pressed = run_wrk(run.agora.url + "/", duration).p99
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if failures:
        log(f"login pressure: {len(failures)} failed logins, e.g. {failures[0][:200]}")
    return alone, pressed, sum(done)


# --- statements per page, counted in process ----------------------------------------------


def count_statements(
    agora_dir: Path, url: str, items: list[Scenario], targets: Targets
) -> dict[str, str]:
    """SQL statements each page runs, anonymous / logged in, as "a / b" per scenario
    ("–" where a page is for logged-in visitors only). The account follows
    `targets.followed`, as the account of the /following scenario does; and, under
    SHIELDED_PATHS, what the shielded reader's pages run (built→cached)."""
    followed = targets.followed
    sys.path.insert(0, str(agora_dir))
    import sqlalchemy
    from fastapi.testclient import TestClient

    from webapp.app import create_app  # type: ignore[import-not-found]

    try:
        from webapp.core.config import Settings  # type: ignore[import-not-found]
    except ImportError:  # a checkout from before webapp/core/ (--agora-dir)
        from webapp.config import Settings  # type: ignore[import-not-found,no-redef]

    app = create_app(Settings(database_url=url, secret_key=SECRET_KEY, bcrypt_rounds=4))
    engine = app.state.engine
    statements: list[str] = []

    def counted(*args: Any) -> None:
        statements.append(str(args[2]))

    sqlalchemy.event.listen(
        getattr(engine, "sync_engine", engine), "before_cursor_execute", counted
    )

    def counted_get(client: Any, path: str) -> int:
        statements.clear()
        response = client.get(path)
        if response.status_code != 200:
            raise BenchError(f"{path} answered {response.status_code}")
        return len(statements)

    def count(client: Any, path: str) -> str:
        """Built (an empty page cache) → served again (from the cache)."""
        client.get(path)  # the first request of a kind may prepare things
        cache = getattr(app.state, "page_cache", None)
        if cache is None:
            return str(counted_get(client, path))
        cache.clear()
        built = counted_get(client, path)
        return f"{built}→{counted_get(client, path)}"

    def logged_in(client: Any) -> str:
        username = f"stmt_{secrets.token_hex(4)}"
        created = client.post(
            "/api/users",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        if created.status_code not in (200, 201):
            raise BenchError(f"POST /api/users answered {created.status_code}")
        token = csrf_of(client.get("/login").text)
        answer = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
        )
        if answer.status_code != 303:
            raise BenchError(f"POST /login answered {answer.status_code}")
        if followed:
            follow_all(url, username, followed)
        return username

    result: dict[str, str] = {}
    paths = {s.name: s.agora_path for s in items}
    with TestClient(app, follow_redirects=False) as client:
        if hasattr(app.state, "page_cache"):
            app.state.page_cache.max_staleness = 0  # a statement for the version, every time
        anonymous = {s.name: "–" if s.login_only else count(client, s.agora_path) for s in items}
        logged_in(client)
        client.get("/")  # shows and drops the flash
        for name, path in paths.items():
            result[name] = f"{anonymous[name]} / {count(client, path)}"
        plain = {path: count(client, path) for path in SHIELDED_PATHS}
    if targets.blocked:
        with TestClient(app, follow_redirects=False) as client:
            shield_all(url, logged_in(client), targets.blocked, targets.muted)
            client.get("/")
            for path in SHIELDED_PATHS:
                result[f"shielded {path}"] = f"{plain[path]} without, {count(client, path)} with"
    return result


# --- the report --------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return "–" if value != value else (f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms")


def report(
    items: list[Scenario],
    statement_counts: dict[str, str] | str,
    extras: dict[str, Any],
    command: str,
) -> str:
    lines = [
        "| scenario | Agora req/s | ref req/s | Agora ÷ ref | Agora p50 | Agora p99 "
        "| ref p50 | ref p99 | statements, built→cached (anon / logged in) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for s in items:
        a_rps, r_rps = Scenario.mean(s.agora, "rps"), Scenario.mean(s.ref, "rps")
        ratio = f"{s.ratio():.2f}" if s.ref and r_rps else "–"
        ref_rps = f"{r_rps:,.0f}" if s.ref else "–"
        stmts = statement_counts.get(s.name, "–") if isinstance(statement_counts, dict) else "–"
        latencies = " | ".join(
            fmt_ms(Scenario.mean(results, attribute))
            for results in (s.agora, s.ref)
            for attribute in ("p50", "p99")
        )
        lines.append(f"| {s.name} | {a_rps:,.0f} | {ref_rps} | {ratio} | {latencies} | {stmts} |")
    lines.append("")
    if isinstance(statement_counts, str):
        lines.append(f"- statements: could not be counted: {statement_counts}")
    for line in extras["lines"]:
        lines.append(f"- {line}")
    lines.append(f"- command: `{command}`")
    return "\n".join(lines)


def random_scenarios_of(items: list[Scenario]) -> list[Scenario]:
    return [s for s in items if s.script is not None and not s.writes]


def p99_checks(
    items: list[Scenario],
    page_floor: dict[str, Scenario],
    at_most: Callable[[str, float, float], None],
) -> None:
    """Agora's p99 against the reference's in every scenario the two share (the median
    of the rounds' ratios for the writes), and, for the pages served from memory,
    against the page floor's p99: the median of the rounds' ratios, in turns."""
    for s in items:
        ref_p99 = Scenario.mean(s.ref, "p99")
        # 0: every request of the reference's timed out (wrk gives no latency then).
        if s.ref and ref_p99 > 0:
            at_most(f"{s.name}: Agora p99 ÷ ref p99", s.ratio("p99"), 1.0)
        if s.from_memory and s.name in page_floor:
            at_most(f"{s.name}: Agora p99 ÷ page floor p99", page_floor[s.name].ratio("p99"), 1.5)


def targets_met(items: list[Scenario], extras: dict[str, Any]) -> list[str]:
    """A PASS/FAIL line per target, for the rows measured (all of them, but with --only)."""
    by_name = {s.name.split(" (")[0]: s for s in items}

    def ratio(name: str) -> float:
        return by_name[name].ratio()

    checks: list[tuple[str, float, str, bool]] = []

    def at_least(label: str, value: float, goal: float) -> None:
        checks.append((label, value, f"≥ {goal}", value >= goal))

    def at_most(label: str, value: float, goal: float) -> None:
        checks.append((label, value, f"≤ {goal}", value <= goal))

    if "/ logged in" in by_name:  # the reads, measured in a whole run (not with --only)
        names = [s.name.split(" (")[0] for s in items]
        at_least("/ anonymous ÷ ref", ratio("/"), 3.0)
        at_least("/ logged in ÷ ref", ratio("/ logged in"), 1.3)
        at_least(f"{names[3]} ÷ ref", ratio(names[3]), 1.2)
        at_least("common search ÷ ref", ratio(names[4]), 2.0)
        at_least("rare search ÷ ref", ratio(names[5]), 2.0)
        at_least("/posts/{id} ÷ ref", ratio("/posts/{id}"), 2.0)
        at_least("/users/{id} ÷ ref", ratio("/users/{id}"), 1.5)
        for name, goal in (
            ("/?sort=hot", 3.0),
            ("/?sort=hot logged in", 1.3),
            ("/?sort=top&t=week", 3.0),
            ("/?sort=top&t=week logged in", 1.3),
            ("/?sort=hot&page=50", 1.2),
        ):
            if name in by_name:
                at_least(f"{name} ÷ ref", ratio(name), goal)
        if PHRASE in by_name:  # the 10 random words are among the random scenarios below
            at_least(f"{PHRASE} ÷ ref", ratio(PHRASE), 2.0)
        if COMMON_PAGE_50 in by_name:
            at_least(f"{COMMON_PAGE_50} ÷ ref", ratio(COMMON_PAGE_50), 1.2)
    for s in random_scenarios_of(items):  # also with --only reads
        at_least(f"{s.name} ÷ ref", ratio(s.name), 1.5)
    if LIKES in by_name:
        at_least(f"{LIKES} ÷ ref", ratio(LIKES), 1.0)
    if NEW_POSTS in by_name:
        at_least(f"{NEW_POSTS} ÷ ref", ratio(NEW_POSTS), 1.0)
    like_floor: Scenario | None = extras.get("like_floor")
    if like_floor is not None and LIKES in by_name:
        at_least(
            "Agora's likes ÷ the like floor's", like_share_of_floor(by_name[LIKES], like_floor), 0.8
        )
        post_floor: Scenario | None = extras.get("post_floor")
        if post_floor is not None:
            at_least(
                "Agora's new posts ÷ the new-post floor's",
                like_share_of_floor(by_name[NEW_POSTS], post_floor),
                0.8,
            )
        crowded = lock_waits(by_name[CROWDED_LIKES].agora)
        at_most(f"share of active backends waiting on a lock, {CROWDED_LIKES}", crowded.share, 0.05)
    if "mixed" in by_name:
        at_least("mixed ÷ ref", ratio("mixed"), 1.5)
        at_most("mixed: Agora errors", float(extras["mixed_errors"]), 0)
    for s in items:
        if s.writes:
            at_most(f"{s.name}: Agora errors", float(sum(r.errors for r in s.agora)), 0)
    p99_checks(items, extras["page_floor"], at_most)
    if extras.get("growth") is not None:
        at_least(extras["growth_label"], extras["growth"], 0.9)
    if "agora_rss" in extras:
        at_most("peak RSS per Agora worker (MB)", max(extras["agora_rss"]), 100)
    if "login_ratio" in extras:
        at_most("login pressure p99 ratio", extras["login_ratio"], 3.0)
    if extras.get("following") is not None:
        at_least("/following ÷ / logged in (Agora, in turns)", extras["following"], 0.8)
    for path, value in extras.get("shielded", []):
        at_least(f"{path} logged in, blocking and muting ÷ without (in turns)", value, 0.9)
    return [
        f"{'PASS' if ok else 'FAIL'}  {label}: {value:.2f} (target {goal})"
        for label, value, goal, ok in checks
    ]


# --- the whole run -----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="10,000 posts, 1 round of 3 s (some rows: 3)"
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite, one worker on each side")
    parser.add_argument(
        "--agora-dir",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the checkout to serve",
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, help="runs of each scenario per app")
    parser.add_argument("--keep-data", action="store_true", help="reuse a seeded agora_bench")
    parser.add_argument(
        "--db-prefix",
        default=DB_PREFIX,
        help="the PostgreSQL databases' names: PREFIX, PREFIX_ref, PREFIX_small, PREFIX_floor",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=ONLY,
        help="measure only these rows (repeatable): writes (likes and new posts through the "
        "API, with their floors and the lock waits), memory (the pages served from memory, "
        "against the reference and the page floor), reads (the reads measured in rounds in "
        "turns: /healthz, the random reads, growth)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    agora_dir = args.agora_dir.resolve()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if not (agora_dir / "webapp").is_dir():
        print(f"bench: no webapp package in {agora_dir}", file=sys.stderr)
        return 2
    catch_signals()
    started = time.monotonic()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    try:
        with tempfile.TemporaryDirectory(prefix="agora-bench-") as tmp:
            print(bench(args, agora_dir, Path(tmp), command))
    except (BenchError, ServerError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        Server.stop_all()
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


def bench(args: argparse.Namespace, agora_dir: Path, folder: Path, command: str) -> str:
    people = knows_people(agora_dir)
    size = for_checkout(QUICK if args.quick else FULL, people)
    small = for_checkout(SMALL, people)
    workers = 1 if args.sqlite else 2
    log(
        f"Agora from {agora_dir}; {'SQLite' if args.sqlite else 'PostgreSQL'}, {size.posts:,} posts"
        + ("" if people else "; a checkout without follows and comments: no /following row")
    )
    if args.sqlite:
        dbs = prepare_sqlite(agora_dir, folder, size, small)
    else:
        dbs = prepare_postgres(agora_dir, size, small, args.keep_data, args.db_prefix)
    targets = pick_targets(dbs.agora, size)
    log(
        f"words: {targets.common_word!r} in {targets.common_share:.1%} of posts, "
        f"{targets.rare_word!r} in {targets.rare_share:.1%}; post {targets.post_id}, "
        f"user {targets.author_id}"
    )

    # Statements are counted in this process while the servers start (a user is added).
    with ThreadPoolExecutor(1) as pool:
        counting = pool.submit(count_statements, agora_dir, dbs.agora, scenarios(targets), targets)
        servers = start_servers(agora_dir, dbs, workers)
        try:
            statement_counts: dict[str, str] | str = counting.result()
        except Exception as error:  # the table says what went wrong instead of crashing
            statement_counts = f"{type(error).__name__}: {error}"
    return measure_all(args, servers, dbs, targets, statement_counts, size, command, folder)


def start_servers(agora_dir: Path, dbs: Databases, workers: int) -> tuple[Server, Server, Server]:
    agora = agora_server(agora_dir, dbs.agora, workers)
    ref = reference_server(dbs.reference, workers)
    # Agora again on the small database, for the growth row.
    small = agora_server(agora_dir, dbs.small, workers, name="agora-small")
    start_all([agora, ref, small])
    log(
        f"Agora at {agora.url}, reference at {ref.url}, "
        f"Agora on {SMALL.posts:,} posts at {small.url}"
    )
    return agora, ref, small


def measure_all(
    args: argparse.Namespace,
    servers: tuple[Server, Server, Server],
    dbs: Databases,
    targets: Targets,
    statement_counts: dict[str, str] | str,
    size: Size,
    command: str,
    folder: Path,
) -> str:
    agora, ref, small = servers
    duration = args.duration or (3.0 if args.quick else 10.0)
    rounds = args.rounds or (1 if args.quick else 2)
    workers = 1 if args.sqlite else 2

    tag = secrets.token_hex(3)
    names = [f"bench_{tag}_{i}" for i in range(MIXED_USERS + 1)]
    agora_ids = agora_accounts(agora.port, names)
    ref_ids = [reference_account(dbs.reference, ref.port, name) for name in names]
    run = Run(agora, ref, agora_ids[0], ref_ids[0], agora_ids[1:], ref_ids[1:], folder, targets)
    run.sides = api_sides(agora, ref, dbs, targets)
    write_lines(run.ids_file("posts"), targets.post_ids)
    write_lines(run.ids_file("users"), targets.user_ids)
    if targets.followed:
        # The logged-in account (of `/ logged in` too) follows the most-followed authors.
        follow_all(dbs.agora, run.agora_user.username, targets.followed)
        status, _ = Client(agora.port, run.agora_user.cookie).request("GET", "/following")
        if status != 200:
            raise BenchError(f"Agora GET /following (logged in) answered {status}")
    reads = read_paths(targets)
    mixed_script(folder, "agora", run.agora_mixed, reads, targets.like_ids, agora=True)
    mixed_script(folder, "ref", run.ref_mixed, reads, targets.like_ids, agora=False)

    log("accounts logged in; warming up")

    def warm_up(server: Server) -> None:
        run_wrk(server.url + "/", 1.0 if args.quick else 3.0)
        for path in reads:  # every page at least once
            http_get(server.port, path)
        if server is agora and targets.followed:
            run_wrk(server.url + "/following", 1.0, cookie=run.agora_user.cookie)
        if server is not small:
            warm_random_reads(run, server)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(warm_up, (agora, ref, small)))
    note_peak(agora, "the warm-up")
    log("warmed up; measuring")

    only = set(args.only or ())
    everything = not only

    def wanted(s: Scenario) -> bool:
        return (
            everything
            or ("writes" in only and s.writes)
            or ("memory" in only and s.from_memory)
            or ("reads" in only and s.in_rounds and not s.writes)
        )

    items = scenarios(targets) + write_scenarios(postgres=not args.sqlite)
    if everything or "memory" in only:
        items += markdown_scenarios(run, dbs)
    if everything:
        items.append(Scenario("mixed", "/", "/", mixed=True))
    items = [s for s in items if wanted(s)]

    # The page floor, up through the reads: each page Agora serves from memory is
    # measured in rounds in turns with it, the floor answering that page's own
    # bytes, just before its rounds against the reference (see measure_page_floor).
    page_floor, page_floor_pairs, front_size = None, {}, 0
    page_sizes: dict[str, int] = {}
    if any(s.from_memory for s in items):
        pages: dict[str, str] = {}
        for number, path in enumerate(["/", *(s.agora_path for s in items if s.from_memory)]):
            status, page = http_get(agora.port, path)
            if status != 200:
                raise BenchError(f"Agora GET {path} answered {status}")
            kept = folder / f"floor-page-{number}.html"
            kept.write_text(page, encoding="utf-8")
            pages[path] = str(kept)
            page_sizes[path] = len(kept.read_bytes())
        front = Path(pages["/"])
        front_size = page_sizes["/"]
        (folder / "floor-pages.json").write_text(json.dumps(pages), encoding="utf-8")
        page_floor = floor_server(front, workers, folder / "floor-pages.json")
        start_all([page_floor])
    page_seconds = PAGE_FLOOR_SECONDS[bool(args.quick)]
    read_rounds = max(READ_ROUNDS, rounds)
    read_rounds_lines: list[str] = []
    for scenario in items:
        if scenario.ref_path is None or scenario.writes:
            continue  # Agora alone: in turns with its yardstick below; the writes: at the end
        if scenario.from_memory:
            # Served from memory as measured, not built cold by all 16 connections
            # at once: the writes before the Markdown pages retired every page,
            # and those two were made after the warm-up.
            run_wrk(agora.url + scenario.agora_path, 1.0)
            http_get(ref.port, scenario.ref_path)
            agora.settle()
            if page_floor is not None:
                pair = measure_page_floor(run, scenario, page_floor, page_seconds)
                page_floor_pairs[scenario.name] = pair
                log(
                    f"{scenario.name}: Agora p99 ÷ page floor p99 per round "
                    f"{spread(pair.round_ratios('p99'))}"
                )
        if scenario.in_rounds:
            # Each round's ratios within the round, the median of them (as the writes').
            measure_in_turns(run, scenario, read_rounds, duration)
            read_rounds_lines.append(rounds_report(scenario, None, duration))
            log(read_rounds_lines[-1])
            continue
        measure(run, scenario, rounds, duration)
        a, r = Scenario.mean(scenario.agora, "rps"), Scenario.mean(scenario.ref, "rps")
        log(f"{scenario.name}: Agora {a:,.0f} req/s, reference {r:,.0f} req/s")
    if page_floor is not None:
        page_floor.stop()

    # /following against `/`, both logged in as the same account on the same server,
    # in turns (at least 3 rounds each), so that the two meet the same moment's load.
    following_pair = Scenario("following", "/following", "/", logged_in=True)
    following_lines: list[str] = []
    if targets.followed and everything:
        by_agora = replace(run, ref=agora, ref_user=run.agora_user)
        measure(by_agora, following_pair, max(3, rounds), duration)
        next(s for s in items if s.name == FOLLOWING).agora = following_pair.agora
        following_lines.append(following_report(following_pair, targets))
        log(following_lines[0])
    shielded_lines, shielded_ratios = [], []
    if targets.blocked and everything:
        twin = agora_accounts(agora.port, [f"bench_{tag}_shielded"])[0]
        follow_all(dbs.agora, twin.username, targets.followed)
        shield_all(dbs.agora, twin.username, targets.blocked, targets.muted)
        # The twin on the Agora side, the account without them on the other.
        by_twins = replace(run, ref=agora, agora_user=twin, ref_user=run.agora_user)
        for path in SHIELDED_PATHS:
            run_wrk(agora.url + path, 1.0, cookie=twin.cookie)  # its own lists, cached
            pair = Scenario(f"shielded {path}", path, path, logged_in=True)
            measure(by_twins, pair, max(3, rounds), duration)
            shielded_ratios.append((path, following_ratio(pair)))
            shielded_lines.append(shielded_report(pair, path, targets, statement_counts))
            log(shielded_lines[-1])

    extras: dict[str, Any] = {"page_floor": page_floor_pairs, "lines": []}
    if everything:
        extras.update(read_extras(run, items, duration))
    if everything or "reads" in only:
        growth = measure_growth(run, small, read_rounds, duration, size)
        log(growth["lines"][0])
        extras["growth"], extras["growth_label"] = growth["growth"], growth["growth_label"]
        extras["lines"] += growth["lines"]
    extras["lines"] += read_rounds_lines
    if "/" in page_floor_pairs:
        extras["lines"].append(floor_report(page_floor_pairs["/"], front_size))
        log(extras["lines"][-1])
    if page_floor_pairs:
        extras["lines"].append(page_floor_report(page_floor_pairs, page_seconds, page_sizes))

    # The writes, last: each in rounds in turns with the reference and its floor, so
    # that the reference's writes in the floor's turns (new posts, thousands of them)
    # come after every read of its database has been measured.
    if any(s.writes for s in items):
        like_floor, floor_crowded, post_floor = measure_writes(
            run, items, dbs.floor, workers, rounds, duration
        )
        extras["like_floor"], extras["post_floor"] = like_floor, post_floor
        likes_lines = likes_report(items, like_floor, floor_crowded, post_floor, duration)
        for line in likes_lines:
            log(line)
        extras["lines"] += likes_lines
    for s in items:
        for side, results in (("Agora", s.agora), ("reference", s.ref)):
            if not s.mixed and any(r.errors for r in results):
                log(f"warning: {side} {s.name}: {error_detail(results)}")

    agora_rss = [peak_rss_mb(pid) for pid in agora.worker_pids()]
    ref_rss = [peak_rss_mb(pid) for pid in ref.worker_pids()]
    Server.stop_all()
    if everything:
        extras["agora_rss"] = agora_rss
        extras["following"] = following_ratio(following_pair) if targets.followed else None
        extras["shielded"] = shielded_ratios
    extras["lines"] += [
        *following_lines,
        *shielded_lines,
        f"search words: {targets.common_word!r} is in {targets.common_share:.1%} of published "
        f"posts, {targets.rare_word!r} in {targets.rare_share:.1%} (measured with the search's "
        "ILIKE)",
        "peak RSS per worker (VmHWM): Agora "
        + ", ".join(f"{mb:.0f} MB" for mb in agora_rss)
        + "; reference "
        + ", ".join(f"{mb:.0f} MB" for mb in ref_rss)
        + ("" if everything else f" (only the rows of --only {','.join(sorted(only))})"),
        f"data: {'SQLite' if args.sqlite else 'PostgreSQL'}, {size.posts:,} posts, "
        f"{size.users:,} users, {size.votes:,} likes, {size.follows:,} follows, "
        f"{size.comments:,} comments; {workers} worker(s) each; "
        f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}, {rounds} round(s) of {duration:g} s "
        f"(the writes {max(WRITE_ROUNDS, rounds)} rounds in turns; /healthz, the random reads "
        f"and growth {read_rounds} rounds in turns; the pages from memory "
        f"against the page floor {PAGE_FLOOR_ROUNDS} rounds of {page_seconds:g} s); "
        f"{date.today().isoformat()}",
    ]
    table = report(items, statement_counts, extras, command)
    verdicts = targets_met(items, extras)
    return "\n" + table + "\n\nTargets:\n" + "\n".join(f"  {v}" for v in verdicts) + "\n"


def read_extras(run: Run, items: list[Scenario], duration: float) -> dict[str, Any]:
    """Mixed's errors and writes, and login pressure: the rows of a whole run."""
    mixed = next(s for s in items if s.mixed)
    mixed_errors = sum(r.errors for r in mixed.agora)
    ref_mixed_errors = sum(r.errors for r in mixed.ref)
    writes = [re.search(r"MIXED_WRITES (\d+)", r.output) for r in mixed.agora + mixed.ref]
    write_counts = [int(w[1]) if w else 0 for w in writes]
    agora_writes = sum(write_counts[: len(mixed.agora)])

    alone, pressed, logins = login_pressure(run, duration)
    note_peak(run.agora, "login pressure")
    log(f"login pressure: p99 {alone:.1f} ms alone, {pressed:.1f} ms with {logins} logins")

    return {
        "mixed_errors": mixed_errors,
        "login_ratio": pressed / alone,
        "lines": [
            f"mixed errors (status >= 400 or socket errors): Agora {mixed_errors}, "
            f"reference {ref_mixed_errors}; writes sent: Agora {agora_writes}, "
            f"reference {sum(write_counts) - agora_writes}",
            f"login pressure (Agora `/`): p99 {alone:.1f} ms alone, {pressed:.1f} ms while "
            f"{LOGIN_THREADS} threads logged in ({logins} logins): ratio {pressed / alone:.2f} "
            "(target ≤ 3)",
        ],
    }


def measure_growth(
    run: Run, small: Server, rounds: int, duration: float, size: Size
) -> dict[str, Any]:
    """Growth: Agora's `/` on the full database against Agora's `/` on 1,000 posts (the
    small server in the reference's place), in rounds in turns, the median of the
    rounds' own ratios."""
    sizes = f"on {size.posts:,} ÷ on {SMALL.posts:,} posts"
    pair = Scenario(f"growth, / {sizes}", "/", "/", in_rounds=True)
    measure_in_turns(replace(run, ref=small), pair, rounds, duration)
    big_rps, small_rps = pair.figures("rps")
    growth = pair.ratio()
    return {
        "growth": growth,
        "growth_label": f"growth (Agora / {sizes})",
        "lines": [
            f"growth: Agora `/` on {size.posts:,} posts ÷ on {SMALL.posts:,} posts, "
            f"{len(pair.agora)} rounds of {duration:g} s in turns, the median of the rounds' "
            f"own (each round in brackets): {spread(pair.round_ratios())} (target ≥ 0.9); "
            f"{spread(big_rps, 0)} req/s on {size.posts:,} posts, {spread(small_rps, 0)} "
            f"on {SMALL.posts:,}"
        ],
    }


def measure_page_floor(run: Run, scenario: Scenario, floor: Server, seconds: float) -> Scenario:
    """A page Agora serves from memory, in PAGE_FLOOR_ROUNDS rounds in turns with the
    page floor answering the same page's bytes (the order changing every round): the
    p99 any page of that size served from memory can have at that moment, against
    the page's own."""
    path = scenario.agora_path
    pair = Scenario(f"{scenario.name}, page floor", path, path, in_rounds=True)
    measure(replace(run, ref=floor), pair, PAGE_FLOOR_ROUNDS, seconds)
    return pair


def warm_random_reads(run: Run, server: Server) -> None:
    """A second of each random read, so that both sides meet a warm database."""
    for scenario in random_scenarios(run.targets):
        assert scenario.script is not None
        run_wrk(server.url + scenario.agora_path, 1.0, script=scenario.script(run, server))


def error_detail(results: list[WrkResult]) -> str:
    """How many errors, and wrk's own lines about them (statuses, socket errors)."""
    lines = {
        line.strip()
        for result in results
        for line in result.output.splitlines()
        if line.strip().startswith(("Non-2xx", "Socket errors"))
    }
    return f"{sum(r.errors for r in results)} errors ({'; '.join(sorted(lines))})"


def api_sides(agora: Server, ref: Server, dbs: Databases, targets: Targets) -> dict[str, Side]:
    """The likers' bearer tokens on each side: Agora's from its /api/login (their
    seeded password), the reference's own kind from its /api/login."""
    sides = {
        agora.name: Side(dbs.agora, api_tokens(agora.port, targets.likers)),
        ref.name: Side(dbs.reference, api_tokens(ref.port, targets.likers)),
    }
    log(f"{len(targets.likers)} likers logged in through /api/login on both sides")
    return sides


LIKES = "likes through the API, 50 people"
CROWDED_LIKES = f"likes through the API, {LOCK_CONNECTIONS} connections"
NEW_POSTS = "new posts through the API"


def write_scenarios(postgres: bool) -> list[Scenario]:
    """Likes (and likes taken back) by 50 people on random posts, then new posts, through
    the API, each in rounds in turns (measure_writes); on PostgreSQL the likes again at 64
    connections, in rounds in turns as well, sampling the lock waits."""
    found = [
        Scenario(LIKES, "/api/vote", "/api/vote", script=likes_script, writes=True, in_rounds=True)
    ]
    if postgres:
        found.append(crowded_likes(CROWDED_LIKES))
    found.append(
        Scenario(
            NEW_POSTS,
            "/api/posts",
            "/api/posts",
            script=new_posts_script,
            writes=True,
            in_rounds=True,
        )
    )
    return found


def crowded_likes(name: str) -> Scenario:
    """The likes at 64 connections, in rounds in turns with the reference's (its p99
    ratio is the median of the rounds' own, as the other writes'), sampling the lock
    waits of every run."""
    return Scenario(
        name,
        "/api/vote",
        "/api/vote",
        script=likes_script,
        writes=True,
        connections=LOCK_CONNECTIONS,
        sample_locks=True,
        in_rounds=True,
    )


def measure_writes(
    run: Run,
    items: list[Scenario],
    floor_url: str | None,
    workers: int,
    rounds: int,
    duration: float,
) -> tuple[Scenario | None, Scenario | None, Scenario | None]:
    """Likes and new posts, each in at least WRITE_ROUNDS rounds in turns with the
    reference and (PostgreSQL) its floor: Agora, the reference, the floor, the
    reference, the next round the other way round (measure_in_turns). Between the
    two, the likes at 64 connections in the same way (the like floor at 64
    connections in the floor's turns), sampling every run's lock waits. The
    floor (like_floor_app.py) sends Agora's statements from a bare ASGI app on a
    copy of the data with Agora's triggers; its token is the liker's id and
    security stamp (`ID:STAMP`), which its statements check as Agora's do."""
    by_name = {s.name: s for s in items}
    write_rounds = max(WRITE_ROUNDS, rounds)
    floor = None
    like_pair = crowded = post_pair = None
    if floor_url is not None:
        floor = like_floor_server(floor_url, workers)
        start_all([floor])
        run.sides[floor.name] = Side(floor_url, like_floor_tokens(floor_url, run.targets.likers))
        like_pair = Scenario(
            "like floor", "/api/vote", "/api/vote", script=likes_script, writes=True, in_rounds=True
        )
        crowded = crowded_likes(f"like floor, {LOCK_CONNECTIONS} connections")
        post_pair = Scenario(
            "new-post floor",
            "/api/posts",
            "/api/posts",
            script=new_posts_script,
            writes=True,
            in_rounds=True,
        )
    try:
        if LIKES in by_name:
            measure_in_turns(run, by_name[LIKES], write_rounds, duration, floor, like_pair)
        if CROWDED_LIKES in by_name:
            measure_in_turns(run, by_name[CROWDED_LIKES], write_rounds, duration, floor, crowded)
        if NEW_POSTS in by_name:
            measure_in_turns(run, by_name[NEW_POSTS], write_rounds, duration, floor, post_pair)
    finally:
        if floor is not None:
            floor.stop()
    return like_pair, crowded, post_pair


def measure_in_turns(
    run: Run,
    scenario: Scenario,
    rounds: int,
    duration: float,
    floor: Server | None = None,
    floor_pair: Scenario | None = None,
) -> None:
    """`rounds` rounds of Agora, the reference (in Agora's turn), the floor, the
    reference (in the floor's turn), every other round the other way round; without a
    floor, Agora and the reference. Agora's runs and the reference's in its turn go to
    `scenario`, the floor's and the reference's in its turn to `floor_pair`, round i
    at index i of each, so that each round's ratios are taken within the round."""
    sides = ["agora", "ref:agora"]
    if floor is not None and floor_pair is not None:
        sides += ["floor", "ref:floor"]
    for number, order in enumerate(turns(sides, rounds), start=1):
        figures = []
        for side in order:
            kind, _, turn = side.partition(":")
            server = {"agora": run.agora, "floor": floor}.get(kind, run.ref)
            assert server is not None
            path = scenario.ref_path if kind == "ref" else scenario.agora_path
            assert path is not None
            pair = floor_pair if (turn or kind) == "floor" else scenario
            assert pair is not None
            measuring = "ref" if kind == "ref" else "agora"
            result = measure_once(run, scenario, measuring, server, path, duration)
            getattr(pair, measuring).append(result)
            label = server.name + (f" in {turn}'s turn" if turn and floor is not None else "")
            figures.append(f"{label} {result.rps:,.0f} req/s, p99 {fmt_ms(result.p99)}")
        log(f"{scenario.name}, round {number}: " + "; ".join(figures))


def like_floor_tokens(url: str, likers: list[tuple[int, str]]) -> list[str]:
    """The like floor's bearer tokens: each liker's id and security stamp (`ID:STAMP`),
    which its statements check as Agora's check a signed token's."""
    stamps = dict(sql_rows(url, "SELECT id, security_stamp FROM users"))
    return [f"{user_id}:{stamps[user_id]}" for user_id, _ in likers]


def likes_report(
    items: list[Scenario],
    floor: Scenario | None,
    floor_crowded: Scenario | None,
    post_floor: Scenario | None = None,
    duration: float = 0.0,
) -> list[str]:
    """Each write's rounds (rounds_report), the like floor against Agora's likes (both
    as a share of the reference's, taken in turns with each), the lock waits at 64
    connections, and the new-post floor against Agora's new posts."""
    by_name = {s.name: s for s in items}
    rounds_lines = [
        rounds_report(by_name[name], pair, duration)
        for name, pair in ((LIKES, floor), (CROWDED_LIKES, floor_crowded), (NEW_POSTS, post_floor))
        if name in by_name
    ]
    if floor is None or floor_crowded is None:
        return [*rounds_lines, "like floor and lock waits: PostgreSQL only"]
    floor_rps, ref_rps = Scenario.mean(floor.agora, "rps"), Scenario.mean(floor.ref, "rps")
    posts_lines = []
    if post_floor is not None and NEW_POSTS in by_name:
        post_rps = Scenario.mean(post_floor.agora, "rps")
        post_ref = Scenario.mean(post_floor.ref, "rps")
        posts_lines.append(
            f"new-post floor (like_floor_app.py: Agora's statements for a new post through "
            f"the API, sent by a bare ASGI app): {post_rps:,.0f} req/s, "
            f"p99 {fmt_ms(Scenario.mean(post_floor.agora, 'p99'))}, in turns with the "
            f"reference's {post_ref:,.0f} req/s (floor ÷ ref {post_floor.ratio():.2f}, median "
            f"of the rounds); Agora's new posts are "
            f"{like_share_of_floor(by_name[NEW_POSTS], post_floor):.0%} of the floor (target ≥ 80%)"
        )
    lines = [*rounds_lines, *posts_lines]
    if LIKES in by_name:
        lines.append(
            f"like floor (like_floor_app.py: Agora's statements for a like, sent by a bare ASGI "
            f"app, on a copy of the data with Agora's triggers): {floor_rps:,.0f} req/s, "
            f"p99 {fmt_ms(Scenario.mean(floor.agora, 'p99'))}, in turns with the reference's "
            f"{ref_rps:,.0f} req/s (floor ÷ ref {floor.ratio():.2f}, median of the rounds); "
            f"Agora's likes are {like_share_of_floor(by_name[LIKES], floor):.0%} of the floor "
            "(target ≥ 80%)"
        )
    if CROWDED_LIKES in by_name:
        crowded = by_name[CROWDED_LIKES]
        lines.append(
            f"lock waits, likes at {LOCK_CONNECTIONS} connections (pg_stat_activity every "
            f"{SAMPLE_EVERY * 1000:.0f} ms): Agora {lock_waits(crowded.agora).describe()}; "
            f"like floor {lock_waits(floor_crowded.agora).describe()}; reference "
            f"{lock_waits(crowded.ref).describe()}"
        )
    return lines


def rounds_report(s: Scenario, floor: Scenario | None, duration: float) -> str:
    """One scenario's rounds, each figure round by round and each ratio as its median
    (the rounds' own in brackets), for a reader to see the spread."""
    agora_rps, ref_rps = s.figures("rps")
    agora_p99, ref_p99 = s.figures("p99")
    order = "Agora, ref" + (", floor, ref" if floor is not None else "")
    ref_turn = "ref in Agora's turn" if floor is not None else "ref"
    parts = [f"Agora {spread(agora_rps, 0)} req/s", f"{ref_turn} {spread(ref_rps, 0)}"]
    ratios = [
        f"Agora ÷ ref {spread(s.round_ratios())}",
        f"p99 ÷ ref p99 {spread(s.round_ratios('p99'))} "
        f"(Agora {spread(agora_p99, 1, ' ms')}; ref {spread(ref_p99, 1, ' ms')})",
    ]
    if floor is not None:
        floor_rps, floor_ref = floor.figures("rps")
        parts += [
            f"floor {spread(floor_rps, 0)}",
            f"ref in the floor's turn {spread(floor_ref, 0)}",
        ]
        ratios += [
            f"floor ÷ ref {spread(floor.round_ratios())}",
            f"floor p99 ÷ ref p99 {spread(floor.round_ratios('p99'))}",
            "Agora ÷ floor through the ref "
            + spread(through_reference(agora_rps, ref_rps, floor_rps, floor_ref)),
            f"Agora ÷ floor directly {spread(per_round(agora_rps, floor_rps))}",
        ]
    return (
        f"{s.name}, {len(s.agora)} rounds of {duration:g} s in turns ({order}; every other "
        f"round the other way round), the median of the rounds (each round in brackets): "
        + "; ".join(parts)
        + "; "
        + "; ".join(ratios)
    )


def like_share_of_floor(likes: Scenario, floor: Scenario) -> float:
    """Agora's writes ÷ the floor's. Measured in rounds (Agora, ref, floor, ref), the
    median of the rounds' own Agora ÷ floor: both ran in the same round, and taken
    through the reference each round's figure carried four runs' noise instead of two
    (the largest round ÷ the smallest 2.2–4.1 through the reference, 1.3–2.5 directly,
    in four sets of rounds). In one round each, (Agora ÷ ref) ÷ (floor ÷ ref), so that
    the reference carries the moment's load."""
    if likes.in_rounds and floor.in_rounds and len(likes.agora) == len(floor.agora):
        agora_rps, _ = likes.figures("rps")
        floor_rps, _ = floor.figures("rps")
        return median(per_round(agora_rps, floor_rps))
    return ratio_to_ref(likes) / ratio_to_ref(floor)


def ratio_to_ref(s: Scenario) -> float:
    return s.ratio()


def floor_report(pair: Scenario, size: int) -> str:
    def summary(results: list[WrkResult]) -> str:
        p50, p99 = Scenario.mean(results, "p50"), Scenario.mean(results, "p99")
        return (
            f"{Scenario.mean(results, 'rps'):,.0f} req/s, p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)} "
            f"(p99 ÷ p50 {p99 / p50:.2f})"
        )

    return (
        f"floor: tests/perf/floor_app.py, which answers the same {size:,} bytes from memory "
        f"under the same uvicorn, {summary(pair.ref)}; Agora `/` in turns with it, "
        f"{summary(pair.agora)} (means of {len(pair.agora)} rounds; p99 ÷ the floor's p99 "
        f"per round {spread(pair.round_ratios('p99'))})"
    )


def page_floor_report(pairs: dict[str, Scenario], seconds: float, sizes: dict[str, int]) -> str:
    """Every page served from memory against the page floor serving its bytes: the
    median of the rounds' p99 ratios, each round's in brackets, and the page's size."""
    rows = "; ".join(
        f"{name.split(' (')[0]} ({sizes.get(pair.agora_path, 0):,} bytes) "
        f"{spread(pair.round_ratios('p99'))}"
        for name, pair in pairs.items()
    )
    return (
        f"pages from memory, Agora p99 ÷ the page floor's p99, the floor answering each "
        f"page's own bytes, {PAGE_FLOOR_ROUNDS} rounds of {seconds:g} s in turns with it for "
        f"each page, the median of the rounds (each round in brackets; target ≤ 1.5): {rows}"
    )


def following_ratio(pair: Scenario) -> float:
    return Scenario.mean(pair.agora, "rps") / Scenario.mean(pair.ref, "rps")


def following_report(pair: Scenario, targets: Targets) -> str:
    following, home = Scenario.mean(pair.agora, "rps"), Scenario.mean(pair.ref, "rps")
    return (
        f"/following: Agora {following:,.0f} req/s ÷ `/` logged in {home:,.0f} req/s = "
        f"{following_ratio(pair):.2f} (target ≥ 0.8), measured in turns ({len(pair.agora)} "
        f"rounds each). The same fresh account on both pages, following the "
        f"{len(targets.followed)} most-followed authors ({targets.followed_share:.1%} of the "
        "published posts); logged in against logged in, since only anonymous pages are served "
        "from the HTML cache"
    )


# The logged-in feeds the shielded reader is measured on, against the same account
# without its blocks and mutes.
SHIELDED_PATHS = ("/", "/following")


def shielded_report(
    pair: Scenario, path: str, targets: Targets, statement_counts: dict[str, str] | str
) -> str:
    shielded, plain = Scenario.mean(pair.agora, "rps"), Scenario.mean(pair.ref, "rps")
    latencies = ", ".join(
        f"p50 {fmt_ms(Scenario.mean(results, 'p50'))} / p99 {fmt_ms(Scenario.mean(results, 'p99'))}"
        for results in (pair.agora, pair.ref)
    )
    statements = (
        statement_counts.get(f"shielded {path}", "–") if isinstance(statement_counts, dict) else "–"
    )
    return (
        f"`{path}` logged in, a reader blocking {len(targets.blocked)} and muting "
        f"{len(targets.muted)} people: {shielded:,.0f} req/s ÷ the same follows without them "
        f"{plain:,.0f} req/s = {following_ratio(pair):.2f} (target ≥ 0.9), in turns "
        f"({len(pair.agora)} rounds each; {latencies}); statements, built→cached: {statements}"
    )


if __name__ == "__main__":
    sys.exit(main())
