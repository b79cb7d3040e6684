"""The shape of the code: two doors that cannot mix, CSRF on every page form,
the visitor on every page, and imports that never run upward or in a loop."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from tests.support.pages import Auth, csrf_token, write_post
from webapp import api, web
from webapp.core.area_routes import DeclaredRoute

PACKAGE = Path(__file__).resolve().parent.parent / "webapp"


def routes(app: FastAPI) -> Iterator[Any]:
    """Every route, with included routers walked into (FastAPI includes lazily)."""
    for route in iter_route_contexts(app.routes):
        if getattr(route, "dependant", None) is not None:
            yield route


def calls(dependant: Dependant) -> Iterator[Any]:
    """Every function a route runs to answer: its dependencies, theirs, and itself."""
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def reads_the_cookie(call: Any) -> bool:
    module = getattr(call, "__module__", "") or ""
    if module.startswith("webapp.web"):
        return True  # the page door's visitor, CSRF check, login requirement, login cookie
    try:
        source = inspect.getsource(call)
    except (OSError, TypeError):
        return False  # a class instance from a library (OAuth2PasswordBearer)
    return bool(re.search(r"\.session\b|\.cookies\b|SESSION_KEY", source))


# --- two doors ------------------------------------------------------------------


def test_no_api_route_reads_the_session_cookie_or_the_page_visitor(app: FastAPI) -> None:
    api_routes = [route for route in routes(app) if route.path_format.startswith("/api/")]
    assert len(api_routes) >= 10
    for route in api_routes:
        assert not route.dependant.cookie_params, route.path_format
        for call in calls(route.dependant):
            assert not reads_the_cookie(call), f"{route.path_format} runs {call!r}"


def test_a_logged_in_browser_cookie_is_not_a_login_under_api(alice_browser: TestClient) -> None:
    assert alice_browser.get("/api/users/me").status_code == 401


def page_posts(app: FastAPI) -> list[str]:
    paths = []
    for route in routes(app):
        if "POST" in (route.methods or ()) and not route.path_format.startswith("/api/"):
            paths.append(re.sub(r"\{\w+\}", "1", route.path_format))
    return paths


def test_every_page_form_without_its_csrf_token_is_403(
    app: FastAPI, alice_browser: TestClient, new_client
) -> None:
    write_post(alice_browser, "A post to act on")
    paths = page_posts(app)
    assert {"/login", "/register", "/logout", "/posts", "/settings/delete"} <= set(paths)
    assert {"/users/1/follow", "/posts/1/comments", "/notifications/read"} <= set(paths)
    stranger = new_client()
    for path in paths:
        for browser in (alice_browser, stranger):
            response = browser.post(path, data={"title": "t", "content": "c"})
            assert response.status_code == 403, (path, response.status_code)
            wrong = browser.post(path, data={"csrf_token": "forged"})
            assert wrong.status_code == 403, path
    # Alice's session, her post and her account are all still there.
    assert alice_browser.get("/posts/1").status_code == 200
    assert "alice" in alice_browser.get("/settings").text


def test_the_page_router_checks_csrf_before_any_page_route(app: FastAPI) -> None:
    from webapp.web.deps import protect_form

    for route in routes(app):
        if route.path_format.startswith(("/api/", "/docs", "/redoc", "/healthz", "/metrics")):
            continue
        if route.path_format in ("/openapi.json", "/ws"):
            continue  # /ws takes no form: its handshake checks the Origin (test_live)
        first = route.dependant.dependencies[0].call
        assert first is protect_form, route.path_format


# --- the visitor on every page --------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no-such-page", 404),
        ("GET", "/posts/999999", 404),
        ("GET", "/users/999999", 404),
        ("GET", "/logout", 405),
    ],
)
def test_error_pages_show_the_logged_in_header(
    alice_browser: TestClient, method: str, path: str, status: int
) -> None:
    response = alice_browser.request(method, path)
    assert response.status_code == status
    assert 'href="/users/1">alice</a>' in response.text
    assert "Log in" not in response.text
    assert csrf_token(alice_browser) in response.text  # the header's logout form works


def test_an_error_page_for_a_stranger_offers_to_log_in(client: TestClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Log in" in response.text


def test_a_rejected_form_keeps_the_header(alice_browser: TestClient) -> None:
    response = alice_browser.post(
        "/posts",
        content=b"title=%ff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert 'href="/users/1">alice</a>' in response.text


def test_a_visitor_who_logs_out_sees_an_anonymous_error_page(client: TestClient) -> None:
    Auth(client).register("alice")
    Auth(client).logout()
    assert "Log in" in client.get("/no-such-page").text


# --- imports --------------------------------------------------------------------

# Each module's layer: a module imports from its own layer or below, never above.
LAYERS = {
    "webapp.core": 0,
    "webapp.models": 1,
    "webapp.errors": 1,
    # the rules, one module per noun
    "webapp.rules": 2,
    "webapp.seed": 2,
    "webapp.migrations": 2,
    # live updates: the rules' changes, told to open sockets (the page door's /ws)
    "webapp.live": 2,
    # the two doors
    "webapp.web": 3,
    "webapp.api": 3,
    # the assembly
    "webapp.error_handlers": 4,
    "webapp.app": 5,
    # the command line, and the deployment checks it runs
    "webapp.deploy_checks": 6,
    "webapp.__main__": 6,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> tuple[str, int]:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def imports_of(path: Path) -> set[str]:
    """The webapp modules a file imports at its top level (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("webapp"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py")
                found.add(candidate if is_module.exists() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("webapp"))
    return found


def graph() -> dict[str, set[str]]:
    return {
        module_name(path): imports_of(path)
        for path in PACKAGE.rglob("*.py")
        if "versions" not in path.parts and path != PACKAGE / "__init__.py"
    }


def test_nothing_imports_upward_and_the_doors_do_not_import_each_other() -> None:
    for module, imported in graph().items():
        own, own_layer = layer(module)
        for target in imported:
            target_prefix, target_layer = layer(target)
            assert target_layer <= own_layer, f"{module} imports {target} (upward)"
            assert {own, target_prefix} != {"webapp.web", "webapp.api"}, (
                f"{module} imports {target}"
            )


def test_there_are_no_import_loops() -> None:
    edges = graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in edges.get(module, ()):
            if target not in edges:
                continue
            assert state.get(target) != "open", " -> ".join([*path, target])
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in edges:
        if module not in state:
            visit(module, [module])


def imports_anywhere(path: Path) -> set[str]:
    """Every module a file imports, at any depth (inside functions and
    `if TYPE_CHECKING:` too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


RULES_MAY_NOT_IMPORT = (
    "fastapi",
    "starlette",
    "webapp.web",
    "webapp.api",
    "webapp.error_handlers",
    "webapp.app",
)


def test_the_rules_import_no_door_and_nothing_of_http() -> None:
    """A rule takes and gives plain values: the request, its cookie and its
    answer belong to the doors, so that both doors share every rule."""
    rules = sorted((PACKAGE / "rules").rglob("*.py"))
    assert len(rules) >= 10
    for path in rules:
        for module in imports_anywhere(path):
            assert not module.startswith(RULES_MAY_NOT_IMPORT), f"{path.name} imports {module}"


def test_core_imports_no_rule_model_error_or_door() -> None:
    """`core/` is plumbing: it knows nothing of posts or people."""
    beyond = ("webapp.rules", "webapp.models", "webapp.errors", "webapp.web", "webapp.api")
    beyond += ("webapp.live", "webapp.app", "webapp.error_handlers", "webapp.seed")
    for path in (PACKAGE / "core").rglob("*.py"):
        for module in imports_anywhere(path):
            assert not module.startswith(beyond), f"{module_name(path)} imports {module}"


# Where the app's services are stored and read: nowhere else reads `app.state`.
SERVICES_HOLDERS = {"webapp.core.deps", "webapp.core.services"}


def test_only_the_dependencies_that_expose_the_services_touch_app_state() -> None:
    # `request.state` is no channel either: what a function needs is passed to it.
    readers = [
        f"{module_name(path)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        if module_name(path) not in SERVICES_HOLDERS
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "state"
    ]
    assert readers == []


def test_ids_in_paths_use_the_named_converter_and_int_stays_starlettes(app: FastAPI) -> None:
    from starlette.convertors import CONVERTOR_TYPES, IntegerConvertor

    from webapp.core.paths import IdConvertor

    assert type(CONVERTOR_TYPES["int"]) is IntegerConvertor
    assert isinstance(CONVERTOR_TYPES["id"], IdConvertor)
    for path in PACKAGE.rglob("*.py"):
        assert ":int}" not in path.read_text(), module_name(path)
    assert any(":id}" in (route.path or "") for route in routes(app))


@pytest.mark.parametrize(
    ("path", "checked"),
    [("/", True), ("/posts/1", True), ("/static/style.css", False), ("/api/posts", False)],
)
def test_the_shared_pages_leave_files_and_the_api_alone(path: str, checked: bool) -> None:
    from tests.support.app import on_own_loop
    from webapp.web.shared_pages import SharedPages

    checks: list[str] = []

    class Cache:
        async def check(self) -> None:
            checks.append(path)

        def get(
            self,
            key: object,
            default: object = None,
            *,
            stale: bool = False,
            rebuild: object = None,
        ) -> object:
            return None

    shared = SharedPages(cache=Cache())  # type: ignore[arg-type]  # a stand-in
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "session": {}}
    answers: list[bytes | None] = []

    async def ask() -> None:
        answers.append(await shared(scope))

    on_own_loop(ask())
    assert answers == [None]  # nothing kept: the app answers
    assert bool(checks) is checked


def test_area_routes_are_built_only_where_they_are_included() -> None:
    declared = 0
    for package in (web, api):
        for found in pkgutil.iter_modules(package.__path__):
            router = getattr(
                importlib.import_module(f"{package.__name__}.{found.name}"), "router", None
            )
            for route in getattr(router, "routes", ()):
                if isinstance(route, APIRoute):
                    assert isinstance(route, DeclaredRoute), route.path
                    assert getattr(route, "dependant", None) is None, route.path
                    declared += 1
    assert declared >= 50
