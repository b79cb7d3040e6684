"""A person's profile: display name, bio and website, and their avatar.

The bio is Markdown rendered as comments are, when it is written; the people
it mentions are linked and not told (a bio is not news). An avatar is
decoded, cropped to its centre square and kept at 256 and 64 pixels with no
metadata (`webapp.core.images`); the previous one's files go.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from webapp.core import images
from webapp.core.db import transaction
from webapp.core.media_store import MediaStore
from webapp.errors import PictureRefused
from webapp.models import ProfileUpdate, User
from webapp.rules import mentions, pictures


async def update_profile(db: AsyncSession, user_id: int, data: ProfileUpdate) -> None:
    """Change the fields sent (None: unchanged; empty: cleared)."""
    values: dict[str, str] = {
        name: value
        for name, value in data.model_dump(exclude_unset=True).items()
        if value is not None
    }
    if "bio" in values:
        written = await mentions.render(db, values["bio"], "comment")
        values["bio_html"] = written.rendered.html if values["bio"].strip() else ""
    if not values:
        return

    async def write() -> None:
        await db.exec(update(User).where(col(User.id) == user_id).values(values))

    await transaction(db, write)


async def set_avatar(
    db: AsyncSession, store: MediaStore, user_id: int, path: Path, field: str
) -> None:
    """Make the uploaded file the person's avatar (PictureRefused beside
    `field` when it is not a picture we take)."""
    try:
        large, small = await images.off_loop(images.avatar_now, path)
    except images.BadPicture as error:
        raise PictureRefused(str(error), field=field) from None
    await _replace_avatar(db, store, user_id, store.keep_avatar(large, small))


async def delete_avatar(db: AsyncSession, store: MediaStore, user_id: int) -> None:
    await _replace_avatar(db, store, user_id, "")


async def _replace_avatar(db: AsyncSession, store: MediaStore, user_id: int, avatar: str) -> None:
    found = (await db.exec(select(col(User.avatar)).where(col(User.id) == user_id))).first()
    previous = found or ""

    async def write() -> None:
        await db.exec(update(User).where(col(User.id) == user_id).values(avatar=avatar))

    await transaction(db, write)
    if previous and previous != avatar:
        await pictures.forget_avatar_if_unused(db, store, previous)
