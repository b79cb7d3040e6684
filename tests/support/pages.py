"""What a person does with the pages, one line per action: the form's CSRF
token found on the page as a browser finds it, register, log in, write."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from tests.support.app import PASSWORD

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str = "/") -> str:
    """The token a page's forms carry, as a browser would find it."""
    page = client.get(path)
    if page.status_code == 303:  # e.g. /login when already logged in
        page = client.get("/")
    match = CSRF_RE.search(page.text)
    assert match, f"no csrf_token on {path} ({page.status_code})"
    return match.group(1)


def post_form(client: TestClient, path: str, data: dict[str, str], page: str = "/"):
    """Send a form the way the browser does: with the page's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


class Auth:
    """What a person does with the account pages, one line per action."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def register(
        self,
        username: str = "alice",
        email: str | None = None,
        password: str = PASSWORD,
        confirm: str | None = None,
    ):
        return post_form(
            self.client,
            "/register",
            {
                "username": username,
                "email": email or f"{username}@example.com",
                "password": password,
                "password_confirm": password if confirm is None else confirm,
            },
            page="/register",
        )

    def login(self, username: str = "alice", password: str = PASSWORD, next: str | None = None):
        data = {"username": username, "password": password}
        if next is not None:
            data["next"] = next
        return post_form(self.client, "/login", data, page="/login")

    def logout(self):
        return post_form(self.client, "/logout", {})


def session_cookie(client: TestClient) -> dict:
    """What the signed cookie carries, read without the key (it is signed, not secret)."""
    value = client.cookies.get("agora_session")
    assert value, "no session cookie"
    payload = value.split(".", 1)[0]
    return json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))


def write_post(
    client: TestClient, title: str = "Hello", content: str = "Some text.", published: bool = True
) -> int:
    """Write a post through the form; returns its id."""
    data = {"title": title, "content": content}
    if published:
        data["published"] = "on"
    response = post_form(client, "/posts", data, page="/posts/new")
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


class MadeOrRendered:
    """An anonymous visitor's page that `module` makes in Python, in the
    template's shell (`serves_anonymous_page`), held against the template's
    own rendering of it: `page` asks for it both ways, from an empty cache,
    and finds the same bytes."""

    def __init__(self, monkeypatch: Any, module: Any) -> None:
        self.by_template = False
        serves = module.serves_anonymous_page
        monkeypatch.setattr(
            module,
            "serves_anonymous_page",
            lambda request, visitor: not self.by_template and serves(request, visitor),
        )

    def page(self, app: Any, client: TestClient, path: str) -> Response:
        """The page as made in Python, once the template's is found the same."""
        self.by_template = False
        app.state.page_cache.clear()
        made = client.get(path)
        self.by_template = True
        app.state.page_cache.clear()
        rendered = client.get(path)
        assert rendered.content == made.content, path
        assert rendered.headers["content-type"] == made.headers["content-type"]
        return made
