"""What `/metrics` reports, counted where it happens.

Nothing is counted unless METRICS_TOKEN is set: `enable` then imports
prometheus-client and makes the metrics, and each hook below becomes one
call. `serve` gives the workers of a host one directory
(PROMETHEUS_MULTIPROC_DIR) to keep their counts in, so that any worker's
`/metrics` sums them all; without it (one process, as in the tests) the
counts are the process's own.

Labels take bounded values only: a route's template (`/posts/{post_id}`),
never its path; a method the site knows, else `other`; a status code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: a cached page takes about a millisecond, a write tens.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "agora_http_requests_total",
            "Requests answered, by method, route template and status.",
            ["method", "route", "status"],
        )
        self.durations = Histogram(
            "agora_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["route"],
            buckets=DURATION_BUCKETS,
        )
        self.cache = Counter(
            "agora_page_cache_lookups_total",
            "Page cache lookups, by result (hit or miss).",
            ["result"],
        )
        self.sockets = Gauge(
            "agora_open_sockets", "Live WebSockets open.", multiprocess_mode="livesum"
        )
        self.mails = Counter(
            "agora_mails_total", "Mails handed to the mail server, by result.", ["result"]
        )
        self.pool = Gauge(
            "agora_db_connections_in_use",
            "Database connections checked out of the pools.",
            multiprocess_mode="livesum",
        )
        self.hits = self.cache.labels("hit")
        self.misses = self.cache.labels("miss")
        # The series a scrape should show from the start, at zero.
        for result in ("sent", "failed"):
            self.mails.labels(result)


_active: _Metrics | None = None


def enable() -> None:
    """Start counting (once per process; the app calls it when METRICS_TOKEN is set)."""
    global _active
    if _active is None:
        _active = _Metrics()


def enabled() -> bool:
    return _active is not None


def request_done(method: str, route: str, status: int, seconds: float) -> None:
    if _active is None:
        return
    _active.requests.labels(method if method in METHODS else "other", route, str(status)).inc()
    _active.durations.labels(route).observe(seconds)


def cache_lookup(hit: bool) -> None:
    if _active is not None:
        (_active.hits if hit else _active.misses).inc()


def socket_opened() -> None:
    if _active is not None:
        _active.sockets.inc()


def socket_closed() -> None:
    if _active is not None:
        _active.sockets.dec()


def mail_done(sent: bool) -> None:
    if _active is not None:
        _active.mails.labels("sent" if sent else "failed").inc()


def connection_out(_: Any = None, *__: Any) -> None:
    if _active is not None:
        _active.pool.inc()


def connection_back(_: Any = None, *__: Any) -> None:
    if _active is not None:
        _active.pool.dec()


def exposition() -> bytes:
    """The text a scrape reads: every worker's counts summed when the
    workers share a directory, else this process's."""
    from prometheus_client import REGISTRY, generate_latest

    directory = os.environ.get(MULTIPROCESS_DIR)
    if not directory:
        return generate_latest(REGISTRY)
    from prometheus_client import CollectorRegistry, multiprocess

    _forget_dead_workers(Path(directory))
    registry: CollectorRegistry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


def _forget_dead_workers(directory: Path) -> None:
    """A worker that died without a goodbye (killed) leaves its live gauges'
    files: they would count its sockets and connections for ever."""
    from prometheus_client import multiprocess

    for file in directory.glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isascii() and pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_ends() -> None:
    """This worker's live gauges leave the sums (its lifespan's end)."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if _active is not None and directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), directory)
