"""The command line: `python -m webapp [serve|migrate|seed|users]`."""

from __future__ import annotations

import argparse
import logging.config
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from webapp.core.docstrings import drop_library_docstrings

if __name__ == "__main__":
    # `python -m webapp`, before the libraries are imported (pydantic, with
    # the settings, just below): the command line never reads their
    # docstrings, and every worker `serve` forks would hold them (about 4 MB).
    drop_library_docstrings()

from webapp.core.config import DEFAULT_PORT, Settings, SettingsError

# A live socket's message is at most this big; past it uvicorn closes the
# socket with 1009 before reading the message whole.
SOCKET_MESSAGE_MAX = 64 * 1024
# uvicorn pings every socket this often and drops one that does not answer in
# as long: it keeps sockets open through proxies and finds the dead.
SOCKET_PING_SECONDS = 20.0


def parser() -> argparse.ArgumentParser:
    """Every command and option, each default written here alone."""
    parser = argparse.ArgumentParser(prog="python -m webapp", description="Agora")
    commands = parser.add_subparsers(dest="command")
    _serve_options(commands.add_parser("serve", help="migrate the database, then serve (default)"))
    commands.add_parser("migrate", help="upgrade the database to the newest schema")
    commands.add_parser(
        "check", help="report what is wrong or risky for production (exit 1 on an error)"
    )
    _seed_options(commands.add_parser("seed", help="fill the database with demo data"))
    users = commands.add_parser("users", help="manage accounts").add_subparsers(
        dest="users_command", required=True
    )
    set_role = users.add_parser("set-role", help="give an account a role")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=("member", "moderator", "admin"))
    return parser


def _serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (always with LOG_FORMAT=json; off: it costs ~7%% a page)",
    )


