"""The command line: `python -m webapp [serve|migrate|seed]`."""

from __future__ import annotations

import argparse
import sys

from webapp.core.config import DEFAULT_PORT, Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp", description="Agora")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="migrate the database, then serve (default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs ~7%% a page)"
    )

    commands.add_parser("migrate", help="upgrade the database to the newest schema")

    seed = commands.add_parser("seed", help="fill the database with demo data")
    seed.add_argument("--users", type=int, default=100)
    seed.add_argument("--posts", type=int, default=1_000)
    seed.add_argument("--votes", type=int, default=3_000, help="likes")
    seed.add_argument("--follows", type=int, default=2_000)
    seed.add_argument("--comments", type=int, default=3_000)

    args = parser.parse_args(argv)
    try:
        settings = Settings()
        settings.check()
    except SettingsError as error:
        print(f"agora: {error}", file=sys.stderr)
        return 2

    from webapp.core.db import migrate

    command = args.command or "serve"
    if command == "migrate":
        migrate(settings)
        print("agora: the database is at the newest schema")
        return 0
    if command == "seed":
        from webapp.seed import seed as run_seed

        migrate(settings)
        run_seed(
            settings,
            users=args.users,
            posts=args.posts,
            votes=args.votes,
            follows=args.follows,
            comments=args.comments,
        )
        return 0

    import os

    import uvicorn

    if getattr(args, "reload", False):
        os.environ["TEMPLATES_AUTO_RELOAD"] = "true"  # edited templates show at once too
    # The workers read their settings again: the development SITE_URL follows
    # the port served (`--port 8731` mails links to :8731, and its pages'
    # sockets are of the site's own origin).
    os.environ["SERVED_PORT"] = str(getattr(args, "port", DEFAULT_PORT))

    # Migrate once here, before any worker starts; each worker's start-up then
    # finds the schema current (and would wait on the migration lock if not).
    migrate(settings)
    uvicorn.run(
        "webapp.app:app",
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", DEFAULT_PORT),
        workers=None if getattr(args, "reload", False) else getattr(args, "workers", 1),
        reload=getattr(args, "reload", False),
        loop="auto",  # uvloop where it is installed (not on Windows)
        http="auto",  # httptools where it is installed
        proxy_headers=False,
        access_log=getattr(args, "access_log", False),
        # Live sockets (`/ws`): a ping every 20 s keeps them open through proxies
        # and finds the dead; SPEC's 64 KB limit on a message (1009 past it); no
        # per-message compression, whose zlib state would cost every idle
        # socket far more than its small messages could save.
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        # Past this many connections a request gets a quick 503 rather than
        # wait on a worker out of file descriptors; it is above the sockets'
        # own cap (MAX_SOCKETS_PER_WORKER), so pages answer while sockets are full.
        limit_concurrency=settings.connection_cap,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
