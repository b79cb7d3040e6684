"""A ZIP archive written as it is sent: the standard library's `zipfile`
writes into a sink that cannot seek, so each member's sizes follow its data
(a data descriptor) instead of being patched into its header, and whatever
it wrote so far can be handed to the client and forgotten. A member is
written in pieces, so neither the archive nor one of its files is ever held
whole: an export of a large account costs the memory of one piece.

It knows bytes and names, not what they hold (`webapp.rules.export` does).
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import IO

from starlette.responses import StreamingResponse

# Pieces smaller than this are kept until more is written: a response chunk
# (and a write to the socket) for every row would cost more than the row.
FLUSH_BYTES = 64 * 1024


class _Sink(io.RawIOBase):
    """Where `zipfile` writes: a list of bytes taken away as they come. It
    cannot seek, which is what tells `zipfile` to stream."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]  # RawIOBase's takes any buffer
        piece = bytes(data)
        self.pieces.append(piece)
        self.size += len(piece)
        return len(piece)

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        self.size = 0
        return data


class ZipStream:
    """Members added one at a time (`member`); `ready()` gives the bytes
    written since it was last asked once there are enough of them, and
    `finish()` the rest with the central directory."""

    def __init__(self) -> None:
        self._sink = _Sink()
        # The fastest deflate: three times the speed of the default level,
        # for an archive a tenth larger.
        self._zip = zipfile.ZipFile(
            self._sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
        )
        self._stamp = time.localtime()[:6]

    @contextmanager
    def member(self, name: str, *, compress: bool = True) -> Iterator[IO[bytes]]:
        """A file of the archive to write into. ZIP64 from the start: its size
        is not known before it is written, and a member past 2 GiB could
        not say it otherwise. Pictures are stored as they are: they are
        compressed already."""
        info = zipfile.ZipInfo(name, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        # The public name, compress_level, is Python 3.13's.
        info._compresslevel = 1  # type: ignore[attr-defined]
        info.external_attr = 0o600 << 16  # a private file once unpacked
        with self._zip.open(info, mode="w", force_zip64=True) as handle:
            yield handle

    def ready(self) -> bytes:
        """The bytes written so far, once there are FLUSH_BYTES of them; else b""."""
        return self._sink.take() if self._sink.size >= FLUSH_BYTES else b""

    def finish(self) -> bytes:
        """The last bytes: what was left, and the archive's directory."""
        self._zip.close()
        return self._sink.take()


def zip_download(pieces: AsyncIterator[bytes], filename: str) -> StreamingResponse:
    """The answer that sends an archive as it is written: a file to save,
    never kept by a cache (it is one person's data)."""
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(pieces, media_type="application/zip", headers=headers)
