"""Who is calling the API: the bearer token, read once, and the error answers
every route documents.

Only the `Authorization` header counts here; the session cookie is never read,
so a page login cannot be replayed against /api by another site.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import Scope

from webapp.core import logs
from webapp.core.db import Link, new_session, open_link
from webapp.core.deps import DbSession, Tokens, services_of
from webapp.core.security import ApiTokens
from webapp.models import ErrorDetail
from webapp.rules import accounts, callers, confirmations, page_sizes

# auto_error=False: a missing token is ours to answer (anonymous on the public
# routes, 401 on the others). tokenUrl is what Swagger's Authorize button posts to.
bearer = OAuth2PasswordBearer(
    tokenUrl="/api/login",
    scheme_name="bearer",
    description="A token from `POST /api/login`, sent as `Authorization: Bearer <token>`.",
    auto_error=False,
)

NOT_AUTHENTICATED = "Not authenticated"
BAD_TOKEN = "The token is invalid, expired or revoked"  # noqa: S105 (a message)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


# The bearer token as sent (None without one): what the docs show as the
# operation's security.
BearerToken = Annotated[str | None, Depends(bearer)]


def bearer_token(scope: Scope) -> str | None:
    """`bearer`'s answer read from the scope's raw headers, for the writes
    answered before routing: the same first `Authorization` header, the same
    scheme in any case, the same token; without the `Request` and the
    decoded copy of every header that reading it through one costs."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, param = value.decode("latin-1").partition(" ")
            return param.strip() if scheme.lower() == "bearer" else None
    return None


async def get_token_user(
    request: Request, db: DbSession, tokens: Tokens, token: BearerToken
) -> accounts.Account | None:
    """The caller, or None without a token. A token that is there but does not
    hold (bad signature, expired, user gone, stamp rotated) is a 401 even where
    anonymous callers are welcome: the client should learn its token is dead."""
    user = await token_user(db, tokens, token)
    if user is not None:
        logs.note_account(request.scope, user.id)
    return user


async def token_user(
    db: AsyncSession, tokens: ApiTokens, token: str | None
) -> accounts.Account | None:
    """`get_token_user`'s answer, as a plain function."""
    if token is None:
        return None
    user = await accounts.account_of_token(db, tokens, token)
    if user is None:
        raise unauthorized(BAD_TOKEN)
    return user


async def require_token_user(
    user: Annotated[accounts.Account | None, Depends(get_token_user)],
) -> accounts.Account:
    if user is None:
        raise unauthorized(NOT_AUTHENTICATED)
    return user


ApiUser = Annotated[accounts.Account, Depends(require_token_user)]
OptionalApiUser = Annotated[accounts.Account | None, Depends(get_token_user)]


def check_may_act(request: Request, user: accounts.Account) -> None:
    """With REQUIRE_CONFIRMED_EMAIL, a caller whose address is not confirmed
    reads but does not post, comment, like, follow or report (403)."""
    required = services_of(request.app).settings.confirms_email
    confirmations.check_may_act(user.email_confirmed, required=required)


async def require_confirmed_user(request: Request, user: ApiUser) -> accounts.Account:
    check_may_act(request, user)
    return user


ConfirmedApiUser = Annotated[accounts.Account, Depends(require_confirmed_user)]


