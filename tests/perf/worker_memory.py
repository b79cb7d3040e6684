"""What a worker of `python -m webapp serve --workers 2` holds in memory, phase by
phase of the benchmark's kinds of requests: a quicker, Agora-only stand-in for the
peak RSS line of bench.py, to measure one change at a time.

Usage (from the repository root; a database seeded as bench.py --quick seeds it,
e.g. the `PREFIX` database a bench run with --db-prefix PREFIX left behind):

    python tests/perf/worker_memory.py mine [--port 8300] [--duration 1] [--agora-dir DIR]

For each phase it prints the workers' VmRSS and VmHWM (the peak bench.py reports),
in MB: started (idle), logged in (accounts and API tokens), every page once, the
pages served from memory, the random reads, the writes through the API (likes at
16 and 64 connections, new posts), the Markdown post and its tag, mixed, and logins
under load. The requests are the benchmark's own (its scripts and helpers), at its
16 connections, for `--duration` seconds each.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import threading
from pathlib import Path

import bench
from bench import (
    MIXED_USERS,
    QUICK,
    Databases,
    Run,
    Side,
    agora_accounts,
    agora_login,
    agora_server,
    api_tokens,
    http_get,
    likes_script,
    markdown_scenarios,
    mixed_script,
    new_posts_script,
    pg_url,
    pick_targets,
    random_scenarios,
    read_paths,
    run_wrk,
    scenarios,
    write_lines,
)
from servers import Server, catch_signals

LOGIN_THREADS = 4


def status(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def report(phase: str, server: Server) -> None:
    figures = [status(pid) for pid in server.worker_pids()]
    shown = ", ".join(f"{rss:5.1f} / {hwm:5.1f}" for rss, hwm in figures)
    print(f"{phase:<28} RSS / HWM (MB): {shown}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database", help="a PostgreSQL database seeded as bench.py --quick does")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--agora-dir", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    catch_signals()
    bench.free_port = lambda: args.port  # type: ignore[assignment]
    url = pg_url(args.database)
    server = agora_server(args.agora_dir.resolve(), url, 2)
    try:
        server.start()
        server.wait_ready()
        with tempfile.TemporaryDirectory(prefix="agora-memory-") as tmp:
            phases(server, url, Path(tmp), args.duration)
    finally:
        Server.stop_all()
    return 0


def phases(agora: Server, url: str, folder: Path, duration: float) -> None:
    report("started", agora)
    targets = pick_targets(url, QUICK)
    tag = secrets.token_hex(3)
    accounts = agora_accounts(agora.port, [f"mem_{tag}_{i}" for i in range(MIXED_USERS + 1)])
    user = accounts[0]
    # The reference's side is Agora again: the scripts ask only for its name.
    run = Run(agora, agora, user, user, accounts[1:], accounts[1:], folder, targets)
    run.sides = {agora.name: Side(url, api_tokens(agora.port, targets.likers))}
    write_lines(run.ids_file("posts"), targets.post_ids)
    write_lines(run.ids_file("users"), targets.user_ids)
    report("logged in", agora)

    reads = read_paths(targets)
    run_wrk(agora.url + "/", duration)
    for path in reads:
        http_get(agora.port, path)
    report("every page once", agora)

    for scenario in scenarios(targets):
        if scenario.script is None:
            cookie = user.cookie if scenario.logged_in else ""
            run_wrk(agora.url + scenario.agora_path, duration, cookie=cookie)
    report("pages from memory", agora)

    for scenario in random_scenarios(targets):
        assert scenario.script is not None
        run_wrk(agora.url + scenario.agora_path, duration, script=scenario.script(run, agora))
    report("random reads", agora)

    run_wrk(agora.url + "/api/vote", duration, script=likes_script(run, agora))
    run_wrk(agora.url + "/api/vote", duration, script=likes_script(run, agora), connections=64)
    run_wrk(agora.url + "/api/posts", duration, script=new_posts_script(run, agora))
    report("writes", agora)

    dbs = Databases(agora=url, reference=url, small=url)
    markdown = markdown_scenarios_without_reference(run, dbs)
    for scenario in markdown:
        run_wrk(agora.url + scenario.agora_path, duration)
    report("Markdown", agora)

    mixed = mixed_script(folder, "agora", run.agora_mixed, reads, targets.like_ids, agora=True)
    run_wrk(agora.url + "/", duration, script=mixed)
    report("mixed", agora)

    logins_under_load(agora, user.username, duration)
    report("logins under load", agora)


def markdown_scenarios_without_reference(run: Run, dbs: Databases) -> list[bench.Scenario]:
    """bench.markdown_scenarios, whose copy for the reference goes to a throwaway
    transaction: only Agora's side is asked for."""
    real = bench.sql_rows

    def agora_only(db: str, sql: str, params: object = ()) -> list[tuple[object, ...]]:
        if sql.startswith("INSERT"):
            return [(0,)]
        return real(db, sql, params)  # type: ignore[arg-type]

    bench.sql_rows = agora_only  # type: ignore[assignment]
    try:
        return markdown_scenarios(run, dbs)
    finally:
        bench.sql_rows = real


def logins_under_load(agora: Server, username: str, duration: float) -> None:
    stop = threading.Event()

    def log_in_repeatedly() -> None:
        while not stop.is_set():
            agora_login(agora.port, username)

    threads = [threading.Thread(target=log_in_repeatedly) for _ in range(LOGIN_THREADS)]
    for thread in threads:
        thread.start()
    try:
        run_wrk(agora.url + "/", duration)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


if __name__ == "__main__":
    sys.exit(main())
