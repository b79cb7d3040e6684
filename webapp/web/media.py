"""The stored pictures (`/media/…`) and the generated default avatars.

Every file is served with its true type (from its stored name, which our
encoder chose), `nosniff` (on every response), and a name that never holds
other bytes: public files are cached for a year, immutable. A draft's
picture, a hidden post's or one not yet in a post is for its owner alone
(and a hidden post's for moderators too): `private, no-store`, and a 404 to
anyone else, as the post is. A suspended person's pictures and avatar are
gone with their posts and profile, for everyone but moderators.

Who is asking is read from the browser's login cookie or, for a client of
the API (whose `PostPublic.media` and `POST /api/media` give these URLs),
from its `Authorization: Bearer` token: the owner of a draft sees its
pictures through either door. A token that does not hold counts as nobody
(a 404, as for any file one may not see).
"""

from __future__ import annotations

import hashlib

from fastapi import HTTPException, Request
from fastapi.security.utils import get_authorization_scheme_param
from starlette.responses import FileResponse, Response

from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, Store, Tokens
from webapp.core.media_paths import AVATAR_NAME, NAME, content_type
from webapp.rules import accounts, pictures, roles
from webapp.web import login_cookie

router = area_router()

PUBLIC = "public, max-age=31536000, immutable"
PRIVATE = "private, no-store"


@router.get("/media/avatars/{name}")
async def avatar_file(
    request: Request, name: str, db: DbSession, store: Store, tokens: Tokens
) -> Response:
    match = AVATAR_NAME.fullmatch(name)
    path = store.path_of("avatars", name)
    if match is None or not path.is_file():
        raise HTTPException(404)
    stem, _size, extension = match.groups()
    access = await pictures.avatar_access(db, f"{stem}.{extension}")
    cache = await _cache_for(request, db, tokens, access)
    return FileResponse(path, media_type=content_type(name), headers={"Cache-Control": cache})


@router.get("/media/posts/{name}")
async def picture_file(
    request: Request, name: str, db: DbSession, store: Store, tokens: Tokens
) -> Response:
    path = store.path_of("posts", name)
    access = await pictures.access_to(db, name) if NAME.fullmatch(name) else None
    if access is None or not path.is_file():
        raise HTTPException(404)
    cache = await _cache_for(request, db, tokens, access)
    return FileResponse(path, media_type=content_type(name), headers={"Cache-Control": cache})


async def _cache_for(
    request: Request, db: DbSession, tokens: Tokens, access: pictures.FileAccess
) -> str:
    """The file's caching, if the visitor may see it (else a 404, as for a
    file that is not there)."""
    if access.public:
        return PUBLIC
    viewer, role = await _viewer(request, db, tokens)
    if not access.shown_to(viewer, moderator=roles.moderates(role)):
        raise HTTPException(404)
    return PRIVATE


async def _viewer(request: Request, db: DbSession, tokens: Tokens) -> tuple[int | None, str]:
    """Who asks (None: nobody logged in) and their role: the login cookie's
    person, else the bearer token's."""
    loaded = await login_cookie.load(db, request)
    if loaded is not None:
        return loaded.user.id, loaded.role
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None, ""
    account = await accounts.account_of_token(db, tokens, token)
    return (None, "") if account is None else (account.id, account.role)


@router.get("/avatars/{user_id:id}.svg")
async def default_avatar(user_id: int) -> Response:
    """Someone without an avatar: a pattern of their own, drawn here (the
    same for the same account, and no request to another site)."""
    return Response(
        default_avatar_svg(user_id),
        media_type="image/svg+xml",
        headers={"Cache-Control": PUBLIC},
    )


def default_avatar_svg(user_id: int) -> str:
    """A symmetric 5 × 5 pattern in one colour, from a hash of the id."""
    digest = hashlib.sha256(f"agora-avatar:{user_id}".encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    cells = []
    for row in range(5):
        for column in range(3):
            if digest[2 + row * 3 + column] % 2:
                for x in {column, 4 - column}:
                    cells.append(f'<rect x="{x + 1}" y="{row + 1}" width="1" height="1"/>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 7 7" width="64" height="64">'
        f'<rect width="7" height="7" fill="hsl({hue},45%,92%)"/>'
        f'<g fill="hsl({hue},55%,40%)">{"".join(cells)}</g></svg>'
    )
