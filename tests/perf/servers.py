"""What the benchmark and the soak share: starting a server in a process group
of its own, waiting until it answers, reading its log, and stopping it (and
every worker it forked) however the run ends."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerError(Exception):
    """A server that did not start."""


def on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def catch_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP end the run through `finally` blocks (which
    stop the servers), even where the shell started us with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def healthz(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def free_port() -> int:
    """A port nobody listens on: any, or one of `BENCH_PORTS` ("8600-8649") when
    the machine is shared and each user keeps to a range."""
    first, _, last = os.environ.get("BENCH_PORTS", "0-0").partition("-")
    for port in range(int(first), int(last or first) + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port == 0:
                return int(probe.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise OSError(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


# Ports already given to a server of this run (not listening yet, maybe).
_handed_out: set[int] = set()


class Server:
    """A server in its own process group, so that it and its workers stop together."""

    running: list[Server] = []  # noqa: RUF012 (the registry the clean-up walks)

    def __init__(
        self, name: str, argv: list[str], cwd: Path, env: dict[str, str], port: int
    ) -> None:
        self.name, self.argv, self.cwd, self.env, self.port = name, argv, cwd, env, port
        self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open while it runs)
            prefix=f"agora-{name}-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        Server.running.append(self)

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if healthz(self.port) == 200:
                    return
            time.sleep(0.2)
        raise ServerError(
            f"{self.name} did not answer /healthz in {timeout:.0f} s:\n{self.log_tail()}"
        )

    def log_text(self) -> str:
        if not self.log_file.closed:
            self.log_file.flush()
        return Path(self.log_file.name).read_text(errors="replace")

    def log_tail(self) -> str:
        return self.log_text()[-3000:]

    def worker_pids(self) -> list[int]:
        """The server's worker processes; a single-process server is its own worker."""
        assert self.process is not None
        children: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                children += [int(pid) for pid in (task / "children").read_text().split()]
        workers = [pid for pid in children if "resource_tracker" not in cmdline(pid)]
        return workers or [self.process.pid]

    def cpu_seconds(self) -> float:
        """The CPU time its processes (the master and its workers) have used."""
        assert self.process is not None
        pids = {self.process.pid, *self.worker_pids()}
        return sum(cpu_seconds(pid) for pid in pids)

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until it has finished what it was still doing when the load
        stopped: a client that gives up (wrk at the end of a run, or on its
        timeout) leaves a slow server's requests running, and they would
        take the CPU from whatever is measured next."""
        deadline = time.monotonic() + timeout
        used = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(SETTLE_SAMPLE)
            now = self.cpu_seconds()
            if now - used <= SETTLE_SAMPLE * IDLE_SHARE:
                return
            used = now

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # Workers that outlived their master: the group is gone only when they are.
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self in Server.running:
            Server.running.remove(self)
        self.log_file.close()

    @classmethod
    def stop_all(cls) -> None:
        for server in list(cls.running):
            server.stop()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# A server is idle when it used at most this share of one core over a sample.
SETTLE_SAMPLE = 0.2
IDLE_SHARE = 0.05
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 for one that is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
