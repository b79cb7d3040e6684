"""Pictures made by Pillow for the tests, small so that the suite stays fast,
and the hostile files a site must refuse or make safe."""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib

from PIL import Image


def picture(
    size: tuple[int, int] = (40, 30), colour: object = (200, 30, 30), kind: str = "PNG", **save
) -> bytes:
    mode = save.pop("mode", "RGB")
    image = Image.new(mode, size, colour)  # type: ignore[arg-type]
    out = io.BytesIO()
    image.save(out, kind, **save)
    return out.getvalue()


def jpeg_with_gps_and_orientation(size: tuple[int, int] = (40, 20)) -> bytes:
    """A JPEG whose EXIF says where it was taken and that it is turned
    (orientation 6: shown rotated by 90°)."""
    image = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    exif[0x010F] = "SpyCam"  # make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"<script>alert(1)</script>")
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), index) for index in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (20, 20), (index * 60, 0, 0)) for index in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG whose header claims a huge size: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def a_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    return out.getvalue()


SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


PHP = b"<?php system($_GET['c']); ?>"


def jpeg_with_php_comment(size: tuple[int, int] = (40, 30)) -> bytes:
    """A real JPEG that also carries PHP and HTML: in its comment, and after
    its end (a polyglot a careless server would run or serve as a page)."""
    out = io.BytesIO()
    Image.new("RGB", size, (90, 90, 200)).save(out, "JPEG", comment=PHP + HTML)
    return out.getvalue() + PHP + HTML


def jpeg_header_claiming(width: int, height: int) -> bytes:
    """A small baseline JPEG whose frame header claims another size."""
    raw = bytearray(picture((16, 16), kind="JPEG"))
    frame = raw.index(b"\xff\xc0")  # SOF0: length(2) precision(1) height(2) width(2)
    raw[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(raw)


@functools.cache
def real_48_megapixels(kind: str) -> bytes:
    """An 8000 × 6000 picture, every pixel of it there (one colour, so that the
    file is small): over the 40-megapixel bound, not a forged header."""
    image = Image.new("L", (8000, 6000), 120)
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def png_16_bit_rgb(size: tuple[int, int] = (20, 20), level: int = 40_000) -> bytes:
    """A PNG of 16 bits a channel, colour (48 bits a pixel), written by hand:
    Pillow reads such files but cannot write them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    width, height = size
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    pixel = struct.pack(">HHH", level, level // 2, 65_535 - level)
    rows = b"".join(b"\0" + pixel * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
