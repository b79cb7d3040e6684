"""POST /api/password-reset: a link to choose a new password, by mail."""

from __future__ import annotations

from fastapi import Request

from webapp.api.deps import UNREADABLE_BODY, error
from webapp.core.area_routes import area_router
from webapp.core.client_address import client_ip
from webapp.core.deps import DbSession, PostmanDep, SettingsDep
from webapp.models import EmailAddress, Message
from webapp.rules import mail_links

router = area_router(tags=["auth"])


@router.post(
    "/password-reset",
    response_model=Message,
    status_code=202,
    summary="Ask for a password reset link by mail",
    responses={
        **UNREADABLE_BODY,
        429: error(
            "Too many resets asked for or logins failed from this address",
            {"Retry-After": "Seconds to wait before the next attempt"},
        ),
        503: error("The site cannot send mail (no SMTP server configured)"),
    },
)
async def ask_password_reset(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    postman: PostmanDep,
    data: EmailAddress,
) -> Message:
    """The same answer whether or not an account has the address, so that it
    tells nobody which addresses have accounts. If one has it, a link that
    works once, within an hour, goes to it (at most 3 an hour). The link opens
    the page that sets a new password, which ends every session and token of
    the account. Each request counts against the caller's address like a
    failed login."""
    await mail_links.ask_reset(
        db,
        postman,
        str(data.email),
        client_ip=client_ip(request),
        settings=settings,
    )
    return Message(message="If an account has this address, a link is on its way to it.")
