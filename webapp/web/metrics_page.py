"""GET /metrics: the Prometheus text of every worker of this host, for a
scraper holding METRICS_TOKEN; anyone else finds nothing there (404)."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import HTTPException, Request
from starlette.responses import Response

from webapp.core import metrics
from webapp.core.area_routes import area_router
from webapp.core.deps import SettingsDep

router = area_router(include_in_schema=False)


@router.get("/metrics")
async def metrics_text(request: Request, settings: SettingsDep) -> Response:
    token = settings.metrics_token
    sent = request.headers.get("authorization", "")
    expected = f"Bearer {token}"
    if not token or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(404)
    # Reading every worker's files is disk work: off the event loop.
    body = await asyncio.to_thread(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})
