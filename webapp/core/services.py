"""What one app holds for its whole life: the settings, the database engines,
the page cache, the postman, the password hasher, the API tokens, the page
templates, the security headers and the live-updates hub. Built once by the
app factory and kept in one place, `Services`; the app reaches it only
through `webapp.core.deps`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

import jinja2
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import State

from webapp.core.config import Settings
from webapp.core.mail import Postman
from webapp.core.page_cache import PageCache
from webapp.core.security import ApiTokens, PasswordHasher

# The live-updates hub's type, which knows posts and people (`webapp.live.hub`),
# so it is named by the app that builds the services, not here.
Live = TypeVar("Live")


@dataclass(frozen=True)
class Services(Generic[Live]):
    settings: Settings
    engine: AsyncEngine
    # For the postman's thread, which has no event loop (`webapp.rules.mail_links`).
    mail_engine: Engine
    page_cache: PageCache
    postman: Postman | None
    hasher: PasswordHasher
    api_tokens: ApiTokens
    templates: jinja2.Environment
    security_headers: dict[str, str]
    live: Live


class ServicesState(State):
    """`app.state` of an Agora app. It holds the services and nothing else, and
    shows each by its name, read-only, to code that holds the app from outside
    (the tests, the benchmark: `app.state.page_cache`); the app's own code
    reads them through `webapp.core.deps`."""

    def __init__(self, services: Services[Any]) -> None:
        super().__init__()
        object.__setattr__(self, "services", services)
        object.__setattr__(self, "_names", frozenset(field.name for field in fields(services)))

    def __getattr__(self, name: str) -> Any:
        if name in self._names:
            return getattr(self.services, name)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._names or name == "services":
            raise AttributeError(f"the services are built once: {name} cannot be replaced")
        super().__setattr__(name, value)
