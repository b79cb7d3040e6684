"""Checks of request bodies that the framework would let through: text that is
not UTF-8 in a form (Starlette reads it as latin-1, or as U+FFFD, without
complaint) and numbers in JSON that JSON does not have (Python reads `NaN`,
`Infinity` and `1e999` as floats that cannot be written back)."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from python_multipart import parse_form
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field

NOT_UTF8 = "The form must be sent as UTF-8 text."
NOT_JSON_NUMBER = "NaN, Infinity and numbers beyond a double's range are not JSON numbers."


def media_type(content_type: str) -> str:
    """`Application/X-WWW-Form-Urlencoded; charset=x` -> `application/x-www-form-urlencoded`."""
    return content_type.split(";", 1)[0].strip().lower()


def urlencoded_is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
        for field in body.split(b"&"):
            for part in field.split(b"=", 1):
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Starlette parses at most this many fields (and as many files) of a form and
# answers a bare 400 past it; a form with more is refused here as too large.
MAX_FORM_FIELDS = 1000
FIELD_SEPARATOR = re.compile(rb"[&;]")


def most_fields_in(body: bytes, content_type: str) -> int:
    """The most fields a form could hold: never fewer than the parser finds
    (a urlencoded body's separators, a multipart body's boundaries), so that
    a form within the limit here is within the parser's too."""
    if media_type(content_type) == "multipart/form-data":
        boundary = content_type.partition("boundary=")[2].split(";", 1)[0].strip().strip('"')
        return body.count(b"--" + boundary.encode("latin-1", "replace")) if boundary else 0
    return len(FIELD_SEPARATOR.findall(body)) + 1


RAW_NON_ASCII = re.compile(rb"[\x80-\xff]")


def escape_raw_utf8(body: bytes) -> bytes:
    """A urlencoded body with its raw non-ASCII bytes (UTF-8, as `curl -d
    'title=café'` sends them) percent-escaped: Starlette decodes raw bytes as
    latin-1, but percent-escapes as UTF-8."""
    return RAW_NON_ASCII.sub(lambda byte: b"%%%02X" % byte.group()[0], body)


def multipart_is_utf8(body: bytes, content_type: str) -> bool:
    """Every text field (name and value) of a multipart form is UTF-8. Files
    are bytes and are not looked at; a form that cannot be parsed is left to
    the framework, which refuses it."""
    bad: list[bytes] = []

    def on_field(field: Field) -> None:
        for raw in (field.field_name, field.value):
            if raw is not None:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(raw)

    try:
        parse_form(
            {"Content-Type": content_type.encode("latin-1", "replace")},
            io.BytesIO(body),
            on_field,
            lambda file: None,
        )
    except (FormParserError, ValueError):
        return True
    return not bad


def _refuse_constant(name: str) -> float:
    raise ValueError(name)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


# Where a JSON body, once read here, is kept in the request's scope for the
# writes answered before routing (`webapp.core.direct_reads`): the value that
# `json.loads` makes of the bytes, as the framework would read them.
JSON_VALUE = "agora.json_value"
# A body that is not JSON at all (the framework answers it itself).
NOT_JSON = object()


def plainly_json(content_type: str) -> bool:
    """`application/json`, with parameters or not: what the framework reads as
    JSON beyond doubt (it parses the header as a mail header would)."""
    value = content_type.lower()
    return value == "application/json" or value.startswith("application/json;")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)
# (text, index) -> (the value there, the index after it): `JSONDecodeError`,
# `StopIteration` for no value, or the hooks' `ValueError`.
_SCAN: Callable[[str, int], tuple[object, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def read_json(body: bytes) -> tuple[bool, object]:
    """Whether every number in the body is a JSON number (False when it holds
    NaN, Infinity or a number too large for a double: JSON only to Python),
    and the value read (NOT_JSON for a body that is not JSON, or is not
    finite). A finite body reads as `json.loads` reads it: the hooks see only
    what the defaults would read the same way."""
    try:
        if body[:1] == b"{" and body[-1:] == b"}" and body[1:2] != b"\x00":
            # An object sent as UTF-8 (what `detect_encoding` says of a body
            # that starts with `{` and no NUL after it) with nothing around
            # it: read in one call of the scanner that `decode` calls between
            # its whitespace checks.
            text = body.decode("utf-8", "surrogatepass")
            value, end = _SCAN(text, 0)
            if end == len(text):
                return True, value
        # `json.loads` of bytes, with one decoder made once (`loads` with
        # hooks makes a decoder for every body).
        return True, _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, StopIteration):
        return True, NOT_JSON  # not JSON at all: the framework's own answer
    except ValueError:
        return False, NOT_JSON  # raised by the two hooks above


def json_numbers_are_finite(body: bytes) -> bool:
    """False when the body is JSON only to Python: it holds NaN, Infinity or a
    number too large for a double. Any other body, valid or not, passes (the
    framework answers broken JSON itself)."""
    return read_json(body)[0]
