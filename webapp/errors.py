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


class CannotFollowSelf(DomainError):
    status_code = 422
    detail = "You cannot follow yourself"
    page_message = "You cannot follow yourself."


class CommentNotFound(DomainError):
    """Missing, or under a draft the viewer may not see."""

    status_code = 404
    detail = "Comment not found"


class NotCommentAuthor(DomainError):
    """Only a comment's author and the post's owner may delete it."""

    status_code = 403
    detail = "Neither the author of this comment nor the owner of its post"
    page_message = "Only its author and the post's owner may delete this comment."


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


class MailUnavailable(DomainError):
    """Production without SMTP_URL: nothing that sends mail can work."""

    status_code = 503
    detail = "Mail is not available on this site."
    page_message = "This site cannot send mail at the moment, so this cannot be done by mail."


class SameAddress(DomainError):
    """A new address for the account that is the one it has."""

    status_code = 422
    detail = "This is already your address."
    page_message = detail


def wait_in_minutes(seconds: int) -> int:
    """A wait in whole minutes, rounded up, for the sentence a person reads."""
    return -(-seconds // 60)


class Throttled(DomainError):
    """A limit was reached: try again in `retry_after` seconds (429, Retry-After)."""

    status_code = 429

    def __init__(self, retry_after: int, sentence: str) -> None:
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
        super().__init__(sentence)
        self.page_message = self.detail


class TooManyAttempts(Throttled):
    """Too many wrong passwords in the throttle's window."""

    def __init__(self, retry_after: int) -> None:
        minutes = wait_in_minutes(retry_after)
        super().__init__(
            retry_after, f"Too many wrong passwords. Please try again in {minutes} minutes."
        )


def _try_again_in(retry_after: int) -> str:
    minutes = wait_in_minutes(retry_after)
    return f"Please try again in {minutes} minute{'' if minutes == 1 else 's'}."


class TooManyRegistrations(Throttled):
    """The address created its REGISTRATIONS_PER_HOUR accounts within the last hour."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            retry_after,
            "Too many accounts were created from your address. " + _try_again_in(retry_after),
        )


class TooManyResetRequests(Throttled):
    """Password resets asked for from one address count against its login limit."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            retry_after, "Too many attempts from your address. " + _try_again_in(retry_after)
        )


class TooManyAddressChanges(Throttled):
    """An account asked for ADDRESS_CHANGES_PER_HOUR new addresses within the
    last hour (`webapp.rules.mail_links`): each sends two mails, one of them to any
    address typed, so the form must not become a way to mail strangers."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            retry_after, "Too many changes of address asked for. " + _try_again_in(retry_after)
        )
