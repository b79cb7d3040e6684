"""GET /healthz: whether the app and its database answer.

A load balancer asks it several times a second, so it is answered before
routing (`ROUTE`, taken by `webapp.core.direct_reads`) with its `SELECT 1`
on the driver's own cursor: through routing, the engine dependency and
SQLAlchemy's connection it cost 3,178 Python calls, for one round trip."""

import re

from fastapi.responses import JSONResponse
from sqlalchemy import literal, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from webapp.core.area_routes import area_router
from webapp.core.db import DriverStatement
from webapp.core.deps import DbSession
from webapp.core.direct_reads import Call, DirectRoute

router = area_router(include_in_schema=False)

_ONE = DriverStatement(select(literal(1)))
# Written once: the answer never changes.
_OK = b'{"status":"ok"}'
_UNAVAILABLE = b'{"status":"unavailable"}'


async def answer(db: AsyncSession) -> Response:
    try:
        await _ONE.rows(db, {})
    except Exception:
        return Response(_UNAVAILABLE, status_code=503, media_type="application/json")
    return Response(_OK, media_type="application/json")


@router.get("/healthz", response_class=JSONResponse)
async def healthz(db: DbSession) -> Response:
    return await answer(db)


async def _direct(call: Call, _: int) -> Response:
    return await answer(call.db)


ROUTE = DirectRoute(re.compile("/healthz"), _direct, "/healthz", plain=True)
