"""Pictures decoded, checked and re-encoded with Pillow, off the event loop.

Nothing a person uploads is ever stored or served as it came: the bytes are
sniffed (the name and declared type are never believed), the size in pixels
is read from the header and checked before any pixel is decoded (a
decompression bomb is a small file with a huge header), the first frame alone
is decoded, EXIF orientation is applied, and what is kept is our encoder's
output with no metadata at all (no EXIF, GPS, ICC profile, comments or text
chunks): a payload hidden in a comment or appended to the file is gone.

Pillow is imported here, inside the functions, so that a worker that never
handles a picture does not carry it. The work runs in a process of its own
for each worker, at the lowest priority, so that a hostile or merely large
file slows the uploads queued behind it, not the pages: threads would share
the worker's interpreter lock, and its event loop waited on Pillow's Python
steps (pages answered at half their speed while 4 clients uploaded 4 MB
photos). At `nice` 10 the process still took about a third of the CPU the
pages had on a busy 2-core machine (pages at 0.64 to 0.79 of their speed
while uploads went on); at 19 it takes only what they leave. A picture that
crashes its process is refused, and the next upload starts another.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io
import math
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from PIL.Image import Image

T = TypeVar("T")

# The most pixels a picture may have (a 48-megapixel photo is refused).
MAX_PIXELS = 40_000_000
# How long a request waits for its pictures; the threads' work is bounded by
# MAX_PIXELS, this bounds the wait behind others' uploads.
TIMEOUT_SECONDS = 30.0
PICTURE_SIZE, THUMBNAIL_SIZE = 1600, 400
JPEG_QUALITY, WEBP_QUALITY = 85, 85
# The pictures' process runs at the lowest priority: it takes the CPU that
# pages leave, and an upload waits longer while they are busy.
NICENESS = 19

# The first bytes of each kind we take: a file must start with them.
SIGNATURES = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "GIF": (b"GIF87a", b"GIF89a"),
}


class BadPicture(Exception):
    """A file refused, with the sentence to show beside its field."""


NOT_A_PICTURE = "This file is not a JPEG, PNG, GIF or WebP picture."
BROKEN = "This picture is damaged or cut short."
TOO_MANY_PIXELS = f"This picture is too large: at most {MAX_PIXELS // 1_000_000} megapixels."
EMPTY = "This file is empty."
TOO_SLOW = "This picture took too long to read; try a smaller one."


@dataclass(frozen=True)
class Encoded:
    """One re-encoded image: its bytes, extension and size."""

    data: bytes
    extension: str
    width: int
    height: int


def sniff(head: bytes) -> str | None:
    """The kind of picture these first bytes start, or None."""
    for kind, signatures in SIGNATURES.items():
        if head.startswith(signatures):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _open(path: Path, side: int | None = None, *, long_side: bool = True) -> Image:
    """The first frame of the picture at `path`, decoded, upright, in RGB or
    RGBA, or BadPicture. With `side`, a JPEG may be decoded at a scale (1/2,
    1/4, 1/8) that still gives at least `side` pixels on its long side (or,
    with `long_side` false, its short side) where it had more: a 4 MB photo
    is then decoded at a fraction of the cost."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS
    with path.open("rb") as handle:
        head = handle.read(16)
    if not head:
        raise BadPicture(EMPTY)
    kind = sniff(head)
    if kind is None:
        raise BadPicture(NOT_A_PICTURE)
    try:
        # Opened from its path, the file stays open for an animation's frames
        # until the image is closed: what is returned is a new image.
        with PILImage.open(path, formats=[kind]) as image:
            # From the header alone, before a pixel is decoded.
            width, height = image.size
            if width < 1 or height < 1:
                raise BadPicture(BROKEN)
            if width * height > MAX_PIXELS:
                raise BadPicture(TOO_MANY_PIXELS)
            image.seek(0)  # an animation: its first frame
            if side is not None and kind == "JPEG":
                scale = side / (max(width, height) if long_side else min(width, height))
                if scale < 1:
                    image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()
            upright = ImageOps.exif_transpose(image)
            return _plain_colours(upright)
    except BadPicture:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        # The warning, where warnings are errors: past MAX_PIXELS all the same.
        raise BadPicture(TOO_MANY_PIXELS) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError):
        # Truncated or corrupt data, an unknown mode: Pillow says so in many ways.
        raise BadPicture(BROKEN) from None


