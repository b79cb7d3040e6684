"""A flood of live sockets against one worker: do the caps hold, do pages keep
answering, and does the memory come back once the sockets close?

Usage (from the repository root):

    python tests/perf/socket_flood.py                     # 2 rounds of 3,000 sockets, 151 addresses
    python tests/perf/socket_flood.py --server-files 8192 --sockets 5000
    python tests/perf/socket_flood.py --database-url postgresql://postgres@127.0.0.1/agora_flood
    python tests/perf/socket_flood.py --floor --sockets 2048   # the floor: floor_app.py's sockets

What it does:

1. Serves a fresh SQLite file (or --database-url, which it migrates and leaves
   alone otherwise) with `python -m webapp serve --workers 1`, started with an
   open-file limit of --server-files (default 4,096), so that the worker's
   default cap, MAX_SOCKETS_PER_WORKER, is half of it.
2. Reads the worker's resident set (VmRSS, /proc) before the flood.
3. Opens --sockets anonymous sockets, 20 from each of 127.0.x.y addresses
   (the per-address cap), plus 5 more from the first address once it holds
   its 20; each is counted as held, or refused with its close code.
4. Reads VmRSS at the peak, closes every socket, waits --settle seconds, and
   reads it again; then floods again (--rounds), to tell memory that is kept
   for reuse from memory that leaks.
5. Meanwhile a thread fetches `GET /` every 0.25 s and keeps each latency and
   status (or error).

With --floor, the server is tests/perf/floor_app.py under uvicorn with
Agora's socket options: a socket accepted and read until it closes, nothing
else, and no cap (flood it with as many as Agora holds). What its memory does
after the sockets close is what the interpreter and uvicorn do, whatever the
app.

The machine is shared: latencies are one run's, on whatever else is running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

ROOT = Path(__file__).resolve().parent.parent.parent
PER_ADDRESS = 20
OPEN_CONCURRENCY = 50
SETTLE = 0.5  # seconds a socket is watched for a close after its handshake


def log(message: str) -> None:
    print(f"[socket-flood {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raise_own_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# `webapp serve`'s socket options (webapp/__main__.py), for the floor.
FLOOR_OPTIONS = [
    "--ws-ping-interval", "20", "--ws-ping-timeout", "20",
    "--ws-max-size", str(64 * 1024), "--ws-per-message-deflate", "false",
]  # fmt: skip


@contextlib.contextmanager
def served(
    database_url: str, folder: Path, files: int, *, floor: bool = False
) -> Iterator[tuple[int, int]]:
    """`serve` (or, with `floor`, floor_app.py) with `files` open files at
    most; yields its port and pid."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY="socket-flood-secret-key-0123456789abcdef",
        WEBAPP_ENV="development",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    argv = [sys.executable, "-m", "webapp", "serve", "--workers", "1", "--port", str(port)]
    if floor:
        (folder / "page.html").write_bytes(b"<!doctype html><title>floor</title>")
        env.update(FLOOR_BODY_FILE=str(folder / "page.html"), PYTHONPATH=str(ROOT / "tests/perf"))
        argv = [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port)]
        argv += ["--loop", "auto", "--http", "auto", "--no-access-log", *FLOOR_OPTIONS]

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    with (folder / "server.log").open("wb") as output:
        process = subprocess.Popen(
            argv,
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_files,
        )
        try:
            wait_healthy(port, process)
            yield port, process.pid
        finally:
            process.terminate()
            process.wait(timeout=20)


def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited at start: see its log")
        with contextlib.suppress(OSError):
            if get(port, "/healthz")[0] == 200:
                return
        time.sleep(0.2)
    raise SystemExit("the server did not answer /healthz in 60 s")


