"""`python -m webapp check`: what in this configuration is wrong (an error)
or risky (a warning) for running the site in public, judged as production
whatever WEBAPP_ENV says, one line each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from webapp.core.config import MIN_SECRET_LENGTH, Settings

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    level: Level
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


def findings(settings: Settings) -> list[Finding]:
    return [*_settings(settings), *_database(settings)]


def _settings(settings: Settings) -> Iterator[Finding]:
    if settings.webapp_env != "production":
        yield Finding("warning", "WEBAPP_ENV is not production: the strict start-up checks are off")
    if not settings.secret_key:
        yield Finding("error", f"SECRET_KEY is not set (at least {MIN_SECRET_LENGTH} characters)")
    elif len(settings.secret_key) < MIN_SECRET_LENGTH:
        yield Finding(
            "error",
            f"SECRET_KEY is {len(settings.secret_key)} characters, fewer than {MIN_SECRET_LENGTH}",
        )
    site = urlsplit(settings.site_url) if settings.site_url else None
    if site is None:
        yield Finding("error", "SITE_URL is not set: mails and feeds need the public address")
    elif site.scheme != "https" or not site.hostname:
        yield Finding("error", f"SITE_URL is not an https:// address: {settings.site_url}")
    hosts = [name.strip() for name in settings.allowed_hosts.split(",") if name.strip()]
    if not hosts:
        yield Finding("error", "ALLOWED_HOSTS is not set: the site would answer to any Host")
    elif (
        site is not None
        and site.hostname
        and site.hostname.lower() not in {name.lower() for name in hosts}
    ):
        yield Finding("error", f"ALLOWED_HOSTS does not hold SITE_URL's host ({site.hostname})")
    if not settings.cookie_secure:
        yield Finding("warning", "COOKIE_SECURE is off: the session cookie may go over plain http")
    if not settings.smtp_url:
        yield Finding("warning", "SMTP_URL is not set: no password reset or confirmation mail")
    if not settings.metrics_token:
        yield Finding("warning", "METRICS_TOKEN is not set: /metrics is off")
    proxies = settings.proxy_addresses
    if "*" in proxies:
        yield Finding(
            "warning",
            "FORWARDED_ALLOW_IPS is *: any client can claim another address and slip the limits",
        )
    elif any(_is_wide(proxy) for proxy in proxies):
        yield Finding("warning", "FORWARDED_ALLOW_IPS believes a whole public network")


def _is_wide(proxy: str) -> bool:
    import ipaddress

    try:
        network = ipaddress.ip_network(proxy, strict=False)
    except ValueError:
        return False
    return network.num_addresses > 256 and network.is_global


def _database(settings: Settings) -> Iterator[Finding]:
    """Whether the database answers and is at the newest schema, without
    creating or changing anything."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from webapp.core.db import alembic_config

    path = settings.sqlite_path
    if path is not None and not path.exists():
        yield Finding("error", f"the database {path} does not exist: run python -m webapp migrate")
        return
    engine = create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as error:  # any failure to connect is the finding
        yield Finding("error", f"the database does not answer: {type(error).__name__}")
        return
    finally:
        engine.dispose()
    newest = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    if current != newest:
        at = ", ".join(sorted(current)) or "none"
        yield Finding(
            "error", f"the database is not migrated (at {at}, newest {', '.join(sorted(newest))})"
        )
