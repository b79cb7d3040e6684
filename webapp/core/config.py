"""Settings: one class, read from the environment and a `.env` file."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
# Hosts to serve that mean every interface: no browser is sent to one of them.
ANY_ADDRESS = ("", "0.0.0.0", "::")  # noqa: S104 (compared with, not bound to)
# What development answers to when ALLOWED_HOSTS is empty (`testserver`: the
# test client's), plus the host of SITE_URL.
DEVELOPMENT_HOSTS = ("127.0.0.1", "localhost", "testserver")
SECRET_FILE_NAME = ".agora-secret-key"  # noqa: S105 (a file name, not a secret)
# Live sockets a worker holds by default: half of its file descriptors, the
# other half left to HTTP connections; never so few that a small limit shuts
# pages out of live updates, never so many that idle sockets (about 40 KB
# each) take more than a few hundred MB.
FEWEST_SOCKETS, MOST_SOCKETS = 16, 10_000
# Descriptors a worker needs for what is not a client: the database pool
# (10 + 10) and its LISTEN connection, the listening socket, the log, the
# SQLite files, templates and modules being read.
RESERVED_FILES = 64
HTTP_ROOM = 64  # connections left to HTTP at the least, when the sockets are full


class SettingsError(Exception):
    """A setting that makes it unsafe or impossible to start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./agora.db"
    secret_key: str | None = None
    webapp_env: Literal["development", "production"] = "development"
    cookie_secure: bool = False
    session_max_age: int = Field(default=1_209_600, gt=0)
    access_token_expire_minutes: int = Field(default=60, gt=0)
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)
    login_max_attempts: int = Field(default=5, ge=1)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # The largest picture accepted (an avatar, a post's image).
    max_upload_bytes: int = Field(default=5_242_880, gt=0)
    # Where uploaded pictures are kept; empty: `media/` beside the SQLite
    # database, else `./media`.
    media_root: str = ""
    # Accounts one client address may create in an hour; 0: no limit.
    registrations_per_hour: int = Field(default=20, ge=0)
    # Open reports from distinct day-old accounts that hide a post or comment; 0: never.
    auto_hide_reports: int = Field(default=3, ge=0)
    # Posts and comments one account may write in an hour (pages and API
    # together); 0: no limit.
    posts_per_hour: int = Field(default=30, ge=0)
    comments_per_hour: int = Field(default=120, ge=0)
    # Whether a new account must open the link mailed to it before it writes,
    # likes, follows or reports; unset: on in production, off in development.
    require_confirmed_email: bool | None = None
    # The public address; required in production.
    site_url: str = ""
    # Host names the site answers to, comma-separated; required in production.
    allowed_hosts: str = ""
    # Reverse proxies whose X-Forwarded-For / -Proto are believed, comma-separated.
    forwarded_allow_ips: str = ""
    # Where mail goes: smtp://user:password@host:587 (STARTTLS when offered) or
    # smtps://…:465; empty: development writes mails to the log and outbox/.
    smtp_url: str = ""
    mail_from: str = "Agora <no-reply@localhost>"
    # Seconds, on average, a password reset's work waits on the postman (between
    # half and 1.5 times this), so that its cost is not next to its answer.
    reset_mail_delay: float = Field(default=2.0, ge=0, le=60)
    # Look at template files again on every render (`serve --reload` turns it on).
    templates_auto_reload: bool = False
    # The host and port `serve` serves (it sets SERVED_HOST and SERVED_PORT for
    # its workers): the development SITE_URL's, so that its links and its
    # origin are the site's.
    served_host: str = DEFAULT_HOST
    served_port: int = Field(default=DEFAULT_PORT, gt=0, lt=65536)
    # Live sockets one worker holds at most; unset: sized to its file descriptors.
    max_sockets_per_worker: int | None = Field(default=None, gt=0)
    # The bearer token that opens /metrics; empty: /metrics is 404 and no
    # metric is counted.
    metrics_token: str = ""
    # `json`: every log line a JSON object, and one line per request.
    log_format: Literal["text", "json"] = "text"
    # One log line per request even as text (`serve --access-log` sets it for
    # its workers); JSON logs always have them.
    request_lines: bool = False

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg 3 driver named, as SQLAlchemy needs it."""
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL and in-memory databases."""
        if not self.is_sqlite:
            return None
        path = self.sqlalchemy_url.split("///", 1)[1] if "///" in self.sqlalchemy_url else ""
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)

    @cached_property
    def signing_key(self) -> str:
        """SECRET_KEY, or in development a key generated once and kept on disk."""
        if self.secret_key:
            if self.webapp_env == "production" and len(self.secret_key) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    f"SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters "
                    "when WEBAPP_ENV=production"
                )
            return self.secret_key
        if self.webapp_env == "production":
            raise SettingsError(
                f"SECRET_KEY must be set (at least {MIN_SECRET_LENGTH} characters) "
                "when WEBAPP_ENV=production"
            )
        return _development_key(self.secret_key_file)

    @property
    def secret_key_file(self) -> Path:
        db_file = self.sqlite_path
        folder = db_file.parent if db_file else Path.cwd()
        return folder / SECRET_FILE_NAME

    @property
    def public_url(self) -> str:
        """SITE_URL, or in development the host and port `serve` serves."""
        if self.site_url:
            return self.site_url.rstrip("/")
        if self.webapp_env == "production":
            raise SettingsError("SITE_URL must be set when WEBAPP_ENV=production")
        host = self.served_host.strip("[]")
        if host in ANY_ADDRESS:  # every interface: this machine's own address is one
            host = DEFAULT_HOST
        return f"http://{f'[{host}]' if ':' in host else host}:{self.served_port}"

    @property
    def host_names(self) -> frozenset[str]:
        """The `Host` names the site answers to (lower case, without a port)."""
        names = {name.strip().lower() for name in self.allowed_hosts.split(",") if name.strip()}
        if not names:
            if self.webapp_env == "production":
                raise SettingsError("ALLOWED_HOSTS must be set when WEBAPP_ENV=production")
            names = set(DEVELOPMENT_HOSTS)
            site_host = urlsplit(self.public_url).hostname
            if site_host:
                names.add(site_host.lower())
        return frozenset(names)

    @property
    def logs_requests(self) -> bool:
        return self.request_lines or self.log_format == "json"

    @property
    def confirms_email(self) -> bool:
        """REQUIRE_CONFIRMED_EMAIL, or its default: on in production."""
        if self.require_confirmed_email is None:
            return self.webapp_env == "production"
        return self.require_confirmed_email

    @property
    def proxy_addresses(self) -> list[str]:
        """FORWARDED_ALLOW_IPS as a list; empty: no proxy is believed."""
        return [item.strip() for item in self.forwarded_allow_ips.split(",") if item.strip()]

    @property
    def socket_cap(self) -> int:
        """MAX_SOCKETS_PER_WORKER, or half of the worker's file descriptors
        (bounded): a socket is a descriptor, and a worker out of them answers
        nobody, pages included."""
        if self.max_sockets_per_worker is not None:
            return self.max_sockets_per_worker
        return max(FEWEST_SOCKETS, min(MOST_SOCKETS, open_files_limit() // 2))

    @property
    def connection_cap(self) -> int:
        """The connections uvicorn keeps before it answers `503` (its
        `limit_concurrency`): every descriptor but the reserved ones, and at
        least the sockets' cap and some room for pages. Past it a request is
        told to come back instead of waiting on a worker out of descriptors."""
        return max(self.socket_cap + HTTP_ROOM, open_files_limit() - RESERVED_FILES)

    @property
    def media_dir(self) -> Path:
        """MEDIA_ROOT, or `media/` beside the SQLite database, or `./media`."""
        if self.media_root:
            return Path(self.media_root)
        db_file = self.sqlite_path
        return db_file.parent / "media" if db_file else Path("media")

    @property
    def max_picture_request_bytes(self) -> int:
        """A request that carries pictures: four of them and a form beside."""
        return 4 * self.max_upload_bytes + self.max_body_bytes

    @property
    def outbox_dir(self) -> Path:
        """Development's mails without SMTP_URL: beside the SQLite database, or
        in the working directory (relative: it is looked up when a mail is kept)."""
        db_file = self.sqlite_path
        return db_file.parent / "outbox" if db_file else Path("outbox")

    def check(self) -> None:
        """Fail now, with one clear message, on what would fail later."""
        _ = self.signing_key, self.public_url, self.host_names
        if self.smtp_url and urlsplit(self.smtp_url).scheme not in ("smtp", "smtps"):
            raise SettingsError("SMTP_URL must start with smtp:// or smtps://")
        if self.webapp_env == "production" and self.confirms_email and not self.smtp_url:
            raise SettingsError(
                "SMTP_URL must be set when WEBAPP_ENV=production and REQUIRE_CONFIRMED_EMAIL "
                "is on: new accounts could never receive the link that confirms their address "
                "(set SMTP_URL, or REQUIRE_CONFIRMED_EMAIL=false)"
            )


def open_files_limit() -> int:
    """The worker's soft limit on open files (RLIMIT_NOFILE)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to read; its C runtime's default
        return 512
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def _development_key(path: Path) -> str:
    """Read the kept key, or create it so that restarts keep people logged in.

    Several workers may start at once: the key is written to a private temporary
    file and linked into place, so exactly one key wins and all of them read it.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
