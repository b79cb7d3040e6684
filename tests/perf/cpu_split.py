"""Where a random read's CPU goes: Agora's workers, PostgreSQL's backends and
wrk, against the reference app's, per request.

On a shared two-core machine, wall-clock rates are noise, but the CPU a
process group spends per request served much less so: it is read from
/proc/PID/schedstat (or utime + stime) before and after each round. The
backends counted are those connected to the database served
(pg_stat_activity), so other users of the same PostgreSQL server are left
out. On two cores, req/s is about the inverse of the total.

    python tests/perf/cpu_split.py --db agora_copy --ports 8300-8309 [--rounds 3] [--duration 10]
        [--scenario post|user|api-post|api-newest|like|new-post]
        [--compare /path/to/another/checkout]
        [--agora-only]

Agora is served as the benchmark serves it (`python -m webapp serve --workers
2`, the bench's environment), the reference under gunicorn gthread (2 x 4);
both read the same copy (the reference's pages read no trigger-kept column).
Each round runs wrk -t2 -c16 for `--duration` seconds on each side, taking
turns going first. `--scenario` is one of bench.py's random reads, with its
own script (an id drawn for every request): `/posts/{random id}` (post, the
default), `/users/{random id}` (user) or `GET /api/posts/{random id}`
(api-post); or bench.py's `GET /api/posts?limit=20` (api-newest: the newest
page, the same address every time, which no page cache holds). `--compare`
serves another checkout too (`before`), on the same copy: a change's effect,
measured in the same rounds.

The writes, `like` and `new-post`, are bench.py's likes through the API (50
people, their tokens from /api/login; a like of a random post, and every
other request the oldest taken back) and new posts through the API, held
against the like floor (like_floor_app.py: the same statements, sent by a
bare ASGI app) instead of the reference. Writes change what they run on, so
each side writes to its own copy of `--db` (`{db}_agora`, `{db}_floor`,
`{db}_before`, made from it at the start and dropped at the end, triggers
and all), and its PostgreSQL backends are those of its copy.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PERF_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PERF_DIR))

from bench import (  # noqa: E402 (beside this file)
    RANDOM_IDS,
    RANDOM_READS,
    Side,
    agora_server,
    api_tokens,
    like_floor_server,
    like_floor_tokens,
    likes_lua,
    new_posts_lua,
    pg_admin,
    random_read_script,
    reference_server,
    seeded_likers,
    settle,
    write_lines,
    write_script,
)
from servers import Server, catch_signals  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The time the process ran: /proc/PID/schedstat's, in nanoseconds, where
    the kernel keeps it (utime + stime count 10 ms ticks)."""
    # Each thread's (a gthread worker answers in its threads).
    try:
        return (
            sum(
                int((task / "schedstat").read_text().split()[0])
                for task in Path(f"/proc/{pid}/task").iterdir()
            )
            / 1e9
        )
    except (OSError, ValueError, IndexError):
        pass
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def backends(url: str, database: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [row[0] for row in rows]


# The scenarios, by the names bench.py gives them in its RANDOM_READS.
SCENARIOS = {
    "post": "/posts/{random id}",
    "user": "/users/{random id}",
    "api-post": "GET /api/posts/{random id}",
}
# The reads of one fixed address, by the names bench.py gives them.
FIXED = {"api-newest": "GET /api/posts?limit=20"}
# The writes, held against the like floor, each side on its own copy.
WRITES = {
    "like": "likes through the API (POST /api/vote), 50 people, random posts",
    "new-post": "new posts through the API (POST /api/posts), 50 people",
}


def wrk(port: int, script: Path, duration: float) -> tuple[int, float, str]:
    """Requests served, their rate and p99 (as wrk prints it); wrk's CPU is
    read from `os.times()`, which counts the children waited for."""
    command = ["wrk", "-t2", "-c16", f"-d{duration:g}s", "--latency", "-s", str(script)]
    process = subprocess.Popen(
        [*command, f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True
    )
    out, _ = process.communicate()
    served = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # The latency distribution's line (the thread stats may hold a "99.0%" too).
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        print(f"  warning: {non2xx.group(1)} non-2xx answers", file=sys.stderr)
    return served, rate, p99.group(1) if p99 else "?"


def measure(
    server: Server, admin: str, database: str, script: Path, duration: float
) -> dict[str, float]:
    workers = server.worker_pids()
    pg = backends(admin, database)
    before_w = sum(cpu_seconds(pid) for pid in workers)
    before_pg = {pid: cpu_seconds(pid) for pid in pg}
    children_before = os.times()
    served, rate, p99 = wrk(server.port, script, duration)
    children_after = os.times()
    after_w = sum(cpu_seconds(pid) for pid in workers)
    pg_after = backends(admin, database)
    pg_used = sum(cpu_seconds(pid) - before_pg.get(pid, 0.0) for pid in set(pg) | set(pg_after))
    wrk_used = (children_after.children_user - children_before.children_user) + (
        children_after.children_system - children_before.children_system
    )
    per = 1e6 / served
    return {
        "requests": served,
        "rps": rate,
        "p99": p99,  # type: ignore[dict-item]
        "python": (after_w - before_w) * per,
        "postgres": pg_used * per,
        "wrk": wrk_used * per,
    }


@dataclass
class Turn:
    """One side of the comparison: its server, the database it serves, and (for
    a write) its callers' tokens, which its wrk script sends."""

    name: str
    server: Server
    database: str
    tokens: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{PG}/{self.database}"


PG = "postgresql://postgres@127.0.0.1:5432"


class Writes:
    """What a write scenario needs to make each side's wrk script before each of
    its runs (the likes' script reads what each caller likes already from that
    side's copy, as bench.py does before every run)."""

    def __init__(self, scenario: str, db: str, folder: Path) -> None:
        self.scenario, self.folder = scenario, folder
        self.likers = seeded_likers(f"{PG}/{db}")
        with psycopg.connect(f"{PG}/{db}") as connection:
            rows = connection.execute(RANDOM_IDS["posts"]).fetchall()
        self.posts_file = write_lines(folder / "posts-ids.txt", [row[0] for row in rows])

    def script(self, turn: Turn) -> Path:
        if self.scenario == "new-post":
            return new_posts_lua(self.folder, turn.name, turn.tokens)
        side = Side(turn.url, turn.tokens)
        return likes_lua(self.folder, turn.name, side, self.likers, self.posts_file)


def copy_database(source: str, name: str) -> str:
    """A fresh copy of `source` named `name` (a write's side writes to its own)."""
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_admin(f"CREATE DATABASE {name} TEMPLATE {source}")
    return name


def script_for(scenario: str, admin: str, folder: Path) -> Path:
    """bench.py's wrk script for the scenario, with its ids read from the copy as
    bench.py reads them (a fixed address: that address every time)."""
    if scenario in FIXED:
        _, path = FIXED[scenario].split(" ", 1)
        request = f'function request()\n  return wrk.format("GET", "{path}")\nend\n'
        return write_script(folder, scenario, request)
    template, ids = next((t, i) for name, t, i in RANDOM_READS if name == SCENARIOS[scenario])
    with psycopg.connect(admin) as connection:
        rows = connection.execute(RANDOM_IDS[ids]).fetchall()
    ids_file = write_lines(folder / f"{ids}-ids.txt", [row[0] for row in rows])
    return random_read_script(folder, f"random-{scenario}", template, ids_file, highest=0)


def sides_for(args: argparse.Namespace) -> list[Turn]:
    """Agora (and `before`) with the reference on `--db` for a read; for a write,
    with the like floor, each on its own copy of it."""
    writes = args.scenario in WRITES
    names = ["agora", *(["before"] if args.compare else [])]
    if not args.agora_only:
        names.append("floor" if writes else "ref")
    database = {name: copy_database(args.db, f"{args.db}_{name}") for name in names if writes}
    turns = []
    for name in names:
        db = database.get(name, args.db)
        url = f"{PG}/{db}"
        if name == "ref":
            server = reference_server(url, 2)
        elif name == "floor":
            server = like_floor_server(url, 2)
        else:
            checkout = args.compare if name == "before" else PERF_DIR.parent.parent
            server = agora_server(
                checkout, url.replace("postgresql", "postgresql+psycopg"), 2, name
            )
        turns.append(Turn(name, server, db))
    return turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--ports", default="8300-8309")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--scenario", choices=sorted([*SCENARIOS, *FIXED, *WRITES]), default="post")
    parser.add_argument(
        "--agora-only", action="store_true", help="no reference app (no like floor for a write)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="a checkout of another version of Agora, served beside this one (`before`)",
    )
    args = parser.parse_args()
    os.environ["BENCH_PORTS"] = args.ports
    catch_signals()
    folder = Path(tempfile.mkdtemp(prefix="cpu-split-"))
    writes = Writes(args.scenario, args.db, folder) if args.scenario in WRITES else None
    read_script = None if writes else script_for(args.scenario, f"{PG}/{args.db}", folder)
    title = WRITES[args.scenario] if writes else {**SCENARIOS, **FIXED}[args.scenario]
    print(f"{title}, {args.rounds} round(s) of {args.duration:g} s", flush=True)
    sides = sides_for(args)

    def run(turn: Turn, duration: float) -> dict[str, float]:
        """One wrk run on `turn`, after the last one's statements have ended."""
        if writes is None:
            assert read_script is not None
            return measure(turn.server, PG, turn.database, read_script, duration)
        settle([t.url for t in sides], turn.name)
        return measure(turn.server, PG, turn.database, writes.script(turn), duration)

    try:
        for turn in sides:
            turn.server.start()
        for turn in sides:
            turn.server.wait_ready()
        if writes is not None:
            for turn in sides:
                turn.tokens = (
                    like_floor_tokens(turn.url, writes.likers)
                    if turn.name == "floor"
                    else api_tokens(turn.server.port, writes.likers)
                )
        # Warm every side: imports, pools, psycopg's prepared statements.
        for turn in sides:
            run(turn, 3)
        results: dict[str, list[dict[str, float]]] = {turn.name: [] for turn in sides}
        for number in range(args.rounds):
            order = sides[number % len(sides) :] + sides[: number % len(sides)]
            for turn in order:
                results[turn.name].append(run(turn, args.duration))
                r = results[turn.name][-1]
                print(
                    f"round {number + 1} {turn.name:6}: {r['rps']:7.0f} req/s p99 {r['p99']:>8}  "
                    f"CPU µs/request: python {r['python']:6.0f}  postgres {r['postgres']:5.0f}  "
                    f"wrk {r['wrk']:4.0f}  total {r['python'] + r['postgres'] + r['wrk']:6.0f}",
                    flush=True,
                )
        print("\nmean CPU µs per request (all rounds)")
        for name, rounds in results.items():
            served = sum(r["requests"] for r in rounds)
            mean = {
                key: sum(r[key] * r["requests"] for r in rounds) / served
                for key in ("python", "postgres", "wrk")
            }
            print(
                f"  {name:6}: python {mean['python']:6.0f}  postgres {mean['postgres']:5.0f}  "
                f"wrk {mean['wrk']:4.0f}  total {sum(mean.values()):6.0f}"
            )
    finally:
        Server.stop_all()
        if writes is not None:
            for turn in sides:
                pg_admin(f"DROP DATABASE IF EXISTS {turn.database} WITH (FORCE)")


if __name__ == "__main__":
    main()
