"""The addresses of stored pictures, from their names: one place for the
shape of `/media/…` URLs, which the pages, the API and the file server share.

A stored name is the hex SHA-256 of the file's content (its first 32
characters) and an extension: `avatars/<hash>-256.jpg`, `avatars/<hash>-64.jpg`
(both from the 256-pixel file's hash) and `posts/<hash>.jpg`."""

from __future__ import annotations

import re

MEDIA_PREFIX = "/media"
AVATAR_SIZES = (256, 64)
# What a stored name looks like: anything else in a /media/ path is a 404
# before any file or row is looked up.
NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|webp)")
AVATAR_NAME = re.compile(r"([0-9a-f]{32})-(256|64)\.(jpg|webp)")
CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp"}


def avatar_file(avatar: str, size: int) -> str:
    """`<hash>.jpg`, 256 -> `<hash>-256.jpg` (the file under `avatars/`)."""
    stem, _, extension = avatar.partition(".")
    return f"{stem}-{size}.{extension}"


def avatar_url(user_id: int, avatar: str, *, large: bool) -> str:
    """An avatar's address, or the generated default's (the same for the same
    account, drawn by this site)."""
    if not avatar:
        return f"/avatars/{user_id}.svg"
    return f"{MEDIA_PREFIX}/avatars/{avatar_file(avatar, 256 if large else 64)}"


def picture_url(name: str) -> str:
    return f"{MEDIA_PREFIX}/posts/{name}"


def content_type(name: str) -> str:
    return CONTENT_TYPES[name.rsplit(".", 1)[1]]
