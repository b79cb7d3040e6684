"""Live updates under load: 1,000 open WebSockets on one worker.

Usage (from the repository root, with wrk on PATH):

    python tests/perf/live_bench.py              # PostgreSQL: 1,000 sockets, 20 likes, 2 x 10 s
    python tests/perf/live_bench.py --quick      # 200 sockets, 5 likes, 1 round of 3 s
    python tests/perf/live_bench.py --sqlite     # a SQLite file in a temporary directory
    python tests/perf/live_bench.py --logged-in  # sockets with a session cookie and Origin
    python tests/perf/live_bench.py --sockets 2000 --clients 4 --keep-data

What it does:

1. Seeds PostgreSQL database `agora_live_bench` (nothing else; dropped at the end unless
   --keep-data) or a SQLite file with `python -m webapp seed` (200 users, 5,000 posts,
   10,000 likes), and serves it with `python -m webapp serve --workers 1`.
2. Registers two fresh accounts: one likes through the API (`POST /api/vote` with its
   bearer token), the other is the logged-in visitor of `/ logged in`.
3. Warms the worker up (wrk on `/`, 20 sockets opened, a like and its unlike fanned
   out, the sockets closed), so that one-off imports and caches do not count as the
   sockets' memory.
4. Memory: the worker's resident set (VmRSS) before the sockets and after N of them
   (default 1,000) are open, subscribed to one post and idle for a few seconds;
   (after - before) / N is the memory per idle socket. Target: at most 50 KB.
5. Fan-out: K likes and unlikes of that post in turn (default 20, 0.3 s apart), each
   waited for on every socket before the next. A like's time runs from the arrival of
   its HTTP response (the commit happened before it) to each socket's receipt of the
   `post.changed` message with the new count. Reported: p50 and p99 of the last of
   the N sockets per like (target: p99 at most 1 s), and of every receipt.
6. Throughput: wrk on `/` anonymous (served from the page cache) and logged in (the
   database), with no socket open and with the N sockets open and idle, in turns
   (ABBA), and the ratio. Target: `/` keeps at least 0.8 of its throughput.

The sockets are anonymous (no Origin, no cookie: public events only, all the fan-out
needs; --logged-in: the visitor's session cookie and the site's Origin, as a browser's
tabs would send) and are spread over --clients processes (default 2), each an asyncio
loop, so that parsing 1,000 messages at once in one client does not become what is
measured. Each process connects from loopback addresses of its own, 20 sockets an
address (127.1.0.1, …), as the server holds no more from one client address.
Timestamps come from time.monotonic(), CLOCK_MONOTONIC: one clock for every
process on the machine. Each client process's CPU time a like is reported beside the
latency: a client that spends a good part of it would be measuring itself. The
throughput rows also give the worker's CPU time a request, which other work on the
machine moves far less than req/s.

Like bench.py, the machine is shared: only ratios taken in the same run mean much.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import resource
import secrets
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import (
    PASSWORD,
    WRK_CONNECTIONS,
    WRK_THREADS,
    BenchError,
    Identity,
    Size,
    WrkResult,
    agora_login,
    agora_register,
    agora_server,
    counts,
    pg_admin,
    pg_url,
    run_wrk,
    seed,
    seeded_enough,
    sql_rows,
)
from servers import Server, ServerError, catch_signals

DB_NAME = "agora_live_bench"
DATA = Size(users=200, posts=5_000, votes=10_000, follows=2_000, comments=5_000)
WARM_UP_SOCKETS = 20
OPEN_CONCURRENCY = 50  # handshakes in flight per client process
# The server's cap on one client address's sockets (webapp/live/places.py):
# each client process spreads its sockets over loopback addresses of its own.
PER_ADDRESS = 20
ARRIVAL_TIMEOUT = 10.0  # seconds a like may take to reach every socket
CALL_TIMEOUT = 300.0  # seconds a client process may take to answer a command
FANOUT_TARGET_S, MEMORY_TARGET_KB, THROUGHPUT_TARGET = 1.0, 50.0, 0.8


def log(message: str) -> None:
    print(f"[live-bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the client processes (asyncio; one share of the sockets each) -------------------------


@dataclass(frozen=True)
class SocketOptions:
    """How the client sockets present themselves (sent to the client processes)."""

    compression: str | None = "deflate"
    origin: str | None = None  # None: not a browser, public events only
    cookie: str = ""  # a session's cookie, sent with the site's own origin


@dataclass
class Expectation:
    """The count a like should bring to every socket open when it was armed."""

    votes: int
    pending: set[int]
    arrivals: dict[int, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class SocketClient:
    """The sockets of one client process, and the commands it answers over its pipe."""

    def __init__(self, ws_url: str, post_id: int, options: SocketOptions, number: int) -> None:
        self.ws_url, self.post_id, self.options = ws_url, post_id, options
        self.number = number  # of the client process, for its addresses
        self.attempts = 0
        self.sockets: dict[int, Any] = {}
        self.readers: dict[int, asyncio.Task[None]] = {}
        self.next_index = 0
        self.closing: set[int] = set()
        self.dropped: list[str] = []  # sockets the server closed, and why
        self.expectation: Expectation | None = None
        self.extensions = ""  # what the server agreed to, e.g. permessage-deflate

    async def serve(self, pipe: Connection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            command, *args = await loop.run_in_executor(None, pipe.recv)
            try:
                answer: Any = await self.run(command, *args)
            except Exception as error:  # the parent reports it and stops the run
                answer = ("error", f"{command}: {type(error).__name__}: {error}")
            pipe.send(answer)
            if command == "exit":
                return

    async def run(self, command: str, *args: Any) -> Any:
        if command == "open":
            return await self.open(int(args[0]))
        if command == "arm":
            self.expectation = Expectation(int(args[0]), set(self.sockets))
            return len(self.sockets)
        if command == "wait":
            return await self.wait(float(args[0]))
        if command == "close":
            return await self.close_all()
        if command == "cpu":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        if command == "dropped":
            return list(self.dropped)
        if command == "extensions":
            return self.extensions
        if command == "exit":
            await self.close_all()
            return "bye"
        raise ValueError(f"unknown command {command!r}")

    async def open(self, count: int) -> tuple[int, list[str], float]:
        from websockets.asyncio.client import connect

        started = time.monotonic()
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        errors: list[str] = []

        async def one() -> None:
            async with gate:
                socket = None
                try:
                    # No client pings: browsers send none either.
                    socket = await connect(
                        self.ws_url,
                        local_addr=(self.next_address(), 0),
                        origin=self.options.origin,  # type: ignore[arg-type]
                        additional_headers=(
                            {"Cookie": self.options.cookie} if self.options.cookie else None
                        ),
                        compression=self.options.compression,
                        ping_interval=None,
                        open_timeout=60,
                        close_timeout=5,
                        proxy=None,
                    )
                    await socket.send(json.dumps({"type": "subscribe", "posts": [self.post_id]}))
                    while True:
                        message = json.loads(await asyncio.wait_for(socket.recv(), 30))
                        if message.get("type") == "subscribed":
                            break
                    if self.post_id not in message.get("posts", []):
                        raise BenchError(f"subscribe answered {message}")
                except Exception as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    if socket is not None:
                        await socket.close()
                    return
                index = self.next_index
                self.next_index += 1
                self.sockets[index] = socket
                self.extensions = ", ".join(e.name for e in socket.protocol.extensions) or "none"
                self.readers[index] = asyncio.create_task(self.read(index, socket))

        await asyncio.gather(*(one() for _ in range(count)))
        return (
            len(self.sockets),
            errors[:5] + ([f"… {len(errors)} in all"] if errors else []),
            (time.monotonic() - started),
        )

    def next_address(self) -> str:
        """127.<process>.x.y, a new one every PER_ADDRESS sockets."""
        block = self.attempts // PER_ADDRESS
        self.attempts += 1
        return f"127.{1 + self.number}.{block // 250}.{1 + block % 250}"

    async def read(self, index: int, socket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in socket:
                arrived = time.monotonic()  # first, before anything else is spent on it
                expectation = self.expectation
                if expectation is None or index not in expectation.pending:
                    continue
                message = json.loads(raw)
                if (
                    message.get("type") == "post.changed"
                    and message.get("id") == self.post_id
                    and message.get("votes") == expectation.votes
                ):
                    expectation.pending.discard(index)
                    expectation.arrivals[index] = arrived
                    if not expectation.pending:
                        expectation.done.set()
        except ConnectionClosed:
            pass
        finally:
            if index not in self.closing:
                self.dropped.append(f"code {socket.close_code} {socket.close_reason or ''}".strip())
                self.sockets.pop(index, None)
                # A socket the server closed will not receive what it waits for.
                expectation = self.expectation
                if expectation is not None and index in expectation.pending:
                    expectation.pending.discard(index)
                    if not expectation.pending:
                        expectation.done.set()

    async def wait(self, timeout: float) -> tuple[list[float], int]:
        """Arrival times of the armed count, and how many open sockets missed it."""
        expectation = self.expectation
        if expectation is None:
            raise BenchError("wait without arm")
        if expectation.pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(expectation.done.wait(), timeout)
        self.expectation = None
        missed = len(expectation.pending & set(self.sockets))
        return list(expectation.arrivals.values()), missed

    async def close_all(self) -> int:
        self.closing |= set(self.sockets)
        sockets = list(self.sockets.values())
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
        await asyncio.gather(*self.readers.values(), return_exceptions=True)
        self.sockets.clear()
        self.readers.clear()
        self.closing.clear()
        return len(sockets)


def client_process(
    pipe: Connection, ws_url: str, post_id: int, options: SocketOptions, number: int
) -> None:
    # The parent decides when the run ends (Ctrl-C reaches the whole terminal group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(SocketClient(ws_url, post_id, options, number).serve(pipe))


class Clients:
    """The client processes, driven in lockstep from the parent."""

    def __init__(self, count: int, ws_url: str, post_id: int, options: SocketOptions) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited threads or sockets
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for number in range(count):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=client_process,
                args=(child_end, ws_url, post_id, options, number),
                daemon=True,
            )
            process.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.processes.append(process)
        self.open_count = 0

    def call(self, command: str, args: Sequence[Sequence[Any]] | None = None) -> list[Any]:
        """Send a command to every process (each with its own args), then collect answers."""
        for n, pipe in enumerate(self.pipes):
            pipe.send((command, *(args[n] if args else ())))
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(CALL_TIMEOUT):
                raise BenchError(f"a client process did not answer {command!r}")
            try:
                answer = pipe.recv()
            except EOFError:
                raise BenchError(f"a client process died during {command!r}") from None
            if isinstance(answer, tuple) and answer and answer[0] == "error":
                raise BenchError(f"client process: {answer[1]}")
            answers.append(answer)
        return answers

    def open(self, total: int) -> float:
        """Open `total` sockets across the processes; the seconds it took."""
        share = [
            total // len(self.pipes) + (n < total % len(self.pipes)) for n in range(len(self.pipes))
        ]
        started = time.monotonic()
        answers = self.call("open", [[n] for n in share])
        self.open_count = sum(opened for opened, _, _ in answers)
        errors = [e for _, found, _ in answers for e in found]
        if self.open_count < total:
            raise BenchError(f"only {self.open_count} of {total} sockets opened: {errors}")
        return time.monotonic() - started

    def close(self) -> None:
        self.call("close")
        self.open_count = 0

    def cpu_seconds(self) -> list[float]:
        return [float(seconds) for seconds in self.call("cpu")]

    def extensions(self) -> str:
        return str(self.call("extensions")[0])

    def dropped(self) -> list[str]:
        return [reason for found in self.call("dropped") for reason in found]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call("exit")
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


# --- the server and the accounts ------------------------------------------------------------


def raise_file_limit() -> int:
    """The soft limit of open files up to the hard one, for us and what we start."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def socket_count(pid: int) -> int:
    found = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            found += os.readlink(fd).startswith("socket:")
    return found


