"""GET /docs (Swagger UI) and GET /redoc: the API reference, served offline.

FastAPI's own pages load their files from a CDN and start them with an inline
<script>, both of which the app's Content-Security-Policy blocks. These pages
use only files under /static/docs/ (vendored from npm: swagger-ui-dist 5.35.0,
redoc 2.5.4; licences beside them) and no inline script or style attribute.
"""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import HTMLResponse

from webapp.core.area_routes import area_router
from webapp.core.middleware import CONTENT_SECURITY_POLICY

router = area_router(include_in_schema=False)

# ReDoc writes its styles into <style> elements, which style-src 'self' blocks.
# For /redoc only, style-src also allows (scripts stay 'self' only):
# - a fresh nonce, given to ReDoc, which puts it on its styled-components <style>;
# - the two <style> texts its bundle injects on load, before it can know the
#   nonce: an empty one and perfect-scrollbar's CSS. These hashes belong to
#   static/docs/redoc.standalone.js as vendored; a new bundle needs new ones
#   (the browser's console names them).
REDOC_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # ""
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar
)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/static/favicon.svg">
{head}
</head>
<body>
{body}
</body>
</html>
"""


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    # Swagger UI needs nothing beyond the app's CSP: it styles through CSSOM and
    # its icons are data: images. The password flow posts to the tokenUrl with
    # fetch, so no /docs/oauth2-redirect page (FastAPI's has an inline script).
    return HTMLResponse(
        PAGE.format(
            title=f"{request.app.title} – Swagger UI",
            head='<link rel="stylesheet" href="/static/docs/swagger-ui.css">',
            body='<div id="swagger-ui"></div>\n'
            '<script src="/static/docs/swagger-ui-bundle.js"></script>\n'
            '<script src="/static/docs/swagger-init.js"></script>',
        )
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(18)
    styles = " ".join(("style-src 'self'", f"'nonce-{nonce}'", *REDOC_STYLE_HASHES))
    # The middleware only sets headers a response lacks, so this one wins.
    csp = CONTENT_SECURITY_POLICY.replace("style-src 'self'", styles)
    return HTMLResponse(
        PAGE.format(
            title=f"{request.app.title} – ReDoc",
            head="",
            # The nonce rides on the init script's tag for it to read; scripts
            # are still allowed by script-src 'self', not by the nonce.
            body='<div id="redoc"></div>\n'
            '<script src="/static/docs/redoc.standalone.js"></script>\n'
            f'<script src="/static/docs/redoc-init.js" nonce="{nonce}"></script>',
        ),
        headers={"Content-Security-Policy": csp},
    )
