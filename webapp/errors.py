"""What can go wrong by the rules, whichever door the request came in by.

Domain functions raise these; each says once how it is answered: its status,
its `detail` under /api, and the sentence a page shows (None: the page's
usual words for that status). `webapp.error_handlers` turns them into JSON or
an HTML page; no route catches them only to raise an HTTP error instead.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    detail = "Bad request"
    page_message: str | None = None
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


class PostNotFound(DomainError):
    """Missing, or a draft the viewer may not see: to them it does not exist."""

    status_code = 404
    detail = "Post not found"


class NotOwner(DomainError):
    """The post exists and is visible, but belongs to someone else."""

    status_code = 403
    detail = "Not the owner of this post"
    page_message = "This post is not yours."


class UserNotFound(DomainError):
    status_code = 404
    detail = "User not found"


class AccountTaken(DomainError):
    """The username or email is someone else's, in any letter case. `fields`
    holds a message per field, for the form that asked."""

    status_code = 409

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__(" ".join(fields.values()))


class WrongPassword(DomainError):
    """A form that asks for the current password got another one."""

    status_code = 422
    detail = "This is not your current password."
    page_message = detail


class TooManyAttempts(DomainError):
    """Too many wrong passwords in the throttle's window: wait `retry_after` seconds."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
        minutes = -(-retry_after // 60)
        super().__init__(f"Too many wrong passwords. Please try again in {minutes} minutes.")
        self.page_message = self.detail


class TooManyRegistrations(DomainError):
    """The address created its REGISTRATIONS_PER_HOUR accounts within the last
    hour: wait `retry_after` seconds."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
        minutes = -(-retry_after // 60)
        super().__init__(
            "Too many accounts were created from your address. "
            f"Please try again in {minutes} minute{'' if minutes == 1 else 's'}."
        )
        self.page_message = self.detail