def serving_pid(server: Server) -> int:
    """The process that holds the WebSockets: with --workers 1 uvicorn serves in its
    main process; if a checkout forks a worker, the one with the most sockets."""
    return max(server.worker_pids(), key=socket_count)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def cpu_seconds_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_token(port: int, username: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        body = urllib.parse.urlencode({"username": username, "password": PASSWORD})
        connection.request(
            "POST",
            "/api/login",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        if response.status != 200:
            raise BenchError(f"POST /api/login answered {response.status}: {text[:300]}")
        return str(json.loads(text)["access_token"])
    finally:
        connection.close()


class Liker:
    """One account liking and unliking through the API."""

    def __init__(self, port: int, token: str, post_id: int) -> None:
        self.port, self.token, self.post_id = port, token, post_id

    def vote(self, direction: int) -> tuple[float, float]:
        """When the request was sent and when its answer came (monotonic seconds)."""
        # A new connection each time: the server drops idle ones after 5 s. It is
        # opened before the clock starts.
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.connect()
            sent = time.monotonic()
            connection.request(
                "POST",
                "/api/vote",
                body=json.dumps({"post_id": self.post_id, "dir": direction}),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.token}",
                },
            )
            response = connection.getresponse()
            text = response.read()
            answered = time.monotonic()
        finally:
            connection.close()
        if response.status not in (200, 201):
            raise BenchError(f"POST /api/vote answered {response.status}: {text[:300]!r}")
        return sent, answered