def _seed_options(seed: argparse.ArgumentParser) -> None:
    seed.add_argument("--users", type=int, default=100)
    seed.add_argument("--posts", type=int, default=1_000)
    seed.add_argument("--votes", type=int, default=3_000, help="likes")
    seed.add_argument("--follows", type=int, default=2_000)
    seed.add_argument("--comments", type=int, default=3_000)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The arguments; no command at all is `serve` with its own defaults."""
    commands = parser()
    args = commands.parse_args(argv)
    if args.command is None:
        args = commands.parse_args(["serve"])
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        settings = Settings()
        if args.command == "check":  # it reports what the start-up checks would refuse
            return check(settings, args)
        settings.check()
    except SettingsError as error:
        print(f"agora: {error}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](settings, args)


def check(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.deploy_checks import findings

    found = findings(settings)
    for finding in found:
        print(finding)
    errors = sum(finding.level == "error" for finding in found)
    warnings = len(found) - errors
    print(f"agora: {errors} errors, {warnings} warnings")
    return 1 if errors else 0


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.core.db import migrate as upgrade

    upgrade(settings)
    print("agora: the database is at the newest schema")
    return 0


def seed(settings: Settings, args: argparse.Namespace) -> int:
    from webapp.core.db import migrate as upgrade
    from webapp.seed import seed as fill

    upgrade(settings)
    fill(
        settings,
        users=args.users,
        posts=args.posts,
        votes=args.votes,
        follows=args.follows,
        comments=args.comments,
    )
    return 0


def users(settings: Settings, args: argparse.Namespace) -> int:
    """`users set-role USERNAME ROLE`: the first admin is made this way."""
    import asyncio

    from webapp.core.db import create_async_db_engine, new_session
    from webapp.core.db import migrate as upgrade
    from webapp.errors import UserNotFound
    from webapp.rules import roles

    upgrade(settings)

    async def run() -> bool:
        engine = create_async_db_engine(settings, pooled=False)
        try:
            async with new_session(engine) as db:
                return await roles.set_role_by_name(db, args.username, args.role)
        finally:
            await engine.dispose()

    try:
        changed = asyncio.run(run())
    except UserNotFound:
        print(f"agora: no account is named {args.username}", file=sys.stderr)
        return 1
    said = "is now" if changed else "was already"
    print(f"agora: {args.username} {said} {args.role}")
    return 0


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from webapp.core.db import migrate as upgrade

    if args.reload:
        os.environ["TEMPLATES_AUTO_RELOAD"] = "true"  # edited templates show at once too
    # The workers read their settings again: the development SITE_URL follows
    # the host and port served (`--port 8731` mails links to :8731, and its
    # pages' sockets are of the site's own origin).
    os.environ["SERVED_HOST"] = args.host
    os.environ["SERVED_PORT"] = str(args.port)
    if args.access_log:
        os.environ["REQUEST_LINES"] = "true"
    options = uvicorn_options(settings, args)
    # The migrations' lines, too, in the log's format.
    logging.config.dictConfig(options["log_config"])
    # Migrate once here, before any worker starts: the workers do not migrate.
    if not in_a_child(upgrade, settings):
        return 1
    # Reloaded code may bring a migration: a reloading worker migrates on start.
    target = "webapp.app:app" if args.reload else "webapp.app:served"
    with metrics_directory(settings):
        if not args.reload:
            fork_workers()
        uvicorn.run(target, **options)
    return 0


def forks() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()  # not on Windows


def in_a_child(run: Callable[[Settings], None], settings: Settings) -> bool:
    """`run(settings)` in a forked process, so that what it imports (Alembic's
    10 MB for the migrations) is never in a worker forked later; in this
    process where nothing forks. False if it failed (its traceback is printed)."""
    import multiprocessing

    if not forks():
        run(settings)
        return True
    child = multiprocessing.get_context("fork").Process(target=run, args=(settings,))
    child.start()
    child.join()
    return child.exitcode == 0


def fork_workers() -> None:
    """uvicorn's workers forked from this process with the app's modules
    already imported, rather than spawned as fresh interpreters: a worker then
    has only the pages of code it runs itself resident (about 10 MB fewer per
    worker) and the rest shared with its siblings. Only modules: each worker
    builds its own app, engines and threads after the fork (`webapp.app:served`)."""
    import gc

    if not forks():
        return
    from uvicorn.loops import auto as loop  # noqa: F401
    from uvicorn.protocols.http import auto as http  # noqa: F401
    from uvicorn.protocols.websockets import auto as websockets  # noqa: F401

    without_pydantic_v1()
    with validators_built_at_first_use():
        # FastAPI's own models (the OpenAPI document's, about 1.2 MB of
        # validators in every worker) serve only /openapi.json.
        import fastapi.openapi.models  # noqa: F401
    import webapp.app  # noqa: F401

    workers_forked_on_own_listeners()
    # What is imported lives as long as the workers: the collector in each
    # leaves it where it is, so the pages stay shared.
    gc.collect()
    gc.freeze()
    one_malloc_arena()


def workers_forked_on_own_listeners() -> None:
    """uvicorn's workers forked from this process (not spawned), each
    listening on a socket of its own (`on_own_listener`)."""
    import multiprocessing

    from uvicorn import _subprocess

    _subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]
    _subprocess.subprocess_started = on_own_listener(_subprocess.subprocess_started)


# glibc's `mallopt` parameter: how many malloc arenas a process may have.
M_ARENA_MAX = -8


def one_malloc_arena() -> None:
    """Every thread of the workers forked after this allocates from the one
    heap of the process. glibc would give each thread that mallocs an arena of
    its own (up to 8 per core) whose freed memory no other thread reuses: in
    a worker the threads that render long Markdown, hash passwords and look up
    addresses for uvloop kept 0.5 to 2 MB apiece that the event loop's thread
    then allocated again in its own heap (peak RSS per worker about 1.3 MB
    lower). What those threads allocate is small next to their work (a bcrypt
    hash, a long text's rendering): waiting on the one heap's lock costs them
    nothing measurable. Set by hand, as `MALLOC_ARENA_MAX` is read only as
    the process starts. Nothing where the C library is not glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt(M_ARENA_MAX, 1)


def on_own_listener(started: Callable[..., None]) -> Callable[..., None]:
    """uvicorn's worker start (`started`), each worker listening on a socket
    of its own, bound to the same address with `SO_REUSEPORT`, rather than on
    the one the supervisor bound and all of them share.

    On a shared socket, the worker that wakes first accepts every connection
    waiting, so connections opened at once pile up on one worker and its
    requests make the tail (README "Each worker listens on a socket of its
    own"); with a socket each, the kernel spreads them by their addresses'
    hash. The supervisor's socket, which no worker listens on then, keeps the
    address bound. The price: the connections a worker had not accepted yet
    when it stops are refused, where on the shared socket a sibling took
    them."""

    def own_listeners(*args: Any, sockets: list[socket.socket], **kwargs: Any) -> None:
        started(*args, sockets=[own_listener(shared) for shared in sockets], **kwargs)

    return own_listeners


def own_listener(shared: socket.socket) -> socket.socket:
    """A new TCP socket bound with `SO_REUSEPORT` where `shared` is, for this
    process to listen on (`on_own_listener`); `shared` itself if it is not a
    TCP socket, off Linux (whose kernel spreads the connections; elsewhere one
    socket may get them all) or if the kernel refuses."""
    if not sys.platform.startswith("linux") or shared.family not in (
        socket.AF_INET,
        socket.AF_INET6,
    ):
        return shared
    own = socket.socket(shared.family, socket.SOCK_STREAM)
    try:
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        own.bind(shared.getsockname())
    except OSError:
        own.close()
        return shared
    shared.close()  # this process's copy: the supervisor keeps the address bound
    return own


def without_pydantic_v1() -> None:
    """FastAPI imports `pydantic.v1` (1.4 MB in every worker) only to check that
    no route declares one of its models, which Agora never does: marked as
    absent, it is not imported, and the check finds none."""
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]


