"""The changes open pages are told of, as the database's triggers describe them
(migration 0006), and the JSON messages sockets receive for them."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PostCreated:
    """A post was published (written published, or a draft published)."""

    id: int
    author: int

    def message(self, *, followed: bool = False) -> str:
        """`followed`: the socket's visitor follows the author (their Following
        feed announces it too)."""
        if followed:
            return _message("post.created", id=self.id, author=self.author, followed=True)
        return _message("post.created", id=self.id, author=self.author)


@dataclass(frozen=True, slots=True)
class PostDeleted:
    """A published post was deleted or taken back to a draft."""

    id: int

    def message(self) -> str:
        return deleted_message(self.id)


@dataclass(frozen=True, slots=True)
class PostChanged:
    """A post's like or comment count changed; `owner` and `published` decide
    who may hear of it (a draft's counts: its owner alone)."""

    id: int
    votes: int
    comments: int
    owner: int
    published: bool

    def message(self) -> str:
        return counts_message(self.id, self.votes, self.comments)


@dataclass(frozen=True, slots=True)
class CommentEvent:
    """A comment was written (`removed` False), or deleted, made a placeholder
    or taken away (`removed` True); `owner` and `published` are its post's,
    and decide who may hear of it (a draft's comments: its owner alone)."""

    id: int
    post: int
    owner: int
    published: bool
    removed: bool

    def message(self) -> str:
        return comment_message(self.post, self.id, removed=self.removed)


@dataclass(frozen=True, slots=True)
class AuthorChanged:
    """A person was suspended (`removed` True) or let back: what of theirs the
    sockets show goes, or comes back (`webapp.live.hub` finds it)."""

    user: int
    removed: bool


@dataclass(frozen=True, slots=True)
class ShieldChanged:
    """A person blocked or muted someone, or took it back: the new posts their
    open sockets are told of change. `blocked` and `muted` are whom they block
    and mute after this change (ids separated by spaces, or None), as its own
    transaction left them, so that a host that lags applies each in order;
    `known` is False when the event was too long to hold them (the hub reads
    them instead)."""

    user: int
    blocked: str | None = None
    muted: str | None = None
    known: bool = False


@dataclass(frozen=True, slots=True)
class UnreadChanged:
    """A user's unread notifications changed (the count is read by whoever holds
    their sockets: one statement for all of them, after a burst)."""

    user: int


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """A browser session ended: a logout, a password change, an account deleted,
    or an expired session swept."""

    session: int


Event = (
    PostCreated
    | PostDeleted
    | PostChanged
    | CommentEvent
    | AuthorChanged
    | ShieldChanged
    | UnreadChanged
    | SessionEnded
)


def parse(payload: str) -> Event | None:
    """The event a trigger described, or None for a payload this code does not
    know (written by a newer version of the schema, during a rolling upgrade)."""
    try:
        data = json.loads(payload)
        kind = data["t"]
        if kind == "changed":
            return PostChanged(
                int(data["id"]),
                int(data["votes"]),
                int(data["comments"]),
                int(data["owner"]),
                bool(data["published"]),
            )
        if kind == "created":
            return PostCreated(int(data["id"]), int(data["author"]))
        if kind == "deleted":
            return PostDeleted(int(data["id"]))
        if kind == "comment":
            return CommentEvent(
                int(data["id"]),
                int(data["post"]),
                int(data["owner"]),
                bool(data["published"]),
                data["op"] == "removed",
            )
        if kind == "author":
            return AuthorChanged(int(data["user"]), data["op"] == "removed")
        if kind == "shield":
            if "blocked" not in data:
                return ShieldChanged(int(data["user"]))
            return ShieldChanged(
                int(data["user"]), _ids(data["blocked"]), _ids(data["muted"]), known=True
            )
        if kind == "unread":
            return UnreadChanged(int(data["user"]))
        if kind == "ended":
            return SessionEnded(int(data["session"]))
    except (ValueError, KeyError, TypeError):
        pass
    return None


def _ids(value: object) -> str | None:
    """Ids separated by spaces, as a trigger wrote them, checked to be that."""
    if value is None:
        return None
    if not isinstance(value, str) or not all(
        part.isascii() and part.isdigit() for part in value.split()
    ):
        raise ValueError(value)
    return value


def comment_message(post_id: int, comment_id: int, *, removed: bool) -> str:
    kind = "comment.removed" if removed else "comment.created"
    return _message(kind, post_id=post_id, id=comment_id)


def deleted_message(post_id: int) -> str:
    return _message("post.deleted", id=post_id)


def counts_message(post_id: int, votes: int, comments: int) -> str:
    return _message("post.changed", id=post_id, votes=votes, comments=comments)


def unread_message(unread: int) -> str:
    return _message("notifications", unread=unread)


def subscribed_message(post_ids: list[int]) -> str:
    return _message("subscribed", posts=post_ids)


def _message(kind: str, **fields: object) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))