def post_votes(url: str, post_id: int) -> int:
    return int(sql_rows(url, "SELECT votes FROM posts WHERE id = %s", (post_id,))[0][0])


def pick_post(url: str) -> int:
    """A recent published post: what a live front page would be watching."""
    rows = sql_rows(
        url, "SELECT id FROM posts WHERE published ORDER BY created_at DESC, id DESC LIMIT 10"
    )
    return int(rows[5][0])


# --- the measurements ------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Like:
    direction: int
    sent: float
    answered: float
    arrivals: list[float]
    missed: int

    @property
    def latencies(self) -> list[float]:
        return [arrival - self.answered for arrival in self.arrivals]


def like_once(clients: Clients, liker: Liker, direction: int, votes: int) -> Like:
    """Arm every client with the count the like will bring, like, wait for the arrivals."""
    clients.call("arm", [[votes]] * len(clients.pipes))
    sent, answered = liker.vote(direction)
    answers = clients.call("wait", [[ARRIVAL_TIMEOUT]] * len(clients.pipes))
    arrivals = [t for times, _ in answers for t in times]
    return Like(direction, sent, answered, arrivals, sum(missed for _, missed in answers))


def fan_out(clients: Clients, liker: Liker, start_votes: int, likes: int, gap: float) -> list[Like]:
    done: list[Like] = []
    votes = start_votes
    for n in range(likes):
        direction = 1 if n % 2 == 0 else 0  # like, unlike, like, …: the count ends where it began
        votes += 1 if direction else -1
        done.append(like_once(clients, liker, direction, votes))
        time.sleep(gap)
    return done


