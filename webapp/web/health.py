"""GET /healthz: whether the app and its database answer."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from webapp.core.db import database_answers

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    if await database_answers(request.app.state.engine):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unavailable"}, status_code=503)