@contextmanager
def validators_built_at_first_use() -> Iterator[None]:
    """The pydantic models defined inside get their validators and serializers
    built when first used, not when defined (pydantic's `defer_build`)."""
    from pydantic import BaseModel

    config = BaseModel.model_config
    had = "defer_build" in config
    config["defer_build"] = True
    try:
        yield
    finally:
        if not had:
            del config["defer_build"]


@contextmanager
def metrics_directory(settings: Settings) -> Iterator[None]:
    """With METRICS_TOKEN, the directory the workers keep their counts in, so
    that any worker's /metrics sums them all: PROMETHEUS_MULTIPROC_DIR if the
    operator named one (emptied first: counts of an earlier run would be
    summed in), else a new one, removed when the server stops."""
    from webapp.core.metrics import MULTIPROCESS_DIR

    if not settings.metrics_token:
        yield
        return
    named = os.environ.get(MULTIPROCESS_DIR)
    directory = Path(named) if named else Path(tempfile.mkdtemp(prefix="agora-metrics-"))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in directory.glob("*.db"):
        old.unlink()
    os.environ[MULTIPROCESS_DIR] = str(directory)
    try:
        yield
    finally:
        if named:
            for old in directory.glob("*.db"):
                old.unlink()
        else:
            shutil.rmtree(directory, ignore_errors=True)


def uvicorn_options(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from webapp.core.logs import log_config

    return {
        "host": args.host,
        "port": args.port,
        "workers": None if args.reload else args.workers,
        "reload": args.reload,
        "loop": "auto",  # uvloop where it is installed (not on Windows)
        "http": "auto",  # httptools where it is installed
        "proxy_headers": False,
        # uvicorn's access line holds the path and query, which may carry a
        # mailed link's token: Agora writes each request's line itself.
        "access_log": False,
        "log_config": log_config(
            settings.log_format, request_lines=settings.logs_requests or args.access_log
        ),
        "ws_ping_interval": SOCKET_PING_SECONDS,
        "ws_ping_timeout": SOCKET_PING_SECONDS,
        "ws_max_size": SOCKET_MESSAGE_MAX,
        # No per-message compression: its zlib state would cost every idle
        # socket far more than its small messages could save.
        "ws_per_message_deflate": False,
        # Past this many connections a request gets a quick 503 rather than
        # wait on a worker out of file descriptors; it is above the sockets'
        # own cap (MAX_SOCKETS_PER_WORKER), so pages answer while sockets are full.
        "limit_concurrency": settings.connection_cap,
    }


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": serve,
    "check": check,
    "users": users,
    "migrate": migrate,
    "seed": seed,
}


if __name__ == "__main__":
    sys.exit(main())