@dataclass
class Throughput:
    """wrk's results on one page, without and with the sockets, and the worker's CPU
    milliseconds per request in each run: steadier than req/s on a shared machine,
    where other work takes the cores from the worker but not its own CPU time."""

    without: list[WrkResult] = field(default_factory=list)
    with_sockets: list[WrkResult] = field(default_factory=list)
    cpu_ms_without: list[float] = field(default_factory=list)
    cpu_ms_with_sockets: list[float] = field(default_factory=list)

    def add(self, with_sockets: bool, result: WrkResult, cpu_ms: float) -> None:
        side = "with_sockets" if with_sockets else "without"
        getattr(self, side).append(result)
        getattr(self, f"cpu_ms_{side}").append(cpu_ms)

    def cpu_ms(self) -> tuple[float, float]:
        return statistics.fmean(self.cpu_ms_without), statistics.fmean(self.cpu_ms_with_sockets)

    def rps(self) -> tuple[float, float]:
        return (
            statistics.fmean(r.rps for r in self.without),
            statistics.fmean(r.rps for r in self.with_sockets),
        )

    def ratio(self) -> float:
        without, with_sockets = self.rps()
        return with_sockets / without

    def errors(self) -> int:
        return sum(r.errors for r in self.without + self.with_sockets)


def throughput_rounds(
    server: Server,
    pid: int,
    clients: Clients,
    sockets: int,
    visitor: Identity,
    rounds: int,
    duration: float,
    settle: float,
) -> tuple[Throughput, Throughput, list[int]]:
    """`/` anonymous and logged in, with and without the sockets open, in ABBA order:
    a slow drift of the machine's load then weighs on both sides alike. Also the
    worker's RSS each time the sockets are opened again: memory the last ones left
    behind would show as growth."""
    anonymous, logged_in = Throughput(), Throughput()
    reopened_kb: list[int] = []
    for number in range(rounds):
        for with_sockets in (True, False) if number % 2 == 0 else (False, True):
            if with_sockets and clients.open_count == 0:
                clients.open(sockets)
                time.sleep(settle)
                reopened_kb.append(rss_kb(pid))
            elif not with_sockets and clients.open_count:
                clients.close()
                time.sleep(settle)
            for page, cookie in ((anonymous, ""), (logged_in, visitor.cookie)):
                cpu_before = cpu_seconds_of(pid)
                result = run_wrk(server.url + "/", duration, cookie=cookie)
                cpu = cpu_seconds_of(pid) - cpu_before
                page.add(with_sockets, result, cpu / max(result.requests, 1) * 1000)
            side = "with_sockets" if with_sockets else "without"
            log(
                f"round {number + 1}, {clients.open_count} sockets open: `/` "
                f"{getattr(anonymous, side)[-1].rps:,.0f} req/s anonymous, "
                f"{getattr(logged_in, side)[-1].rps:,.0f} logged in"
            )
    return anonymous, logged_in, reopened_kb


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Settings:
    sockets: int
    likes: int
    gap: float
    idle: float
    rounds: int
    duration: float
    clients: int
    compression: str | None
    logged_in: bool


