"""What a worker loads: `python -m webapp serve` migrates before its workers
start, so a worker on PostgreSQL carries only what serving needs; the rest
(migrations, the seed, SQLite, feeds' XML, password hashing, Markdown) is
imported where it is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
