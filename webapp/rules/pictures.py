"""Pictures in posts and avatars: what may be uploaded and attached, who may
see a stored file, and when files go. Both doors call these.

A post's pictures are `media` rows (owner, post, place, alt text, files) and,
written in the same transaction, a copy on the post (`posts.media`, JSON) that
every read of the post carries: a card's thumbnail and a post page's pictures
cost no statement of their own. A file is deleted once no row names it
(two uploads of the same picture share one file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from webapp.core import images
from webapp.core.db import new_session, transaction
from webapp.core.media_paths import picture_url
from webapp.core.media_store import MediaStore
from webapp.errors import MediaNotUsable, PictureRefused
from webapp.models import (
    PICTURES_MAX,
    Media,
    MediaPublic,
    Post,
    PostPublic,
    User,
    check_alt,
    utcnow,
)
from webapp.rules import posts, suspensions
from webapp.rules.media_copy import FIELDS, copy_of

# An API upload never attached to a post is deleted after this.
UNATTACHED_FOR = timedelta(days=1)


@dataclass(frozen=True)
class Stored:
    """A picture's two files, kept, and their sizes."""

    file: str
    thumb: str
    width: int
    height: int
    thumb_width: int
    thumb_height: int


def alt_text(value: str) -> str:
    """The alt text checked (PictureRefused beside `alt` when it is not)."""
    try:
        return check_alt(value)
    except ValueError as error:
        raise PictureRefused(str(error), field="alt") from None


async def store_picture(store: MediaStore, path: Path, field: str) -> Stored:
    """Decode, check and re-encode an uploaded file, and keep the result."""
    try:
        large, small = await images.off_loop(images.picture_now, path)
    except images.BadPicture as error:
        raise PictureRefused(str(error), field=field) from None
    return Stored(
        store.keep_picture(large),
        store.keep_picture(small),
        large.width,
        large.height,
        small.width,
        small.height,
    )


async def upload_all(
    db: AsyncSession, store: MediaStore, owner_id: int, files: list[tuple[Path, str]], field: str
) -> list[MediaPublic]:
    """Keep these uploads (each a file and its alt text, checked) as pictures
    no post holds yet: all of them, or none (PictureRefused beside `field`
    for the first that is not a picture we take)."""
    alts = [alt_text(alt) for _path, alt in files]  # before any file is kept
    kept: list[tuple[Stored, str]] = []
    try:
        for (path, _alt), alt in zip(files, alts, strict=True):
            kept.append((await store_picture(store, path, field), alt))
    except PictureRefused:
        await forget_unused(
            db, store, [name for stored, _ in kept for name in (stored.file, stored.thumb)]
        )
        raise
    return await keep_unattached(db, owner_id, kept)


def public(media_id: int, stored: Stored, alt: str) -> MediaPublic:
    return MediaPublic(
        id=media_id,
        url=picture_url(stored.file),
        thumbnail_url=picture_url(stored.thumb),
        alt=alt,
        width=stored.width,
        height=stored.height,
        thumbnail_width=stored.thumb_width,
        thumbnail_height=stored.thumb_height,
    )


async def keep_unattached(
    db: AsyncSession, owner_id: int, pictures: list[tuple[Stored, str]]
) -> list[MediaPublic]:
    """Rows for kept pictures that no post holds yet, in this order."""
    now = utcnow()

    async def write() -> list[int]:
        ids: list[int] = []
        for stored, alt in pictures:
            statement = (
                insert(Media)
                .values(
                    owner_id=owner_id,
                    alt=alt,
                    file=stored.file,
                    thumb=stored.thumb,
                    width=stored.width,
                    height=stored.height,
                    thumb_width=stored.thumb_width,
                    thumb_height=stored.thumb_height,
                    created_at=now,
                )
                .returning(col(Media.id))
            )
            ids.append((await db.exec(statement)).scalar_one())
        return ids

    ids = await transaction(db, write) if pictures else []
    return [
        public(media_id, stored, alt) for media_id, (stored, alt) in zip(ids, pictures, strict=True)
    ]