def settings_of(args: argparse.Namespace) -> Settings:
    return Settings(
        sockets=args.sockets or (200 if args.quick else 1_000),
        likes=args.likes or (5 if args.quick else 20),
        gap=0.3,
        idle=3.0 if args.quick else 5.0,
        rounds=args.rounds or (1 if args.quick else 2),
        duration=args.duration or (3.0 if args.quick else 10.0),
        clients=args.clients,
        compression=None if args.no_compression else "deflate",
        logged_in=args.logged_in,
    )


def prepare_database(args: argparse.Namespace, agora_dir: Path, folder: Path) -> str:
    if args.sqlite:
        url = f"sqlite:///{folder / 'live.db'}"
        seed(agora_dir, url, DATA)
        return url
    url = pg_url(DB_NAME)
    if args.keep_data and seeded_enough(url, DATA):
        log(f"reusing {DB_NAME}: {counts(url)}")
        return url
    pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    pg_admin(f"CREATE DATABASE {DB_NAME}")
    seed(agora_dir, url, DATA)
    return url


def live_bench(args: argparse.Namespace, agora_dir: Path, folder: Path, command: str) -> str:
    config = settings_of(args)
    file_limit = raise_file_limit()
    if file_limit < config.sockets * 2 + 100:
        raise BenchError(f"open-file limit {file_limit} is too low for {config.sockets} sockets")
    url = prepare_database(args, agora_dir, folder)
    post_id = pick_post(url)
    start_votes = post_votes(url, post_id)

    server = agora_server(agora_dir, url, 1, name="agora-live")
    server.start()
    server.wait_ready()
    log(f"Agora at {server.url} ({'SQLite' if args.sqlite else 'PostgreSQL'}), post {post_id}")

    tag = secrets.token_hex(3)
    liker_name, visitor_name = f"live_{tag}_liker", f"live_{tag}_visitor"
    for name in (liker_name, visitor_name):
        agora_register(server.port, name)
    liker = Liker(server.port, api_token(server.port, liker_name), post_id)
    visitor = agora_login(server.port, visitor_name)

    ws_url = server.url.replace("http://", "ws://") + "/ws"
    options = SocketOptions(compression=config.compression)
    if config.logged_in:  # as a browser would: the session cookie and the site's origin
        options = SocketOptions(config.compression, server.url, visitor.cookie)
    clients = Clients(config.clients, ws_url, post_id, options)
    try:
        return measure(args, config, server, clients, liker, visitor, start_votes, command)
    except BenchError as error:
        raise BenchError(f"{error}\nthe server's log ends:\n{server.log_tail()}") from None
    finally:
        clients.stop()


