"""/docs and /redoc: served from /static/docs/, with no inline script or style,
under the app's CSP (for /redoc, styles only also by nonce and two hashes)."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from webapp.api.docs import REDOC_STYLE_HASHES
from webapp.core.middleware import CONTENT_SECURITY_POLICY
from webapp.core.templating import STATIC_DIR


class Page(HTMLParser):
    """What a page loads and anything inline in it."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.inline.append(f"<{tag}> with {sorted(attributes)}")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            self.scripts.append(attributes.get("src") or "")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"<script> body {data.strip()[:40]!r}")


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def directives(csp: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in csp.split("; ")}


@pytest.mark.parametrize(
    ("path", "main_script"),
    [
        ("/docs", "/static/docs/swagger-ui-bundle.js"),
        ("/redoc", "/static/docs/redoc.standalone.js"),
    ],
)
def test_a_docs_page_loads_only_local_files_and_nothing_inline(
    client: TestClient, path: str, main_script: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = parse(response.text)
    assert page.inline == []
    assert main_script in page.scripts
    for url in page.scripts + page.stylesheets:
        assert url.startswith("/static/docs/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


def test_swagger_ui_has_the_app_policy_unchanged(client: TestClient) -> None:
    assert client.get("/docs").headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_redoc_relaxes_styles_only_by_a_fresh_nonce(client: TestClient) -> None:
    first, second = client.get("/redoc"), client.get("/redoc")
    csp = directives(first.headers["content-security-policy"])
    expected = directives(CONTENT_SECURITY_POLICY)
    assert csp.pop("style-src").startswith("'self' ")
    assert csp == {k: v for k, v in expected.items() if k != "style-src"}
    assert "unsafe" not in first.headers["content-security-policy"]
    styles = directives(first.headers["content-security-policy"])["style-src"]
    nonce = re.fullmatch(r"'self' 'nonce-([\w-]+)' (.+)", styles)
    assert nonce, styles
    assert nonce.group(2) == " ".join(REDOC_STYLE_HASHES)
    assert f'nonce="{nonce.group(1)}"' in first.text  # handed to redoc-init.js
    assert nonce.group(1) not in second.headers["content-security-policy"]


def test_the_redoc_bundle_is_the_one_the_style_hashes_were_taken_from() -> None:
    # REDOC_STYLE_HASHES name the <style> texts of this exact file: a new bundle
    # needs them taken again (Chromium's console prints them on /redoc).
    bundle = (STATIC_DIR / "docs" / "redoc.standalone.js").read_bytes()
    assert hashlib.sha256(bundle).hexdigest() == (
        "e3d4361ba4ecdba1fad6ff3c627ef1e2563d78c02fbadb8e38572accac6a2acc"
    )
    assert b"cdn.redoc.ly" not in bundle  # its logo URL was replaced by "data:,"


def test_the_docs_pages_are_not_in_the_schema_and_there_is_no_redirect_page(
    client: TestClient,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc"} & set(paths)
    assert client.get("/docs/oauth2-redirect").status_code == 404


def test_the_vendored_files_keep_their_licences() -> None:
    docs = STATIC_DIR / "docs"
    assert "Apache License" in (docs / "swagger-ui-LICENSE").read_text()
    assert "MIT License" in (docs / "redoc-LICENSE").read_text()
    assert not list(docs.glob("*.map"))
