"""GET /healthz: whether the app and its database answer."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from webapp.core.db import database_answers
from webapp.core.deps import DbEngine

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz(engine: DbEngine) -> JSONResponse:
    if await database_answers(engine):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unavailable"}, status_code=503)