def _plain_colours(image: Image) -> Image:
    """RGB, or RGBA when the picture is see-through: CMYK, 16-bit, palette
    and greyscale pictures converted."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit integer) grey: scaled to 8 bits, not clipped to white.
        image = image.point(lambda value: value / 256 if mode != "I" else value).convert("L")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        converted = image.convert("RGBA")
        # Fully opaque after all: stored as a JPEG.
        alpha = converted.getchannel("A").getextrema()
        return converted.convert("RGB") if alpha == (255, 255) else converted
    # `exif_transpose` made a new image already: RGB needs no other copy.
    return image.convert("RGB") if mode != "RGB" else image


def _fit(image: Image, longest: int) -> Image:
    from PIL import Image as PILImage

    width, height = image.size
    if max(width, height) <= longest:
        return image
    scale = longest / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, PILImage.Resampling.BICUBIC, reducing_gap=2.0)


def _encode(image: Image) -> Encoded:
    """Our own encoding of the pixels alone: nothing of the upload's metadata
    is passed to the encoder, and the image's `info` is emptied so that no
    plugin copies it."""
    image.info = {}
    buffer = io.BytesIO()
    if image.mode == "RGBA":
        image.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
        extension = "webp"
    else:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
        extension = "jpg"
    return Encoded(buffer.getvalue(), extension, image.width, image.height)


def picture_now(path: Path) -> tuple[Encoded, Encoded]:
    """A post's picture: at most PICTURE_SIZE pixels on its long side, and its
    thumbnail of at most THUMBNAIL_SIZE."""
    image = _open(path, PICTURE_SIZE)
    large = _fit(image, PICTURE_SIZE)
    return _encode(large), _encode(_fit(large, THUMBNAIL_SIZE))


def avatar_now(path: Path) -> tuple[Encoded, Encoded]:
    """An avatar: the centre square, at 256 and 64 pixels."""
    from PIL import Image as PILImage

    image = _open(path, 256, long_side=False)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    large = square.resize((256, 256), PILImage.Resampling.LANCZOS, reducing_gap=3.0)
    small = large.resize((64, 64), PILImage.Resampling.LANCZOS)
    return _encode(large), _encode(small)


def _lower_priority() -> None:
    """The pictures' process yields to the pages: `nice` 19, the lowest
    priority (where the system has nice levels), and it ends with its worker."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, 0, NICENESS)
    _end_with_parent()


PR_SET_PDEATHSIG = 1


def _end_with_parent() -> None:
    """Linux: be killed when the parent (the worker's forkserver, which ends
    with the worker) ends. A worker killed outright (SIGKILL, the OOM killer)
    left its pictures' process waiting for work forever."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before we asked
        os._exit(0)


# One process a worker: more would take the CPU from the pages while several
# people upload at once; one keeps uploads going at their pace behind them.
_executor: ProcessPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pictures_process() -> ProcessPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            # forkserver: the child starts clean, not as a copy of a worker
            # with its event loop, threads and connections.
            _executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_lower_priority,
            )
        return _executor


def _forget(executor: ProcessPoolExecutor) -> None:
    global _executor
    with _executor_lock:
        if _executor is executor:
            _executor = None
    executor.shutdown(wait=False, cancel_futures=True)


async def off_loop(function: Callable[[Path], T], path: Path) -> T:
    """Run a picture's work in the pictures' process, waiting at most
    TIMEOUT_SECONDS (then BadPicture, as when the picture crashed it)."""
    executor = _pictures_process()
    try:
        future = asyncio.get_running_loop().run_in_executor(executor, function, path)
        return await asyncio.wait_for(future, TIMEOUT_SECONDS)
    except TimeoutError:
        raise BadPicture(TOO_SLOW) from None
    except BrokenProcessPool:
        _forget(executor)
        raise BadPicture(BROKEN) from None


def close() -> None:
    """Stop the pictures' process (a worker's end)."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)
