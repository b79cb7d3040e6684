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
    # The API's `detail` when it is not `detail` (a 422 shaped as the
    # framework's own, for a route that documents it so).
    api_detail: object = None

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


class PostNotFound(DomainError):
    """Missing, or a draft the viewer may not see: to them it does not exist."""

    status_code = 404
    detail = "Post not found"


class TagNotFound(DomainError):
    """A name that cannot be a tag (a tag with no posts is an empty list)."""

    status_code = 404
    detail = "Tag not found"
    page_message = (
        "There is no such tag: a tag is 1 to 50 letters, digits or _, starting with a letter."
    )


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


class NotCommentEditor(DomainError):
    """Only a comment's author may change its text."""

    status_code = 403
    detail = "Not the author of this comment"
    page_message = "Only its author may edit this comment."


class ParentNotFound(DomainError):
    """A reply to a comment that is not one of this post's."""

    status_code = 422
    detail = "parent_id: no such comment on this post"
    page_message = "There is no such comment on this post to reply to."
    field = "parent_id"


class ThreadTooDeep(DomainError):
    """A reply deeper than a thread may go."""

    status_code = 422
    detail = "parent_id: this thread is too deep to answer here"
    page_message = "This thread is too deep to answer here; reply to a comment above it."
    field = "parent_id"


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


# --- limits: one error per limit, each a 429 with Retry-After -----------------


def wait_in_minutes(seconds: int) -> int:
    """A wait in whole minutes, rounded up, for the sentence a person reads."""
    return -(-seconds // 60)


def try_again_in(retry_after: int, *, please: bool = True) -> str:
    """The one sentence that tells how long to wait: "Please try again in 1
    minute.", "Try again in 15 minutes."."""
    minutes = wait_in_minutes(retry_after)
    unit = "minute" if minutes == 1 else "minutes"
    return f"{'Please try' if please else 'Try'} again in {minutes} {unit}."


class Throttled(DomainError):
    """A limit was reached: try again in `retry_after` seconds (429, Retry-After).
    Each limit says what was too many (`reason`); the wait is said the same way
    by every one (`try_again_in`)."""

    status_code = 429
    reason = "Too many attempts."

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
        super().__init__(f"{self.reason} {try_again_in(retry_after)}")
        self.page_message = self.detail


class TooManyLogins(Throttled):
    """Too many failed logins with what was typed, or from the client's address,
    in the password throttle's window (`webapp.rules.throttle`). The API's
    detail has said "Try again" since its first version; the page asks politely."""

    reason = "Too many failed logins."

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.detail = f"{self.reason} {try_again_in(retry_after, please=False)}"
        self.args = (self.detail,)


class TooManyAttempts(Throttled):
    """Too many wrong current passwords on the settings forms, counted per account."""

    reason = "Too many wrong passwords."


class TooManyRegistrations(Throttled):
    """The address created its REGISTRATIONS_PER_HOUR accounts within the last hour."""

    reason = "Too many accounts were created from your address."


class TooManyResetRequests(Throttled):
    """Password resets asked for from one address count against its login limit."""

    reason = "Too many attempts from your address."


class TooManyAddressChanges(Throttled):
    """An account asked for ADDRESS_CHANGES_PER_HOUR new addresses within the
    last hour (`webapp.rules.mail_links`): each sends two mails, one of them to any
    address typed, so the form must not become a way to mail strangers."""

    reason = "Too many changes of address asked for."


# --- moderation -------------------------------------------------------------------


class NotFound(DomainError):
    """A page or route that is not there for this visitor: the moderators'
    pages to anyone but a moderator, the admins' to anyone but an admin."""

    status_code = 404
    detail = "Not Found"


class ReportTargetNotFound(DomainError):
    """What was reported is missing, or not visible to the reporter."""

    status_code = 404
    detail = "Nothing to report there"


class CannotReportOwn(DomainError):
    status_code = 422
    detail = "You cannot report your own post, comment or account"
    page_message = "You cannot report your own post, comment or account."


class CannotActOnSelf(DomainError):
    status_code = 403
    detail = "Moderators cannot act on their own account or content"
    page_message = "You cannot act on your own account or content."


class CannotActOnAdmin(DomainError):
    """Only admins act on admins' accounts and roles; nobody on their own."""

    status_code = 403
    detail = "Only an admin may act on an admin"
    page_message = "Only an admin may act on an admin."


class AccountSuspended(DomainError):
    """The right password for a suspended account: no session, no token. Told
    only after the password was checked, never before."""

    status_code = 403
    detail = "This account is suspended"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.page_message = self.detail


class TooManyReports(Throttled):
    """More than REPORTS_PER_HOUR reports within the last hour (`webapp.rules.reports`)."""

    reason = "Too many reports."


# --- personal safety -----------------------------------------------------------


class CannotBlockSelf(DomainError):
    status_code = 422
    detail = "You cannot block yourself"
    page_message = "You cannot block yourself."


class CannotMuteSelf(DomainError):
    status_code = 422
    detail = "You cannot mute yourself"
    page_message = "You cannot mute yourself."


class TooManyPosts(Throttled):
    """POSTS_PER_HOUR posts within the last hour, pages and API together."""

    reason = "You have written as many posts as an hour allows."


class TooManyComments(Throttled):
    """COMMENTS_PER_HOUR comments within the last hour, pages and API together."""

    reason = "You have written as many comments as an hour allows."


class EmailNotConfirmed(DomainError):
    """With REQUIRE_CONFIRMED_EMAIL, an account that has not opened the link
    mailed to it reads, but does not post, comment, like, follow or report.
    The page offers to send the link again (`webapp.rules.confirmations`)."""

    status_code = 403
    detail = "Confirm your email address first"
    page_message = "Confirm your email address first."


class TooManyConfirmationMails(Throttled):
    """The link that confirms an address was mailed 3 times within the last hour."""

    reason = "The confirmation link was sent as many times as an hour allows."


class PictureRefused(DomainError):
    """A file that is not a picture we take, or is broken or too large in
    pixels: nothing of it is kept. `field` is the form field it came in."""

    status_code = 422
    detail = "This file is not a picture we can take."

    def __init__(self, detail: str | None = None, field: str = "file") -> None:
        super().__init__(detail)
        self.field = field
        self.page_message = self.detail


class MediaNotUsable(DomainError):
    """media_ids naming a picture that is not the caller's, is in another
    post, or does not exist; or too many."""

    status_code = 422
    detail = "media_ids must name at most 4 of your own pictures, not in another post"
    page_message = "Those pictures cannot be used in this post."
    api_detail = (
        {"type": "value_error", "loc": ["body", "media_ids"], "msg": detail, "input": None},
    )
