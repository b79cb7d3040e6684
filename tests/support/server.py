"""The real server for the tests that need one (the browser's, the live
sockets' across processes): `python -m webapp serve` in a process of its own,
as the README starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET_KEY = "browser-tests-secret-key-0123456789abcdef"  # 40 characters


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90  # a start that waits for a busy machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz in 30 s:\n{log.read_text()}")


@contextmanager
def running_server(
    directory: Path,
    database_url: str | None = None,
    *,
    workers: int = 1,
    name: str = "server",
    settings: dict[str, str] | None = None,
) -> Iterator[str]:
    """`python -m webapp serve` on a free port; yields its URL. Its database is
    `database_url`, or a fresh SQLite file in `directory`; its log is
    `directory / f"{name}.log"`; `settings`: more of its environment
    (`SMTP_URL`). Several servers on one database are several hosts of one site."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url or f"sqlite:///{directory / 'browser.db'}",
        "SECRET_KEY": SECRET_KEY,
        "BCRYPT_ROUNDS": "4",
        "REGISTRATIONS_PER_HOUR": "0",  # the tests register many people from one address
        "WEBAPP_ENV": "development",
        "COOKIE_SECURE": "false",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **(settings or {}),
    }
    log = directory / f"{name}.log"
    command = [sys.executable, "-m", "webapp", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with log.open("wb") as output:
        # The working directory is the temporary one, so a developer's .env is not read.
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_until_healthy(base_url, process, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