async def check_usable(
    db: AsyncSession, *, owner_id: int, media_ids: list[int], post_id: int | None = None
) -> None:
    """MediaNotUsable unless each is the owner's, free (or in this post),
    named once, and there are at most four: checked before a post is written,
    so that a refusal leaves nothing behind."""
    if len(media_ids) > PICTURES_MAX or len(set(media_ids)) != len(media_ids):
        raise MediaNotUsable
    if not media_ids:
        return
    usable = or_(col(Media.post_id).is_(None), col(Media.post_id) == (post_id or 0))
    found = await db.exec(
        select(col(Media.id)).where(
            col(Media.id).in_(media_ids), col(Media.owner_id) == owner_id, usable
        )
    )
    if len(found.all()) != len(media_ids):
        raise MediaNotUsable


async def set_post_media(
    db: AsyncSession, store: MediaStore, *, owner_id: int, post_id: int, media_ids: list[int]
) -> None:
    """The post's pictures become these, in this order: each the owner's, and
    free or already in this post (else MediaNotUsable, nothing changed); those
    it held before and not now are deleted with their files."""
    if len(media_ids) > PICTURES_MAX or len(set(media_ids)) != len(media_ids):
        raise MediaNotUsable

    async def write() -> list[str]:
        for position, media_id in enumerate(media_ids):
            taken = await db.exec(
                update(Media)
                .where(
                    col(Media.id) == media_id,
                    col(Media.owner_id) == owner_id,
                    or_(col(Media.post_id).is_(None), col(Media.post_id) == post_id),
                )
                .values(post_id=post_id, position=position)
            )
            if taken.rowcount != 1:
                raise MediaNotUsable
        dropped = await db.exec(
            delete(Media)
            .where(col(Media.post_id) == post_id, col(Media.id).not_in(media_ids or [0]))
            .returning(col(Media.file), col(Media.thumb))
        )
        names = [name for row in dropped for name in row]
        await _copy_to_post(db, post_id)
        return names

    await forget_unused(db, store, await transaction(db, write))


async def _copy_to_post(db: AsyncSession, post_id: int) -> None:
    columns = (getattr(Media, name) for name in FIELDS)
    statement: Any = (
        Select(*columns).where(col(Media.post_id) == post_id).order_by(col(Media.position))
    )
    copy = copy_of(await db.exec(statement))
    await db.exec(
        update(Post).where(col(Post.id) == post_id, col(Post.media) != copy).values(media=copy)
    )


# --- files going ----------------------------------------------------------------------


async def names_of_post(db: AsyncSession, post_id: int) -> list[str]:
    rows = await db.exec(
        select(col(Media.file), col(Media.thumb)).where(col(Media.post_id) == post_id)
    )
    return [name for row in rows for name in row]


async def names_of_owner(db: AsyncSession, owner_id: int) -> tuple[list[str], str]:
    """Every picture file of a person's, and their avatar's name."""
    rows = await db.exec(
        select(col(Media.file), col(Media.thumb)).where(col(Media.owner_id) == owner_id)
    )
    avatar = (await db.exec(select(col(User.avatar)).where(col(User.id) == owner_id))).first()
    return [name for row in rows for name in row], avatar or ""


async def forget_unused(db: AsyncSession, store: MediaStore, names: list[str]) -> None:
    """Delete those of these files that no picture names any more."""
    if not names:
        return
    used = await db.exec(
        select(col(Media.file), col(Media.thumb)).where(
            or_(col(Media.file).in_(names), col(Media.thumb).in_(names))
        )
    )
    still = {name for row in used for name in row}
    store.forget_pictures([name for name in set(names) if name not in still])


async def forget_avatar_if_unused(db: AsyncSession, store: MediaStore, avatar: str) -> None:
    if not avatar:
        return
    used = await db.exec(select(col(User.id)).where(col(User.avatar) == avatar).limit(1))
    if used.first() is None:
        store.forget_avatar(avatar)


async def delete_post(db: AsyncSession, store: MediaStore, post: PostPublic) -> None:
    """Delete a post (`webapp.rules.posts.delete_post`), then its picture files."""
    names = await names_of_post(db, post.id)
    await posts.delete_post(db, post=post)
    await forget_unused(db, store, names)


