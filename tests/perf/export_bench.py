"""How long an account's export takes, and what memory the worker needs for it.

Usage (from the repository root):

    python tests/perf/export_bench.py                  # PostgreSQL (database agora_export_bench)
    python tests/perf/export_bench.py --sqlite         # a SQLite file in a temporary directory
    python tests/perf/export_bench.py --posts 10000 --port 8650

It makes a fresh database, serves it with `python -m webapp serve --workers 1`,
registers accounts through the API (each with a few uploaded pictures), gives
them posts (1,000 characters of hardly compressible text each, a third of
them drafts), as many comments and likes straight in the database, then
downloads each account's `/api/users/me/export` as a client would, piece by
piece. For each: the time to the first byte and to the last, the archive's
size, and the worker's peak resident memory during that download alone (its
high-water mark reset first through /proc/PID/clear_refs). Each archive is
opened and its posts counted. The exports of a small account and of a big one
needing the same memory is what "flat" means.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
from servers import Server, catch_signals, free_port

AGORA = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(AGORA))  # the models, to fill the database

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PASSWORD = "export-bench-password"
PICTURES = 5


def log(message: str) -> None:
    print(f"[export {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fresh_database(args: argparse.Namespace, folder: Path) -> str:
    if args.sqlite:
        return f"sqlite:///{folder / 'export.db'}"
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {args.database}")
    return f"{PG_SERVER}/{args.database}"


def environment(url: str, folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        MEDIA_ROOT=str(folder / "media"),
        SECRET_KEY="export-bench-" + "k" * 40,
        BCRYPT_ROUNDS="4",
        REGISTRATIONS_PER_HOUR="0",
        POSTS_PER_HOUR="0",
    )
    return env


def account(client: httpx2.Client, name: str) -> tuple[int, dict[str, str]]:
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    created = client.post("/api/users", json=body)
    created.raise_for_status()
    token = client.post("/api/login", data={"username": name, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    from PIL import Image

    for number in range(PICTURES):  # pictures in a post of their own
        image = Image.effect_noise((800, 600), 60 + number).convert("RGB")
        raw = io.BytesIO()
        image.save(raw, "PNG")
        media = client.post(
            "/api/media",
            files={"file": ("p.png", raw.getvalue(), "image/png")},
            data={"alt": f"noise {number}"},
            headers=headers,
        )
        media.raise_for_status()
        post = {"title": f"Picture {number}", "content": "x", "media_ids": [media.json()["id"]]}
        client.post("/api/posts", json=post, headers=headers).raise_for_status()
    return int(created.json()["id"]), headers


def fill(url: str, user_id: int, posts: int) -> None:
    """`posts` posts, and as many comments on them and likes of them."""
    from sqlalchemy import create_engine, insert

    from webapp.models import Comment, Like, Post

    sqlalchemy_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(sqlalchemy_url)
    now = datetime.now(UTC)
    rng = random.Random(user_id)
    with engine.begin() as db:
        for start in range(0, posts, 2_000):
            rows = []
            for n in range(start, min(posts, start + 2_000)):
                text = base64.b64encode(rng.randbytes(750)).decode()
                rows.append(
                    {
                        "title": f"Post {n}",
                        "content": text,
                        "owner_id": user_id,
                        "created_at": now - timedelta(seconds=n),
                        "updated_at": now,
                        "published": n % 3 != 0,
                    }
                )
            ids = db.execute(insert(Post).returning(Post.id), rows).scalars().all()  # type: ignore[arg-type]
            db.execute(
                insert(Comment),
                [{"content": f"c{i}", "post_id": i, "author_id": user_id, "path": ""} for i in ids],
            )
            db.execute(insert(Like), [{"user_id": user_id, "post_id": i} for i in ids])
    engine.dispose()


def peak_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def memory(pid: int) -> tuple[float, float]:
    """The process's resident memory now and its high-water mark, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def download(server: Server, headers: dict[str, str], worker: int) -> dict[str, float]:
    peak_reset(worker)
    before, _ = memory(worker)
    started = time.monotonic()
    first = None
    received = io.BytesIO()
    with (
        httpx2.Client(base_url=server.url, timeout=120) as client,
        client.stream("GET", "/api/users/me/export", headers=headers) as response,
    ):
        response.raise_for_status()
        for piece in response.iter_bytes():
            if first is None:
                first = time.monotonic() - started
            received.write(piece)
    seconds = time.monotonic() - started
    _, peak = memory(worker)
    archive = zipfile.ZipFile(received)
    posts = len(json.loads(archive.read("posts.json")))
    pictures = sum(name.startswith("pictures/") for name in archive.namelist())
    return {
        "first": first or seconds,
        "seconds": seconds,
        "mb": received.tell() / 1e6,
        "before": before,
        "peak": peak,
        "posts": posts,
        "pictures": pictures,
    }


def run(args: argparse.Namespace, folder: Path) -> None:
    url = fresh_database(args, folder)
    env = environment(url, folder)
    agora = AGORA
    subprocess.run([sys.executable, "-m", "webapp", "migrate"], cwd=agora, env=env, check=True)
    port = args.port or free_port()
    argv = [sys.executable, "-m", "webapp", "serve", "--workers", "1", "--port", str(port)]
    server = Server("export", argv, agora, env, port)
    try:
        server.start()
        server.wait_ready()
        (worker,) = server.worker_pids()
        with httpx2.Client(base_url=server.url, timeout=60) as client:
            sizes = sorted({1, args.posts // 10, args.posts})
            people = {}
            for size in sizes:
                user_id, headers = account(client, f"export{size}")
                fill(url, user_id, size - PICTURES if size > PICTURES else 0)
                people[size] = headers
        log(f"{url.split('://')[0]}: accounts of {', '.join(f'{s:,}' for s in sizes)} posts")
        download(server, people[sizes[0]], worker)  # warm up: code loaded, pool open
        print(f"\nExport on {'SQLite' if args.sqlite else 'PostgreSQL'} (serve --workers 1)")
        print("  posts   archive   first byte   whole   worker RSS before   peak during")
        for size in sizes:
            m = download(server, people[size], worker)
            assert m["posts"] == max(size, PICTURES), m
            print(
                f"  {m['posts']:>6,}  {m['mb']:6.1f} MB  {m['first'] * 1000:7.0f} ms  "
                f"{m['seconds']:5.2f} s   {m['before']:9.1f} MB   {m['peak']:9.1f} MB "
                f"(+{m['peak'] - m['before']:.1f}; {int(m['pictures'])} picture files)"
            )
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--database", default="agora_export_bench")
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    catch_signals()
    log(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    with tempfile.TemporaryDirectory(prefix="agora-export-") as tmp:
        run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
