"""What the browser tests share: the real server, Chromium, and helpers that act
as a person would, through the visible labels and buttons.

The browser is Debian's Chromium at /usr/bin/chromium driven by the sync
Playwright API (Playwright's own browser download is not used). Without it the
browser tests skip, saying why; with REQUIRE_BROWSER=1 they fail instead.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.server import running_server

__all__ = ["running_server"]  # the browser tests' server

if TYPE_CHECKING:
    from playwright.sync_api import Page

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
SCREENSHOTS = TESTS / "screenshots"
AXE_JS = TESTS / "vendor" / "axe.min.js"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
PASSWORD = "correct horse battery"

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NARROWEST = {"width": 320, "height": 640}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed: pip install -r tests/requirements.txt"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM}: apt-get install chromium"
    return None


def skip_or_fail(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


_names = itertools.count(1)


def unique_name(prefix: str = "user") -> str:
    """A username no other test has used (3–30 characters)."""
    return f"{prefix}_{next(_names)}_{os.getpid() % 1000}"


# People's actions, through what they see --------------------------------------


def register(page: Page, name: str, password: str = PASSWORD, email: str | None = None) -> None:
    page.goto("/register")
    page.get_by_label("Username", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(email or f"{name}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password", exact=True).fill(password)
    page.get_by_role("button", name="Register").click()
    page.wait_for_load_state()


def login(page: Page, name: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username or email", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def logout(page: Page) -> None:
    page.get_by_role("navigation", name="Account").get_by_role("button", name="Log out").click()
    page.wait_for_load_state()


def write_post(page: Page, title: str, text: str, published: bool = True) -> int:
    """Write a post through the form; returns its id (from the page it lands on)."""
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Text", exact=True).fill(text)
    if not published:
        page.get_by_label("Published", exact=True).uncheck()
    page.get_by_role("button", name="Publish").click()
    page.wait_for_load_state()
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def flash_text(page: Page) -> str:
    return " ".join(page.locator(".flash").all_inner_texts())


# What the tests look at ----------------------------------------------------


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0 when it fits)."""
    return page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
    )


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


AXE_URL_PATH = "/__axe-core__.js"


def serve_axe(context: Any) -> None:
    """Answer AXE_URL_PATH on the site's own origin with the vendored axe-core, so
    that it loads under the site's CSP (`script-src 'self'`) without bypassing it:
    a script tag with inline content, which add_script_tag(path=...) makes, is
    refused by that CSP."""
    context.route(
        f"**{AXE_URL_PATH}",
        lambda route: route.fulfill(path=AXE_JS, content_type="text/javascript"),
    )


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is now, one
    readable line each (the context must have had serve_axe)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL_PATH)
    results = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " ("
                    + (n.failureSummary || "").replace(/\\s+/g, " ") + ")"),
            }));
        }"""
    )
    return [
        f"{item['impact']}: {item['id']} – {item['help']}: {'; '.join(item['targets'])}"
        for item in results
        if item["impact"] in impacts
    ]