async def drop_unattached(
    db: AsyncSession, store: MediaStore, owner_id: int, media_ids: list[int]
) -> None:
    """Delete these uploads of the owner's that no post holds, with their
    files (a form's pictures, when its post was not written after all)."""
    if not media_ids:
        return

    async def write() -> list[str]:
        gone = await db.exec(
            delete(Media)
            .where(
                col(Media.id).in_(media_ids),
                col(Media.owner_id) == owner_id,
                col(Media.post_id).is_(None),
            )
            .returning(col(Media.file), col(Media.thumb))
        )
        return [name for row in gone for name in row]

    await forget_unused(db, store, await transaction(db, write))


async def sweep(db: AsyncSession, store: MediaStore) -> int:
    """Delete the pictures uploaded more than a day ago and never attached
    to a post, with their files: how many."""
    cutoff = utcnow() - UNATTACHED_FOR

    async def write() -> list[tuple[str, str]]:
        gone = await db.exec(
            delete(Media)
            .where(col(Media.post_id).is_(None), col(Media.created_at) < cutoff)
            .returning(col(Media.file), col(Media.thumb))
        )
        return [(file, thumb) for file, thumb in gone]

    gone = await transaction(db, write)
    await forget_unused(db, store, [name for row in gone for name in row])
    return len(gone)


# How often each worker sweeps: at random between half and one and a half
# times this, so that workers started together do not sweep together. Any
# worker of any host may sweep, and two sweeping at once are safe: each row
# is deleted once (the DELETE takes the rows it returns), and a file is
# deleted only when no row names it.
SWEEP_EVERY_SECONDS = 600.0

log = logging.getLogger("webapp.pictures")


class Sweeper:
    """A task of each worker that runs `sweep` now and then for its whole
    life, so that unattached uploads go after a day whether or not anyone
    uploads again."""

    def __init__(self, engine: AsyncEngine, store: MediaStore) -> None:
        self.engine = engine
        self.store = store
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_SECONDS * random.uniform(0.5, 1.5))  # noqa: S311
            try:
                async with new_session(self.engine) as db:
                    gone = await sweep(db, self.store)
                if gone:
                    log.info("%d unattached pictures older than a day deleted", gone)
            except Exception:  # the database away: the next sweep does it
                log.exception("unattached pictures could not be swept")


# --- who may see a file ---------------------------------------------------------------


@dataclass(frozen=True)
class FileAccess:
    """Whether anyone may see a stored picture, else who may."""

    public: bool
    owners: frozenset[int]  # of a draft's, a hidden post's or an unattached picture
    # In a published post kept from everyone (hidden by moderators, or its
    # author suspended): moderators, who read such a post, see it too.
    moderated: bool

    def shown_to(self, viewer_id: int | None, *, moderator: bool) -> bool:
        """Whether this viewer (None: nobody logged in) may see the file."""
        if self.public:
            return True
        if viewer_id is None:
            return False
        return viewer_id in self.owners or (self.moderated and moderator)


async def access_to(db: AsyncSession, name: str) -> FileAccess | None:
    """Who may see the picture file of this name; None: no picture has it."""
    rows = (
        await db.exec(
            select(col(Media.owner_id), col(Media.post_id), posts.LISTED, col(Post.published))
            .select_from(Media)
            .outerjoin(Post, col(Post.id) == col(Media.post_id))
            .where(or_(col(Media.file) == name, col(Media.thumb) == name))
        )
    ).all()
    if not rows:
        return None
    listed = any(post_id is not None and shown for _owner, post_id, shown, _published in rows)
    return FileAccess(
        public=listed,
        owners=frozenset(owner for owner, *_rest in rows),
        moderated=any(bool(published) for *_rest, published in rows),
    )


async def avatar_access(db: AsyncSession, avatar: str) -> FileAccess:
    """Who may see an avatar's files: everyone, unless each account that
    has it is suspended now (as their profile is, it is then their
    moderators' alone). While nobody with it is suspended, which is nearly
    always, this is one lookup among the suspended accounts."""
    suspended = (
        await db.exec(
            select(col(User.id)).where(suspensions.SUSPENDED_NOW, col(User.avatar) == avatar)
        )
    ).all()
    if not suspended:
        return FileAccess(public=True, owners=frozenset(), moderated=False)
    active = await db.exec(
        select(col(User.id)).where(col(User.avatar) == avatar, suspensions.ACTIVE).limit(1)
    )
    return FileAccess(public=active.first() is not None, owners=frozenset(), moderated=True)
