"""What a worker loads: `python -m webapp serve` migrates before its workers
start, so a worker on PostgreSQL carries only what serving needs; the rest
(migrations, the seed, SQLite, feeds' XML, password hashing, Markdown) is
imported where it is used."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Built as a worker builds it (`webapp.app:served`), in a fresh interpreter:
# nothing connects to the database until the app starts.
BUILD_A_WORKER = """
import json, sys
from webapp.app import served
print(json.dumps(sorted(sys.modules)))
"""

NOT_IN_A_WORKER = (
    *("alembic", "mako", "tqdm", "webapp.seed", "sqlite3", "aiosqlite", "xml"),
    # Loaded at a worker's first login, and at the first text it renders.
    *("passlib", "bcrypt", "markdown_it", "linkify_it", "nh3"),
)


def test_a_worker_on_postgresql_loads_no_migrations_seed_sqlite_or_xml() -> None:
    env = dict(
        os.environ,
        DATABASE_URL="postgresql+psycopg://agora@127.0.0.1:1/agora",
        SECRET_KEY="k" * 40,
        WEBAPP_ENV="development",
    )
    result = subprocess.run(
        [sys.executable, "-c", BUILD_A_WORKER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(result.stdout.splitlines()[-1])
    loaded = [
        name
        for name in modules
        if any(name == n or name.startswith(n + ".") for n in NOT_IN_A_WORKER)
    ]
    assert loaded == []
    assert "webapp.web.atom" in modules  # the feeds are there, their XML escapes are not yet


# A thread that mallocs, then the malloc arenas of the process other than the
# main heap: glibc maps each at an address aligned to its 64 MB reservation.
THREAD_ARENAS = """
import sys, threading
if sys.argv[1] == "one":
    from webapp.__main__ import one_malloc_arena
    one_malloc_arena()
kept = []
def allocate():
    kept.extend(bytearray(4096) for _ in range(2000))
thread = threading.Thread(target=allocate)
thread.start()
thread.join()
arenas = 0
with open("/proc/self/maps") as maps:
    for line in maps:
        fields = line.split()
        start = int(fields[0].split("-")[0], 16)
        if len(fields) == 5 and fields[1] == "rw-p" and start % (64 << 20) == 0:
            arenas += 1
print(arenas)
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc arenas are glibc's",
)
def test_the_threads_of_a_forked_worker_share_the_one_malloc_heap() -> None:
    def arenas(mode: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", THREAD_ARENAS, mode],
            cwd=ROOT,
            env=dict(os.environ, SECRET_KEY="k" * 40, WEBAPP_ENV="development"),
            capture_output=True,
            text=True,
            check=True,
        )
        return int(result.stdout.splitlines()[-1])

    assert arenas("default") >= 1  # what glibc does unasked, so the count sees arenas
    assert arenas("one") == 0
