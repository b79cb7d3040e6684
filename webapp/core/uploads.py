"""Forms that carry pictures, read as they arrive.

The routes that take pictures (`PICTURE_ROUTES`) may receive up to four
times MAX_UPLOAD_BYTES plus MAX_BODY_BYTES (the one middleware's limit for
them); every other body keeps MAX_BODY_BYTES. Their bodies are not read
whole: each file part is written to a private temporary file under
MEDIA_ROOT as it arrives, and the request is refused (413) the moment one
file passes MAX_UPLOAD_BYTES; text fields are checked for UTF-8 on the way.
The form is parsed once per request and kept in its scope, so that the CSRF
check and the route read the same one.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.types import Scope

from webapp.core import bodies
from webapp.core.media_store import MediaStore

# (method, path pattern) of every route that takes pictures.
PICTURE_ROUTES = (
    ("POST", re.compile(r"/settings/avatar")),
    ("POST", re.compile(r"/posts")),
    ("POST", re.compile(r"/posts/preview")),
    ("POST", re.compile(r"/posts/[0-9]{1,18}/edit")),
    ("PUT", re.compile(r"/api/users/me/avatar")),
    ("POST", re.compile(r"/api/media")),
)
SCOPE_KEY = "agora.picture_form"
UNREADABLE = "The form could not be read as multipart/form-data."
# The fields beside the files (a post's title and text, alt texts): at most
# this many parts, each text at most MAX_BODY_BYTES.
MAX_PARTS = 40


def carries_pictures(method: str, path: str) -> bool:
    return any(method == verb and pattern.fullmatch(path) for verb, pattern in PICTURE_ROUTES)


@dataclass(frozen=True)
class Upload:
    """A file part as received: its private temporary file, its size, and
    the name the client gave it (never believed, only tested for presence)."""

    path: Path
    size: int
    filename: str


@dataclass
class PictureForm:
    fields: FormData
    files: dict[str, list[Upload]] = field(default_factory=dict)
    handles: list[tempfile._TemporaryFileWrapper[bytes]] = field(default_factory=list)

    def uploads(self, name: str) -> list[Upload]:
        return self.files.get(name, [])

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        self.handles.clear()


class _Parser(MultiPartParser):
    """Starlette's parser with each file written straight to a file of ours,
    counted as it goes."""

    def __init__(
        self, request: Request, store: MediaStore, max_file_bytes: int, max_text_bytes: int
    ) -> None:
        super().__init__(
            request.headers,
            request.stream(),
            max_files=MAX_PARTS,
            max_fields=MAX_PARTS,
            max_part_size=max_text_bytes,
        )
        self.store = store
        self.max_file_bytes = max_file_bytes
        self.handles: list[tempfile._TemporaryFileWrapper[bytes]] = []
        self.sizes: dict[int, int] = {}
        self.not_utf8 = False

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is not None:
            part.file.file.close()  # Starlette's spooled file: ours instead
            handle = self.store.upload_file()
            self.handles.append(handle)
            part.file = UploadFile(
                file=handle,  # type: ignore[arg-type]  # a real file, as UploadFile wants
                size=0,
                filename=part.file.filename,
                headers=Headers(raw=part.item_headers),
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is not None:
            size = self.sizes.get(id(part), 0) + (end - start)
            self.sizes[id(part)] = size
            if size > self.max_file_bytes:
                raise _FileTooLarge
        super().on_part_data(data, start, end)

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode("utf-8")
                part.field_name.encode("utf-8")
            except UnicodeError:
                self.not_utf8 = True
        super().on_part_end()


class _FileTooLarge(Exception):
    pass


async def picture_form(request: Request, store: MediaStore, max_file_bytes: int) -> PictureForm:
    """The form of a request to a picture route, read once (the same object
    on every call for one request); 413 when a file is too large, 422 when a
    text is not UTF-8 or the body is not a form at all."""
    kept = request.scope.get(SCOPE_KEY)
    if isinstance(kept, PictureForm):
        return kept
    content_type = request.headers.get("content-type", "")
    if bodies.media_type(content_type) != "multipart/form-data":
        form = PictureForm(await request.form())
        request.scope[SCOPE_KEY] = form
        return form
    _, options = parse_options_header(content_type)
    if b"boundary" not in options:
        raise HTTPException(422, UNREADABLE)
    parser = _Parser(request, store, max_file_bytes, max_text_bytes=1_048_576)
    try:
        data = await parser.parse()
    except _FileTooLarge:
        _close(parser.handles)
        raise HTTPException(413) from None
    except MultiPartException:
        _close(parser.handles)
        raise HTTPException(422, UNREADABLE) from None
    except BaseException:
        _close(parser.handles)
        raise
    texts: list[tuple[str, str | UploadFile]] = []
    files: dict[str, list[Upload]] = {}
    for name, value in data.multi_items():
        if isinstance(value, UploadFile):
            handle = value.file
            files.setdefault(name, []).append(
                Upload(Path(handle.name), value.size or 0, value.filename or "")
            )
        else:
            texts.append((name, value))
    if parser.not_utf8:
        _close(parser.handles)
        raise HTTPException(422, bodies.NOT_UTF8)
    form = PictureForm(FormData(texts), files, parser.handles)
    request.scope[SCOPE_KEY] = form
    return form


def _close(handles: list[tempfile._TemporaryFileWrapper[bytes]]) -> None:
    for handle in handles:
        handle.close()


def close_form(scope: Scope) -> None:
    """Delete a request's uploaded files, once it has been answered."""
    form = scope.get(SCOPE_KEY)
    if isinstance(form, PictureForm):
        form.close()
