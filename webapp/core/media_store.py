"""The picture files under MEDIA_ROOT: written once under their content's
hash, readable by their owner (the server's user) alone, deleted when
nothing names them any more.

    MEDIA_ROOT/avatars/<hash>-256.jpg, <hash>-64.jpg
    MEDIA_ROOT/posts/<hash>.jpg (or .webp when see-through)
    MEDIA_ROOT/.uploads/   request bodies' files while they are checked

It knows files, not posts or people: which names are still in use is the
caller's question (`webapp.rules.pictures`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from webapp.core.images import Encoded
from webapp.core.media_paths import AVATAR_SIZES, avatar_file

FOLDER_MODE, FILE_MODE = 0o700, 0o600
UPLOADS = ".uploads"


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, name: str) -> Path:
        path = self.root / name
        if not path.is_dir():
            for folder in (self.root, path):
                folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
                with contextlib.suppress(OSError):  # not ours to change: leave it
                    folder.chmod(FOLDER_MODE)
        return path

    def upload_file(self) -> tempfile._TemporaryFileWrapper[bytes]:
        """A private temporary file for an uploaded file's bytes; it is
        deleted when closed."""
        return tempfile.NamedTemporaryFile(dir=self.folder(UPLOADS), prefix="upload-", delete=True)

    def _write(self, folder: str, name: str, data: bytes) -> None:
        """Write a file whole, or not at all: to a private temporary name,
        then renamed into place (a reader never sees half a picture; the same
        name always holds the same bytes, so a race writes them twice)."""
        target = self.folder(folder) / name
        if target.exists():
            return
        temporary = target.with_name(f".{name}.{secrets.token_hex(6)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def keep_picture(self, encoded: Encoded) -> str:
        """Store a post's picture (or thumbnail); its name."""
        name = f"{_hash(encoded.data)}.{encoded.extension}"
        self._write("posts", name, encoded.data)
        return name

    def keep_avatar(self, large: Encoded, small: Encoded) -> str:
        """Store an avatar's two sizes, named from the large one's hash; the
        avatar's name (`<hash>.<ext>`)."""
        avatar = f"{_hash(large.data)}.{large.extension}"
        self._write("avatars", avatar_file(avatar, 64), small.data)
        self._write("avatars", avatar_file(avatar, 256), large.data)
        return avatar

    def path_of(self, folder: str, name: str) -> Path:
        return self.root / folder / name

    def forget_pictures(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.root / "posts" / name).unlink()

    def forget_avatar(self, avatar: str) -> None:
        if not avatar:
            return
        for size in AVATAR_SIZES:
            with contextlib.suppress(FileNotFoundError):
                (self.root / "avatars" / avatar_file(avatar, size)).unlink()

    def files(self, folder: str) -> list[tuple[str, float]]:
        """The names in a folder with their modification times."""
        found: list[tuple[str, float]] = []
        path = self.root / folder
        if not path.is_dir():
            return found
        with os.scandir(path) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    found.append((entry.name, entry.stat().st_mtime))
        return found


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]
