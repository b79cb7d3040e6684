"""Do pages keep their speed while pictures are uploaded? A page's req/s alone,
then while 4 clients upload 4 MB pictures back to back (`POST /api/media`),
in turns, and their ratio (target: at least 0.8, "within 20%").

Usage (from the repository root, with wrk on PATH):

    python tests/perf/upload_pressure.py                       # SQLite file, 2 workers
    python tests/perf/upload_pressure.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mine
    python tests/perf/upload_pressure.py --port 8700 --rounds 3 --duration 10
    python tests/perf/upload_pressure.py --path / --path /posts/1 --path "/users/1"

What it does:

1. Seeds the database (`python -m webapp seed`: 100 people, 2,000 posts, 4,000
   likes, 2,000 comments; an emptied PostgreSQL database, or a fresh SQLite file in
   a temporary directory) and serves it (`python -m webapp serve --workers 2`,
   MEDIA_ROOT in the temporary directory).
2. Makes a 4 MB JPEG of noise (2,600 × 1,950 pixels, 5 megapixels: what a phone
   sends), and signs up 4 uploaders through the API.
3. For each page, in turns (`--rounds`, default 3): wrk alone (2 threads, 16
   connections, `--duration` seconds), then wrk while the 4 uploaders each send the
   picture again and again on their own connection, each answer a 201 or the run
   fails. Between the two the uploaders are stopped, so "alone" is alone.
4. Prints, per page: req/s and p99 alone and under uploads (medians of the rounds),
   their ratio, and the uploads done per second.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from tests.perf.servers import Server, catch_signals  # noqa: E402

PASSWORD = "a long enough password"
UPLOADERS = 4
TARGET = 0.8
PICTURE_BYTES = 4_000_000
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def log(message: str) -> None:
    print(f"[upload-pressure] {message}", file=sys.stderr, flush=True)


def noise_jpeg(target: int = PICTURE_BYTES) -> bytes:
    """A JPEG of random pixels of about `target` bytes (noise does not compress:
    the file is as heavy to decode as it is to send)."""
    from PIL import Image

    width, height = 2600, 1950
    rng = random.Random(7)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    for quality in range(60, 100, 2):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        if out.tell() >= target:
            return out.getvalue()
    return out.getvalue()


@dataclass
class Wrk:
    rps: float
    p99: float
    errors: int


def wrk(url: str, duration: float) -> Wrk:
    command = ["wrk", "-t2", "-c16", f"-d{duration:g}s", "--latency", url]
    output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    if "Requests/sec" not in output:
        raise SystemExit(f"wrk failed: {' '.join(command)}\n{output[-2000:]}")
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Wrk(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),  # type: ignore[index]
        p99=float(p99[1]) * UNITS[p99[2]] if p99 else float("nan"),
        errors=int(errors[1]) if errors else 0,
    )


def call(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def sign_up(port: int, name: str) -> str:
    body = json.dumps({"username": name, "email": f"{name}@example.com", "password": PASSWORD})
    status, answer = call(
        port, "POST", "/api/users", body.encode(), {"Content-Type": "application/json"}
    )
    assert status == 201, answer
    form = f"username={name}&password={PASSWORD.replace(' ', '+')}".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, answer = call(port, "POST", "/api/login", form, headers)
    assert status == 200, answer
    return str(json.loads(answer)["access_token"])


def multipart(picture: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="alt"\r\n\r\nNoise\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + picture
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Uploaders:
    """4 clients, each sending the picture back to back on a connection of its own."""

    port: int
    tokens: list[str]
    picture: bytes
    done: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, args=(t,)) for t in self.tokens]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, token: str) -> None:
        body, kind = multipart(self.picture)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": kind}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self._stop.is_set():
            try:
                connection.request("POST", "/api/media", body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status != 201:
                    self.failures.append(f"{response.status} {answer[:200]!r}")
                    continue
                with self._lock:
                    self.done += 1
            except OSError as error:
                self.failures.append(repr(error))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an empty PostgreSQL database (else SQLite)")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--path", action="append", help="a page to measure (repeatable)")
    args = parser.parse_args()
    paths = args.path or ["/", "/posts/1000"]
    catch_signals()
    with tempfile.TemporaryDirectory(prefix="agora-uploads-") as temporary:
        directory = Path(temporary)
        url = args.database_url or f"sqlite:///{directory / 'agora.db'}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "MEDIA_ROOT": str(directory / "media"),
            "SECRET_KEY": "upload-pressure-secret-key-0123456789abcdef",
            "REGISTRATIONS_PER_HOUR": "0",
            "BCRYPT_ROUNDS": "4",
            "PYTHONPATH": str(ROOT),
        }
        if args.database_url:
            reset = "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
            subprocess.run(["psql", _libpq(args.database_url), "-qc", reset], check=True)
        log("seeding")
        seed = [sys.executable, "-m", "webapp", "seed", "--users", "100", "--posts", "2000"]
        seed += ["--votes", "4000", "--follows", "1000", "--comments", "2000"]
        subprocess.run(seed, cwd=directory, env=env, check=True, stdout=subprocess.DEVNULL)
        argv = [sys.executable, "-m", "webapp", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(args.port), "--workers", str(args.workers)]
        server = Server("agora", argv, directory, env, args.port)
        server.start()
        try:
            server.wait_ready()
            picture = noise_jpeg()
            log(f"picture: {len(picture):,} bytes")
            tokens = [sign_up(args.port, f"uploader{n}") for n in range(UPLOADERS)]
            uploaders = Uploaders(args.port, tokens, picture)
            for path in paths:  # warm up: templates, caches, the pictures' threads
                wrk(server.url + path, 2)
            uploaders.start()
            time.sleep(3)
            uploaders.stop()
            rows = []
            for path in paths:
                alone: list[Wrk] = []
                pressed: list[Wrk] = []
                uploads_per_s: list[float] = []
                for _ in range(args.rounds):
                    alone.append(wrk(server.url + path, args.duration))
                    before = uploaders.done
                    uploaders.start()
                    time.sleep(1)  # every uploader in flight
                    started = time.monotonic()
                    pressed.append(wrk(server.url + path, args.duration))
                    took = time.monotonic() - started
                    uploaders.stop()
                    uploads_per_s.append((uploaders.done - before) / took)
                if uploaders.failures:
                    raise SystemExit(f"uploads failed: {uploaders.failures[:3]}")
                if any(result.errors for result in alone + pressed):
                    raise SystemExit(f"{path}: non-2xx answers")
                rps_alone = statistics.median(r.rps for r in alone)
                rps_pressed = statistics.median(r.rps for r in pressed)
                rows.append(
                    (
                        path,
                        rps_alone,
                        statistics.median(r.p99 for r in alone),
                        rps_pressed,
                        statistics.median(r.p99 for r in pressed),
                        rps_pressed / rps_alone,
                        statistics.median(uploads_per_s),
                    )
                )
        finally:
            server.stop()
    print(
        f"\n{args.workers} workers, {'PostgreSQL' if args.database_url else 'SQLite'}, "
        f"{args.rounds} rounds of {args.duration:g} s, {UPLOADERS} clients uploading "
        f"{len(picture) / 1e6:.1f} MB JPEGs\n"
    )
    print(
        "| page | req/s alone | p99 alone | req/s uploading | p99 uploading | ratio | uploads/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path, a, pa, p, pp, ratio, ups in rows:
        cells = [f"`{path}`", f"{a:.0f}", f"{pa:.1f} ms", f"{p:.0f}", f"{pp:.1f} ms"]
        print("| " + " | ".join([*cells, f"{ratio:.2f}", f"{ups:.1f}"]) + " |")
    worst = min(row[5] for row in rows)
    print(f"\nworst ratio {worst:.2f} (target at least {TARGET})")
    return 0 if worst >= TARGET else 1


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


if __name__ == "__main__":
    sys.exit(main())
