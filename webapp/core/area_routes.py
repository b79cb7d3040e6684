"""The routers of Agora's areas (`router = area_router()` in each module of
`webapp.web` and `webapp.api`): their routes hold what they were declared
with and nothing built from it.

FastAPI builds a route's whole state (its dependencies, its parameters' and
response's validators, its request handler) when the route is declared, and
again for every router that includes it (`include_router`), in the including
router's context. Areas are always included (into `webapp.web.routes`,
`webapp.api.routes` or the app): only the included state ever answers, or
shows in the OpenAPI document, so the first one was about 2 MB of every
worker that nothing read."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import compile_path, get_name

# APIRoute's own defaults for what a declaration leaves out.
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(APIRoute.__init__).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
}


class DeclaredRoute(APIRoute):
    """A route as declared, which `include_router` builds from: the settings
    it reads, normalised as APIRoute normalises them, and no built state.
    It cannot answer a request itself: an area router is only included."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **settings: Any) -> None:
        given = {**_DEFAULTS, **settings}
        if given.pop("form_limits") is not None:
            raise ValueError(
                "an area's routes take the form limits of the router that includes them"
            )
        for name, value in given.items():
            setattr(self, name, value)
        self.path = path
        # Its path pattern and name, for the templates' links (`RoutePaths`).
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.endpoint = endpoint
        self.form_limits = {}
        self.stream_item_type = None
        self.name = get_name(endpoint) if given["name"] is None else given["name"]
        self.methods = {method.upper() for method in given["methods"] or ["GET"]}
        self.tags = list(given["tags"] or [])
        self.dependencies = list(given["dependencies"] or [])
        self.responses = dict(given["responses"] or {})


def area_router(**settings: Any) -> APIRouter:
    """An APIRouter (`prefix`, `tags`, ... as APIRouter takes them) whose
    routes are built only where it is included."""
    return APIRouter(route_class=DeclaredRoute, **settings)
