"""Error answers under /api: `{"detail": ...}` with the status, as FastAPI's
own errors look, so a client reads every failure the same way."""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse


def error_json(
    status_code: int, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"detail": detail if detail is not None else HTTPStatus(status_code).phrase},
        status_code=status_code,
        headers=headers,
    )


def validation_json(errors: Sequence[Any]) -> JSONResponse:
    """422 with FastAPI's list of problems, each as it is but for what cannot
    be written as JSON (NaN, a lone surrogate, an object): such an `input` or
    `ctx` value is left out, so the answer itself can never fail."""
    return JSONResponse({"detail": [_writable(error) for error in errors]}, status_code=422)


def _writable(error: dict[str, Any]) -> dict[str, Any]:
    written = {}
    for key, value in error.items():
        try:
            value = jsonable_encoder(value)
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError, UnicodeError, RecursionError):
            continue
        written[key] = value
    return written