def measure(
    args: argparse.Namespace,
    config: Settings,
    server: Server,
    clients: Clients,
    liker: Liker,
    visitor: Identity,
    start_votes: int,
    command: str,
) -> str:
    # Warm-up: the page paths, the socket paths and one like's fan-out, then let go.
    run_wrk(server.url + "/", 1.0)
    run_wrk(server.url + "/", 1.0, cookie=visitor.cookie)
    clients.open(WARM_UP_SOCKETS)
    for like in fan_out(clients, liker, start_votes, 2, config.gap):
        if like.missed:
            raise BenchError(f"warm-up: {like.missed} of {WARM_UP_SOCKETS} sockets missed a like")
    clients.close()
    time.sleep(2)

    pid = serving_pid(server)
    before_kb = rss_kb(pid)
    opening = clients.open(config.sockets)
    idle_cpu = cpu_seconds_of(pid)
    time.sleep(config.idle)
    idle_cpu = (cpu_seconds_of(pid) - idle_cpu) / config.idle  # what idle sockets cost the CPU
    after_kb = rss_kb(pid)
    held = socket_count(pid)
    per_socket_kb = (after_kb - before_kb) / config.sockets
    log(
        f"{config.sockets} sockets opened in {opening:.1f} s; worker {pid} RSS "
        f"{before_kb / 1024:.1f} → {after_kb / 1024:.1f} MB: {per_socket_kb:.1f} KB a socket "
        f"(it holds {held} sockets)"
    )
    if held < config.sockets:
        raise BenchError(f"process {pid} holds {held} sockets, fewer than {config.sockets}")

    client_cpu_before, worker_cpu_before = clients.cpu_seconds(), cpu_seconds_of(pid)
    likes = fan_out(clients, liker, start_votes, config.likes, config.gap)
    client_cpu = [b - a for a, b in zip(client_cpu_before, clients.cpu_seconds(), strict=True)]
    worker_cpu = cpu_seconds_of(pid) - worker_cpu_before
    lasts = [max(like.latencies) for like in likes if like.arrivals]
    every = [latency for like in likes for latency in like.latencies]
    from_sent = [max(like.arrivals) - like.sent for like in likes if like.arrivals]
    missed = sum(like.missed for like in likes)
    log(
        f"fan-out: last of {config.sockets} p50 {percentile(lasts, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(lasts, 0.99) * 1000:.0f} ms; missed {missed}"
    )

    anonymous, logged_in, reopened_kb = throughput_rounds(
        server, pid, clients, config.sockets, visitor, config.rounds, config.duration, settle=2.0
    )
    if clients.open_count:
        clients.close()
    time.sleep(2)
    closed_kb = rss_kb(pid)
    dropped = clients.dropped()
    extensions = clients.extensions()
    Server.stop_all()

    figures = Figures(
        config=config,
        sqlite=args.sqlite,
        before_kb=before_kb,
        after_kb=after_kb,
        closed_kb=closed_kb,
        reopened_kb=reopened_kb,
        opening=opening,
        idle_cpu=idle_cpu,
        likes=likes,
        lasts=lasts,
        every=every,
        from_sent=from_sent,
        missed=missed,
        client_cpu=client_cpu,
        worker_cpu=worker_cpu,
        anonymous=anonymous,
        logged_in=logged_in,
        dropped=dropped,
        extensions=extensions,
        command=command,
    )
    return figures.report()