def get(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


class PageWatch(threading.Thread):
    """`GET /` every 0.25 s while the flood lasts."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stopping = threading.Event()
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                status, seconds = get(self.port, "/")
                self.statuses[str(status)] += 1
                self.latencies.append(seconds)
            except OSError as error:
                self.statuses[type(error).__name__] += 1
            self.stopping.wait(0.25)


def addresses(count: int) -> Iterator[str]:
    """127.0.1.1, 127.0.1.2, …: one per PER_ADDRESS sockets."""
    for number in range(count):
        yield f"127.0.{1 + number // 250}.{1 + number % 250}"


async def open_one(
    url: str, address: str, held: list[ClientConnection], outcomes: Counter[str]
) -> None:
    try:
        socket = await connect(url, open_timeout=20, local_addr=(address, 0), compression=None)
    except InvalidStatus as error:
        outcomes[f"refused at the handshake ({error.response.status_code})"] += 1
        return
    except (OSError, TimeoutError, InvalidHandshake) as error:
        outcomes[f"failed ({type(error).__name__})"] += 1
        return
    try:
        await asyncio.wait_for(socket.recv(), SETTLE)
    except TimeoutError:  # nothing said: an anonymous socket, held
        held.append(socket)
        outcomes["held"] += 1
        return
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else "none"
        outcomes[f"closed with {code}"] += 1
        return
    held.append(socket)
    outcomes["held"] += 1


async def flood(port: int, total: int) -> tuple[list[ClientConnection], Counter[str]]:
    url = f"ws://127.0.0.1:{port}/ws"
    held: list[ClientConnection] = []
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    plan = [address for address in addresses(-(-total // PER_ADDRESS)) for _ in range(PER_ADDRESS)]
    # 5 past the first address's cap, before the worker is full
    plan = plan[:PER_ADDRESS] + ["127.0.1.1"] * 5 + plan[PER_ADDRESS:total]

    async def guarded(address: str) -> None:
        async with gate:
            await open_one(url, address, held, outcomes)

    await asyncio.gather(*(guarded(address) for address in plan))
    return held, outcomes


async def close_all(held: list[ClientConnection]) -> None:
    gate = asyncio.Semaphore(OPEN_CONCURRENCY * 4)

    async def one(socket: ClientConnection) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await socket.close()

    await asyncio.gather(*(one(socket) for socket in held))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=3_000)
    parser.add_argument(
        "--server-files", type=int, default=4_096, help="the worker's open-file limit"
    )
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds after closing, before reading"
    )
    parser.add_argument("--rounds", type=int, default=2, help="floods, one after the other")
    parser.add_argument(
        "--floor", action="store_true", help="flood tests/perf/floor_app.py instead of Agora"
    )
    args = parser.parse_args(argv)
    raise_own_file_limit()
    with tempfile.TemporaryDirectory(prefix="agora-flood-") as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite:///{folder / 'flood.db'}"
        with served(url, folder, args.server_files, floor=args.floor) as (port, pid):
            get(port, "/")  # the first page's imports and caches are not the sockets'
            log(f"worker RSS before: {rss_mb(pid):.1f} MB")
            for round_number in range(1, args.rounds + 1):
                watch = PageWatch(port)
                watch.start()
                outcomes = asyncio.run(flood_and_measure(port, args.sockets, pid, args.settle))
                watch.stopping.set()
                watch.join()
                log(f"round {round_number}:")
                report(watch, outcomes)
    return 0


async def flood_and_measure(port: int, total: int, pid: int, settle: float) -> Counter[str]:
    before = rss_mb(pid)
    started = time.monotonic()
    held, outcomes = await flood(port, total)
    peak = rss_mb(pid)
    count = len(held)
    await close_all(held)
    held.clear()
    await asyncio.sleep(settle)
    after = rss_mb(pid)
    log(
        f"worker RSS: before {before:.1f} MB, at the peak {peak:.1f} MB, "
        f"{settle:.0f} s after closing {after:.1f} MB "
        f"(flood and close: {time.monotonic() - started:.1f} s)"
    )
    if count:
        log(f"per held socket at the peak: {(peak - before) * 1024 / count:.1f} KB")
    return outcomes


def report(watch: PageWatch, outcomes: Counter[str]) -> None:
    for outcome, count in sorted(outcomes.items()):
        log(f"sockets {outcome}: {count}")
    latencies = sorted(watch.latencies)
    if latencies:
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        log(
            f"GET / during the flood: {len(latencies)} answers, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
        )
    log(f"GET / statuses: {dict(watch.statuses)}")


if __name__ == "__main__":
    sys.exit(main())
