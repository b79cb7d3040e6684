"""A forgotten password in a real browser: the link on the login page, the
mail read from a real SMTP server (aiosmtpd), the new password set through
its link. Same setup and skipping as test_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import (
    DESKTOP,
    axe_violations,
    flash_text,
    login,
    logout,
    register,
    running_server,
    serve_axe,
    unique_name,
)
from tests.support.server import free_port
from tests.support.smtp import Inbox, SmtpServer, link_in

pytestmark = pytest.mark.browser

NEW_PASSWORD = "the harbour at dawn"


@pytest.fixture(scope="module")
def mail_site(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Inbox]]:
    """A server of its own, sending its mail to an SMTP server the test reads."""
    folder: Path = tmp_path_factory.mktemp("mail")
    with (
        SmtpServer(free_port()) as inbox,
        running_server(
            folder, settings={"SMTP_URL": inbox.url, "SITE_URL": "http://127.0.0.1:8000"}
        ) as url,
    ):
        yield url, inbox


def test_a_forgotten_password_is_reset_through_the_mailed_link(browser, mail_site) -> None:
    base_url, inbox = mail_site
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    serve_axe(context)
    try:
        page = context.new_page()
        name = unique_name("mia")
        register(page, name)
        logout(page)

        page.goto("/login")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email", exact=True).fill(f"{name}@example.com")
        page.get_by_role("button", name="Send me a link").click()
        page.get_by_role("heading", name="Check your mail").wait_for()
        assert axe_violations(page) == []

        (mail,) = inbox.wait_for(1)
        link = link_in(mail)  # the site's path, from the absolute link
        page.goto(link)
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("Confirm new password", exact=True).fill("not the same")
        page.get_by_role("button", name="Set the new password").click()
        assert "do not match" in page.locator(".field-error").inner_text()

        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("Confirm new password", exact=True).fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set the new password").click()
        page.wait_for_url("**/login")
        assert "Your password has been changed. Log in with it." in flash_text(page)

        login(page, name, NEW_PASSWORD)
        assert (
            page.get_by_role("navigation", name="Account")
            .get_by_role("link", name=name)
            .is_visible()
        )

        page.goto(link)  # a second time
        assert page.get_by_role("heading", name="This link does not work").is_visible()
        assert page.get_by_role("link", name="Send me a new link").get_attribute("href") == (
            "/password-reset"
        )
    finally:
        context.close()
