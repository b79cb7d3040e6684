"""Does a password reset tell, through the next request's timing, whether an
account has the address? (It once did: tests/perf/RESULTS.md has the figures.)

Starts the real server (`python -m webapp serve` on a free port, a temporary
SQLite file, mail to a local aiosmtpd), registers `--requests` accounts, then
asks for a reset for each of their addresses and for as many unknown ones, in
random order, each followed at once by a GET of a light page on the same
connection. Prints the medians of that GET for both cases and the accuracy of
a threshold classifier: fitted on one half of the pairs and scored on the
other (then the other way round), and the best threshold on all of them (an
optimistic figure). 50% is a coin.

    python tests/perf/reset_timing.py                   # 200 + 200 resets
    python tests/perf/reset_timing.py --delay 0         # RESET_MAIL_DELAY=0: jobs at once
    python tests/perf/reset_timing.py --agora-dir /tmp/agora-base   # another checkout
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import free_port, running_server  # noqa: E402
from tests.support.smtp import SmtpServer  # noqa: E402

PASSWORD = "a long enough password"
LIGHT_PAGE = "/login"


class Site:
    """One keep-alive connection to the server."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)

    def request(self, method: str, path: str, body: object = None) -> int:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        data = json.dumps(body) if body is not None else None
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        response.read()
        return response.status

    def timed_get(self, path: str) -> float:
        start = time.perf_counter()
        status = self.request("GET", path)
        elapsed = time.perf_counter() - start
        assert status == 200, status
        return elapsed * 1000


def measure(site: Site, count: int, rng: random.Random) -> list[tuple[bool, float]]:
    """(whether the address had an account, ms of the next request), in the order sent."""
    for number in range(count):
        user = {"username": f"person{number}", "email": f"person{number}@example.com"}
        assert site.request("POST", "/api/users", {**user, "password": PASSWORD}) == 201
    for _ in range(20):  # warm up
        site.timed_get(LIGHT_PAGE)
    asks = [(True, f"person{n}@example.com") for n in range(count)]
    asks += [(False, f"nobody{n}@example.com") for n in range(count)]
    rng.shuffle(asks)
    results = []
    for known, email in asks:
        assert site.request("POST", "/api/password-reset", {"email": email}) == 202
        results.append((known, site.timed_get(LIGHT_PAGE)))
        time.sleep(rng.uniform(0.05, 0.15))
    return results


def accuracy(samples: list[tuple[bool, float]], threshold: float, slower_is_known: bool) -> float:
    right = sum(
        (ms > threshold) == (known if slower_is_known else not known) for known, ms in samples
    )
    return right / len(samples)


def best_threshold(samples: list[tuple[bool, float]]) -> tuple[float, bool, float]:
    """The threshold and direction that classify `samples` best, and how well."""
    best = (0.0, True, 0.0)
    for _, threshold in samples:
        for slower in (True, False):
            score = accuracy(samples, threshold, slower)
            if score > best[2]:
                best = (threshold, slower, score)
    return best


def held_out_accuracy(samples: list[tuple[bool, float]]) -> float:
    """Fitted on one half, scored on the other, both ways, averaged."""
    halves = samples[::2], samples[1::2]
    scores = []
    for train, test in (halves, halves[::-1]):
        threshold, slower, _ = best_threshold(train)
        scores.append(accuracy(test, threshold, slower))
    return statistics.mean(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="resets of each kind")
    parser.add_argument("--delay", help="RESET_MAIL_DELAY for the server (default: its own)")
    parser.add_argument("--agora-dir", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()
    settings = {
        "PYTHONPATH": str(args.agora_dir),
        "LOGIN_MAX_ATTEMPTS": "100000",  # each reset counts against the client's login limit
    }
    if args.delay is not None:
        settings["RESET_MAIL_DELAY"] = args.delay
    with (
        SmtpServer(free_port()) as inbox,
        tempfile.TemporaryDirectory(prefix="agora-reset-timing-") as directory,
    ):
        settings["SMTP_URL"] = inbox.url
        with running_server(Path(directory), name="reset-timing", settings=settings) as url:
            samples = measure(Site(url), args.requests, random.Random(args.seed))
            time.sleep(4)  # the last delayed jobs
        mails = len(inbox.mails)
    known = [ms for is_known, ms in samples if is_known]
    unknown = [ms for is_known, ms in samples if not is_known]
    _, _, in_sample = best_threshold(samples)
    print(f"checkout: {args.agora_dir}  RESET_MAIL_DELAY: {args.delay or 'default'}")
    print(f"resets: {len(known)} known + {len(unknown)} unknown addresses; mails sent: {mails}")
    print(
        f"next GET {LIGHT_PAGE}, median ms: known {statistics.median(known):.2f}, "
        f"unknown {statistics.median(unknown):.2f}"
    )
    print(
        f"next GET {LIGHT_PAGE}, p90 ms:    known {statistics.quantiles(known, n=10)[-1]:.2f}, "
        f"unknown {statistics.quantiles(unknown, n=10)[-1]:.2f}"
    )
    print(
        f"threshold classifier: {held_out_accuracy(samples):.1%} on held-out halves, "
        f"{in_sample:.1%} best on all (50% is chance)"
    )


if __name__ == "__main__":
    main()
