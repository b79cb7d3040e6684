"""Where a random read's CPU goes: Agora's workers, PostgreSQL's backends and
wrk, against the reference app's, per request.

On a shared two-core machine, wall-clock rates are noise, but the CPU a
process group spends per request served much less so: it is read from
/proc/PID/schedstat (or utime + stime) before and after each round. The
backends counted are those connected to the database served
(pg_stat_activity), so other users of the same PostgreSQL server are left
out. On two cores, req/s is about the inverse of the total.

    python tests/perf/cpu_split.py --db agora_copy --ports 8300-8309 [--rounds 3] [--duration 10]
        [--scenario post|user|api-post] [--compare /path/to/another/checkout] [--agora-only]

Agora is served as the benchmark serves it (`python -m webapp serve --workers
2`, the bench's environment), the reference under gunicorn gthread (2 x 4);
both read the same copy (the reference's pages read no trigger-kept column).
Each round runs wrk -t2 -c16 for `--duration` seconds on each side, taking
turns going first. `--scenario` is one of bench.py's random reads, with its
own script (an id drawn for every request): `/posts/{random id}` (post, the
default), `/users/{random id}` (user) or `GET /api/posts/{random id}`
(api-post). `--compare` serves another checkout too (`before`), on the same
copy: a change's effect, measured in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

PERF_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PERF_DIR))

from bench import (  # noqa: E402 (beside this file)
    RANDOM_IDS,
    RANDOM_READS,
    agora_server,
    random_read_script,
    reference_server,
    write_lines,
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


def script_for(scenario: str, admin: str, folder: Path) -> Path:
    """bench.py's wrk script for the scenario, with its ids read from the copy as
    bench.py reads them."""
    template, ids = next((t, i) for name, t, i in RANDOM_READS if name == SCENARIOS[scenario])
    with psycopg.connect(admin) as connection:
        rows = connection.execute(RANDOM_IDS[ids]).fetchall()
    ids_file = write_lines(folder / f"{ids}-ids.txt", [row[0] for row in rows])
    return random_read_script(folder, f"random-{scenario}", template, ids_file, highest=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--ports", default="8300-8309")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="post")
    parser.add_argument("--agora-only", action="store_true", help="no reference app")
    parser.add_argument(
        "--compare",
        type=Path,
        help="a checkout of another version of Agora, served beside this one (`before`)",
    )
    args = parser.parse_args()
    os.environ["BENCH_PORTS"] = args.ports
    catch_signals()
    admin = f"postgresql://postgres@127.0.0.1:5432/{args.db}"
    folder = Path(tempfile.mkdtemp(prefix="cpu-split-"))
    script = script_for(args.scenario, admin, folder)
    print(f"{SCENARIOS[args.scenario]}, {args.rounds} round(s) of {args.duration:g} s", flush=True)
    url = admin.replace("postgresql", "postgresql+psycopg")
    agora = agora_server(PERF_DIR.parent.parent, url, 2)
    sides = [("agora", agora)]
    if args.compare:
        before = agora_server(args.compare, url, 2, name="before")
        sides.append(("before", before))
    if not args.agora_only:
        sides.append(("ref", reference_server(admin, 2)))
    try:
        for _, server in sides:
            server.start()
        for _, server in sides:
            server.wait_ready()
        # Warm both: imports, pools, psycopg's prepared statements.
        for _, server in sides:
            wrk(server.port, script, 3)
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sides}
        for number in range(args.rounds):
            order = sides[number % len(sides) :] + sides[: number % len(sides)]
            for name, server in order:
                results[name].append(measure(server, admin, args.db, script, args.duration))
                r = results[name][-1]
                print(
                    f"round {number + 1} {name:6}: {r['rps']:7.0f} req/s p99 {r['p99']:>8}  "
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


if __name__ == "__main__":
    main()
