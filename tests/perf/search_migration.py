"""How long the search migration (0022_search) takes on a full PostgreSQL
database, and how long it makes writers wait.

Usage (from the repository root; PostgreSQL at 127.0.0.1:5432, user postgres):

    python tests/perf/search_migration.py                      # 100,000 posts
    python tests/perf/search_migration.py --posts 10000 --db-prefix mine

It makes the database `<prefix>_migration_<posts>_at_0021` (migrated to 0021
and seeded by `webapp.seed`; `--keep-data` reuses it), copies it as
`<prefix>_migration` (dropping one of that name first), then upgrades the copy to the newest
revision while a writer changes a random post's title every 20 ms (each
change runs the search trigger once the migration has made it), and prints
the migration's duration and the writer's longest wait.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from webapp.core.config import Settings
from webapp.core.db import migrate
from webapp.seed import seed

SERVER = "postgresql://postgres@127.0.0.1:5432"


def writer(url: str, highest: int, stop: threading.Event, waits: list[float]) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        while not stop.is_set():
            post_id = random.randint(1, highest)
            started = time.perf_counter()
            connection.execute(
                "UPDATE posts SET title = title || '', updated_at = now() WHERE id = %s",
                (post_id,),
            )
            waits.append(time.perf_counter() - started)
            time.sleep(0.02)


def fill(url: str, posts: int) -> None:
    """A database at 0021 with `posts` posts, kept to be copied by later runs."""
    settings = Settings(DATABASE_URL=url, SECRET_KEY="k" * 40, _env_file=None)  # type: ignore[call-arg]
    migrate(settings, "0021")
    started = time.monotonic()
    seed(settings, users=1_000, posts=posts, votes=0, follows=0, comments=0)
    print(f"seeded {posts:,} posts in {time.monotonic() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--db-prefix", default="agora_bench")
    parser.add_argument(
        "--keep-data", action="store_true", help="copy the seeded database of an earlier run"
    )
    args = parser.parse_args()
    name = f"{args.db_prefix}_migration"
    seeded = f"{name}_{args.posts}_at_0021"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        known = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (seeded,))
        if known.fetchone() is None or not args.keep_data:
            admin.execute(f'DROP DATABASE IF EXISTS "{seeded}"')
            admin.execute(f'CREATE DATABASE "{seeded}"')
            fill(f"{SERVER}/{seeded}", args.posts)
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded}"')
    url = f"{SERVER}/{name}"
    settings = Settings(DATABASE_URL=url, SECRET_KEY="k" * 40, _env_file=None)  # type: ignore[call-arg]
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE posts")
        size = connection.execute("SELECT pg_size_pretty(pg_total_relation_size('posts'))")
        print(f"posts: {size.fetchone()[0]}")  # type: ignore[index]
    stop, waits = threading.Event(), []  # type: ignore[var-annotated]
    thread = threading.Thread(target=writer, args=(url, args.posts, stop, waits))
    thread.start()
    time.sleep(1)
    started = time.monotonic()
    migrate(settings)
    took = time.monotonic() - started
    time.sleep(1)
    stop.set()
    thread.join()
    waits.sort()
    print(f"migration to head: {took:.1f} s")
    print(
        f"writes during it: {len(waits)}, median {statistics.median(waits) * 1000:.1f} ms, "
        f"p99 {waits[int(len(waits) * 0.99)] * 1000:.1f} ms, longest {waits[-1] * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