@dataclass
class Figures:
    config: Settings
    sqlite: bool
    before_kb: int
    after_kb: int
    closed_kb: int
    reopened_kb: list[int]
    opening: float
    idle_cpu: float
    likes: list[Like]
    lasts: list[float]
    every: list[float]
    from_sent: list[float]
    missed: int
    client_cpu: list[float]
    worker_cpu: float
    anonymous: Throughput
    logged_in: Throughput
    dropped: list[str]
    extensions: str
    command: str

    def report(self) -> str:
        n = self.config.sockets
        per_socket = (self.after_kb - self.before_kb) / n
        last_p50, last_p99 = percentile(self.lasts, 0.5), percentile(self.lasts, 0.99)
        rows: list[tuple[str, str, str, bool | None]] = [
            (
                "memory per idle socket",
                f"{per_socket:.1f} KB (worker RSS {self.before_kb / 1024:.1f} → "
                f"{self.after_kb / 1024:.1f} MB with {n:,} sockets)",
                f"≤ {MEMORY_TARGET_KB:g} KB",
                per_socket <= MEMORY_TARGET_KB,
            ),
            (f"fan-out to the last of {n:,} sockets, p50", ms(last_p50), "", None),
            (
                f"fan-out to the last of {n:,} sockets, p99",
                ms(last_p99),
                f"≤ {FANOUT_TARGET_S * 1000:.0f} ms",
                last_p99 <= FANOUT_TARGET_S and self.missed == 0,
            ),
            (
                "fan-out, every socket's receipt, p50 / p99",
                f"{ms(percentile(self.every, 0.5))} / {ms(percentile(self.every, 0.99))}",
                "",
                None,
            ),
        ]
        for name, pair in (("`/` anonymous", self.anonymous), ("`/` logged in", self.logged_in)):
            without, with_sockets = pair.rps()
            cpu_without, cpu_with = pair.cpu_ms()
            rows.append(
                (
                    f"{name} req/s: no socket → {n:,} idle sockets (worker CPU a request)",
                    f"{without:,.0f} → {with_sockets:,.0f} ({pair.ratio():.2f}) "
                    f"({cpu_without:.2f} → {cpu_with:.2f} ms: {cpu_without / cpu_with:.2f})",
                    f"≥ {THROUGHPUT_TARGET:g}",
                    pair.ratio() >= THROUGHPUT_TARGET,
                )
            )
        lines = ["| measure | figure | target | |", "| --- | ---: | ---: | :---: |"]
        for label, figure, target, ok in rows:
            verdict = "" if ok is None else ("PASS" if ok else "FAIL")
            lines.append(f"| {label} | {figure} | {target or '–'} | {verdict} |")
        lines.append("")
        lines += [f"- {line}" for line in self.notes()]
        verdicts = [
            f"  {'PASS' if ok else 'FAIL'}  {label}" for label, _, _, ok in rows if ok is not None
        ]
        return "\n" + "\n".join(lines) + "\n\nTargets:\n" + "\n".join(verdicts) + "\n"

    def notes(self) -> list[str]:
        config, n = self.config, self.config.sockets
        likes = len(self.likes)
        # A client that spends on each like a good part of the latency it measures
        # adds its own time to the figure.
        client_ms = max(self.client_cpu) / likes * 1000
        share = client_ms / (percentile(self.lasts, 0.5) * 1000)
        errors = self.anonymous.errors() + self.logged_in.errors()
        return [
            f"fan-out: {len(self.likes)} likes and unlikes through `POST /api/vote`, "
            f"{config.gap:g} s apart, each waited for on every socket (up to "
            f"{ARRIVAL_TIMEOUT:g} s); timed from the like's HTTP response, the commit being "
            f"before it; receipts that missed: {self.missed}; last socket per like, timed from "
            f"the request's sending instead: p50 {ms(percentile(self.from_sent, 0.5))}, p99 "
            f"{ms(percentile(self.from_sent, 0.99))}; per like (ms, last socket): "
            + ", ".join(f"{v * 1000:.0f}" for v in self.lasts),
            f"CPU per like fanned out: worker {self.worker_cpu / likes * 1000:.0f} ms; client "
            "processes "
            + ", ".join(f"{c / likes * 1000:.0f} ms" for c in self.client_cpu)
            + f" (the busiest client's is {share:.0%} of the last socket's p50"
            + (": it may add to the latency; try more --clients)" if share > 0.3 else ")"),
            f"sockets: {n:,} "
            + (
                "logged in (one visitor's session cookie and the site's Origin)"
                if config.logged_in
                else "anonymous (no Origin)"
            )
            + ", subscribed to one post, over "
            f"{config.clients} client process(es), websockets asyncio client "
            f"offering {config.compression or 'no compression'} (the server agreed to: "
            f"{self.extensions}); opened in {self.opening:.1f} s; idle "
            f"{config.idle:g} s before the memory reading (the worker's CPU meanwhile: "
            f"{self.idle_cpu:.0%} of a core); closed by the server during the "
            f"run: {len(self.dropped)}"
            + (f" ({', '.join(self.dropped[:3])})" if self.dropped else ""),
            "worker RSS with the sockets opened again: "
            + (", ".join(f"{kb / 1024:.1f} MB" for kb in self.reopened_kb) or "–")
            + f"; after closing them all: {self.closed_kb / 1024:.1f} MB",
            f"throughput: wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}, {config.rounds} round(s) of "
            f"{config.duration:g} s per side and page, in ABBA turns; errors {errors}; "
            "anonymous `/` is served from the page cache, logged in from the database; "
            "worker CPU a request: the worker's CPU time in a wrk run ÷ its requests, and "
            "without ÷ with, the ratio a machine of its own would show (req/s move with "
            "whatever else takes the cores)",
            f"data: {'SQLite' if self.sqlite else 'PostgreSQL'}, {DATA.users:,} users, "
            f"{DATA.posts:,} posts, {DATA.votes:,} likes; `python -m webapp serve --workers 1`; "
            f"{os.cpu_count()} CPUs shared with everything else running; "
            f"{date.today().isoformat()}",
            f"command: `{self.command}`",
        ]


