"""A post's copy of its pictures (`posts.media`): what every read of the post
carries, so that a card's thumbnail and a post page's pictures cost no
statement of their own. Written by `webapp.rules.pictures` with the rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from webapp.core.media_paths import picture_url
from webapp.models import MediaPublic

# Each picture as a list, in this order.
FIELDS = ("id", "file", "thumb", "alt", "width", "height", "thumb_width", "thumb_height")


def copy_of(rows: Iterable[Iterable[Any]]) -> str:
    """The copy of these rows (in FIELDS' order); "" for none."""
    pictures = [list(row) for row in rows]
    return json.dumps(pictures, separators=(",", ":"), ensure_ascii=False) if pictures else ""


def media_of(copy: str | None) -> list[MediaPublic]:
    if not copy:
        return []
    return [
        MediaPublic.model_construct(
            id=media_id,
            url=picture_url(file),
            thumbnail_url=picture_url(thumb),
            alt=alt,
            width=width,
            height=height,
            thumbnail_width=thumb_width,
            thumbnail_height=thumb_height,
        )
        for media_id, file, thumb, alt, width, height, thumb_width, thumb_height in json.loads(copy)
    ]
