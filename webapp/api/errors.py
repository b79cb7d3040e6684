"""Error answers under /api: `{"detail": ...}` with the status, as FastAPI's
own errors look, so a client reads every failure the same way."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse


def error_json(
    status_code: int, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"detail": detail if detail is not None else HTTPStatus(status_code).phrase},
        status_code=status_code,
        headers=headers,
    )