class ApiWriter:
    """The database and the caller for the writes clients send most (a like,
    a new post), without the dependencies of `DbSession` and `ApiUser`:
    solving four of them, and the exit stack of the session's, cost those
    requests more Python time than their statements. The caller is the one
    the token names, not read yet: the write checks them itself
    (`webapp.rules.callers`), and a caller it refused is the same 401 as
    `ApiUser`'s. On PostgreSQL the request's statements go on one
    connection, held from the write to its live events (`Link`), unless it
    needs a `session` (a post with pictures); SQLite's, through a session.
    The connection is back in the pool before the answer is sent.

    A class rather than an `asynccontextmanager`: the generator, its helper
    and their exceptions' round trip cost a like a tenth of its own Python
    calls outside the driver."""

    __slots__ = ("caller", "db", "request", "session", "token")
    db: AsyncSession | Link
    caller: callers.Caller

    def __init__(self, request: Request, token: str | None, *, session: bool = False) -> None:
        self.request, self.token, self.session = request, token, session

    async def __aenter__(self) -> tuple[AsyncSession | Link, callers.Caller]:
        if self.token is None:
            raise unauthorized(NOT_AUTHENTICATED)
        services = services_of(self.request.app)
        caller = callers.of_token(
            services.api_tokens, self.token, must_confirm=services.settings.confirms_email
        )
        if caller is None:
            raise unauthorized(BAD_TOKEN)
        engine = services.engine
        # `sync_engine.dialect`: attributes (`AsyncEngine.dialect` is a property).
        if self.session or engine.sync_engine.dialect.name != "postgresql":
            self.db = new_session(engine)
        else:
            self.db = await open_link(engine)  # not `link_to`: one context manager, not two
        self.caller = caller
        return self.db, caller

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        refused = isinstance(error, callers.CallerRefused)
        try:
            if not refused:
                logs.note_account(self.request.scope, self.caller.id)
        finally:
            if isinstance(self.db, Link):
                await self.db.give_back()
            else:
                await self.db.close()
        if refused:
            raise unauthorized(BAD_TOKEN) from None


# An optional-auth operation: OpenAPI's empty requirement means "or no token".
OPTIONAL_AUTH: dict[str, Any] = {"security": [{}]}


# --- the error answers, for the docs ------------------------------------------

# What FastAPI's `responses=` takes: an answer's description by status.
Responses = dict[int | str, dict[str, Any]]


def error(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"model": ErrorDetail, "description": description}
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return response


UNAUTHORIZED: Responses = {
    401: error(
        "No bearer token, or one that is invalid, expired or revoked",
        {"WWW-Authenticate": "`Bearer`"},
    )
}
# Where a token is optional: only one that is sent and does not hold.
BAD_TOKEN_SENT: Responses = {
    401: error(
        "A bearer token was sent, but it is invalid, expired or revoked",
        {"WWW-Authenticate": "`Bearer`"},
    )
}
# FastAPI answers 400 itself when the body's bytes cannot be read as JSON text.
UNREADABLE_BODY: Responses = {
    400: error("The body could not be read as JSON (e.g. it is not UTF-8)")
}
FORBIDDEN: Responses = {403: error("The post belongs to someone else")}
POST_NOT_FOUND: Responses = {404: error("No such post, or a draft of someone else's")}
NOT_CONFIRMED: Responses = {
    403: error("With `REQUIRE_CONFIRMED_EMAIL`: the caller's address is not confirmed yet")
}


# Paging of every list: `limit` (its default is each list's own) and `skip`,
# far past any real list yet small enough for every database's OFFSET.
MAX_SKIP = 10**9
MAX_LIMIT = page_sizes.API_MOST
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many, 1–100")]
Skip = Annotated[int, Query(ge=0, le=MAX_SKIP, description="How many to pass over first")]
# The order of a list of posts (`webapp.rules.ordering`): plain strings, so that
# an unknown one is the default order rather than a 422.
SortQuery = Annotated[
    str,
    Query(
        description="`new` (the default), `hot` (likes and comments weighed against age) "
        "or `top` (most liked in the window `t`); anything else is `new`. With `search`: "
        "most relevant first, unless `new`"
    ),
]
# What to look for in posts (`webapp.rules.search_query`): never a 422.
SearchQuery = Annotated[
    str,
    Query(
        description='Words in any of their forms, `"a phrase"`, `-excluded`, `a OR b`, '
        "`#tag`, `@name`; the first 10 words and 200 characters count"
    ),
]
WindowQuery = Annotated[
    str,
    Query(
        description="For `sort=top`: `day`, `week` (the default), `month`, `year` or `all`; "
        "anything else is `week`"
    ),
]
