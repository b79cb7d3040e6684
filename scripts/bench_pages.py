"""Page speed at scale: time the main pages against a seeded database.

    DATABASE_URL=postgresql://postgres@127.0.0.1/agora_bench \\
        python -m webapp seed --users 1000 --posts 100000 --votes 300000
    DATABASE_URL=postgresql://postgres@127.0.0.1/agora_bench python scripts/bench_pages.py

Prints, for each page, the median and 95th-percentile time of a full request
through the app (in process, no network) and the SQL statements it ran. The
machine is shared: compare figures from the same run, not across runs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlmodel import Session

from webapp.app import create_app
from webapp.config import Settings
from webapp.models import Post

ROUNDS = 30


def main() -> None:
    app = create_app(Settings())
    engine = app.state.engine
    with Session(engine) as db:
        total = db.scalar(select(func.count()).select_from(Post))
        newest = db.scalar(select(func.max(Post.id)).where(Post.published.is_(True)))
        owner = db.scalar(select(Post.owner_id).where(Post.id == newest))
    print(f"{total} posts in {engine.url.render_as_string(hide_password=True)}")
    pages = {
        "home": "/",
        "deep page (?page=500)": "/?page=500",
        "search, two common words": "/?q=garden+coffee",
        "search, a rare word": "/?q=lighthouse+xyzzy",
        "post": f"/posts/{newest}",
        "profile": f"/users/{owner}",
    }
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    client = TestClient(app)
    print(f"{'page':28} {'median ms':>10} {'p95 ms':>8} {'statements':>11}")
    for name, path in pages.items():
        client.get(path)  # warm up
        timings = []
        for _ in range(ROUNDS):
            statements.clear()
            start = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        p95 = sorted(timings)[int(len(timings) * 0.95) - 1]
        print(f"{name:28} {statistics.median(timings):10.1f} {p95:8.1f} {len(statements):11}")
    engine.dispose()


if __name__ == "__main__":
    main()
