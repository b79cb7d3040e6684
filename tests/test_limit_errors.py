"""Every limit is one domain error: a 429 with Retry-After, its reason, and
the wait said by one sentence builder, in whole minutes rounded up."""

from __future__ import annotations

import pytest

from webapp.errors import (
    Throttled,
    TooManyAddressChanges,
    TooManyAttempts,
    TooManyLogins,
    TooManyRegistrations,
    TooManyResetRequests,
    try_again_in,
)


@pytest.mark.parametrize(
    ("seconds", "sentence"),
    [
        (1, "Please try again in 1 minute."),
        (60, "Please try again in 1 minute."),
        (61, "Please try again in 2 minutes."),
        (120, "Please try again in 2 minutes."),
        (900, "Please try again in 15 minutes."),
    ],
)
def test_the_wait_is_one_minute_or_so_many_minutes(seconds: int, sentence: str) -> None:
    assert try_again_in(seconds) == sentence


def test_the_api_login_keeps_its_own_words() -> None:
    assert try_again_in(30, please=False) == "Try again in 1 minute."
    refused = TooManyLogins(90)
    assert refused.detail == "Too many failed logins. Try again in 2 minutes."
    assert refused.page_message == "Too many failed logins. Please try again in 2 minutes."


@pytest.mark.parametrize(
    "limit",
    [
        TooManyLogins,
        TooManyAttempts,
        TooManyRegistrations,
        TooManyResetRequests,
        TooManyAddressChanges,
    ],
)
def test_every_limit_is_a_429_with_retry_after_and_no_1_minutes(
    limit: type[Throttled],
) -> None:
    refused = limit(42)
    assert refused.status_code == 429
    assert refused.headers == {"Retry-After": "42"}
    for words in (refused.detail, refused.page_message):
        assert words is not None
        assert words.endswith("again in 1 minute.")
        assert "1 minutes" not in words