def ms(seconds: float) -> str:
    if seconds != seconds:
        return "–"
    return f"{seconds * 1000:.1f} ms" if abs(seconds) < 0.1 else f"{seconds * 1000:.0f} ms"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 sockets, 5 likes, 3 s wrk runs")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--sockets", type=int, help="sockets to open (default 1,000)")
    parser.add_argument("--likes", type=int, help="likes and unlikes to fan out (default 20)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, help="rounds of wrk runs per side")
    parser.add_argument(
        "--logged-in",
        action="store_true",
        help="sockets with a session cookie and the site's Origin (default: anonymous)",
    )
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="clients do not offer permessage-deflate (browsers do)",
    )
    parser.add_argument(
        "--agora-dir",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the checkout to serve",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help=f"keep (and reuse) the database {DB_NAME}"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    agora_dir = args.agora_dir.resolve()
    if shutil.which("wrk") is None:
        print("live-bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if not (agora_dir / "webapp").is_dir():
        print(f"live-bench: no webapp package in {agora_dir}", file=sys.stderr)
        return 2
    catch_signals()
    started = time.monotonic()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    try:
        with tempfile.TemporaryDirectory(prefix="agora-live-bench-") as tmp:
            print(live_bench(args, agora_dir, Path(tmp), command))
    except (BenchError, ServerError) as error:
        print(f"live-bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("live-bench: interrupted; server stopped", file=sys.stderr)
        return 130
    finally:
        Server.stop_all()
        if not args.sqlite and not args.keep_data:
            with contextlib.suppress(Exception):
                pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
