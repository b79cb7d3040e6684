"""The route template a request was answered by (`/posts/{post_id}`), for
the log and the metrics: never the path itself, which is the client's to
choose and would give every post a series of its own."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import Scope

# Set by what answers before routing (`webapp.core.direct_reads`).
SCOPE_KEY = "agora.route"
UNMATCHED = "unmatched"
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
# Paths already looked up, and their templates: at most this many kept.
_KNOWN_MAX = 2_000


def template_of(path: str) -> str:
    """`/posts/{post_id:id}` -> `/posts/{post_id}`."""
    return _CONVERTOR.sub(r"{\1}", path)


class RouteTemplates:
    """`routes()`: the app's routes, read on first use (they are added after
    the middleware that holds this)."""

    def __init__(self, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self._routes = routes
        self._table: list[tuple[re.Pattern[str], str]] | None = None
        self._known: dict[str, str] = {}

    def __call__(self, scope: Scope) -> str:
        """The template that an answer before routing named, else the first
        route whose pattern takes the path (as the router tries them), else
        `unmatched`."""
        named = scope.get(SCOPE_KEY)
        if isinstance(named, str):
            return named
        path: str = scope.get("path", "")
        known = self._known.get(path)
        if known is None:
            known = self._match(path)
            if len(self._known) >= _KNOWN_MAX:
                self._known.clear()
            self._known[path] = known
        return known

    def _match(self, path: str) -> str:
        if self._table is None:
            self._table = self._build()
        for pattern, template in self._table:
            if pattern.match(path):
                return template
        return UNMATCHED

    def _build(self) -> list[tuple[re.Pattern[str], str]]:
        table: list[tuple[re.Pattern[str], str]] = []
        for context in iter_route_contexts(list(self._routes())):
            path = context.path_format or context.path
            if not path:
                continue
            if isinstance(context.original_route, Mount):
                prefix = path.removesuffix("/{path}")
                table.append((re.compile(re.escape(prefix) + "/"), f"{prefix}/{{path}}"))
                continue
            pattern, _, _ = compile_path(path)
            table.append((pattern, template_of(path)))
        return table
