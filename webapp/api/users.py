"""People: registering, a public profile with its counts, and the caller's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query, Request
from pydantic import TypeAdapter
from starlette.responses import Response

from webapp.api.deps import (
    BAD_TOKEN_SENT,
    OPTIONAL_AUTH,
    UNAUTHORIZED,
    UNREADABLE_BODY,
    ApiUser,
    Limit,
    OptionalApiUser,
    Responses,
    Skip,
    error,
)
from webapp.api.media import FILE, PICTURE_ERRORS, multipart, one_file
from webapp.api.paths import UserId
from webapp.api.posts import json_response
from webapp.core.area_routes import area_router
from webapp.core.client_address import client_ip
from webapp.core.deps import (
    DbEngine,
    DbSession,
    Hasher,
    PictureFormDep,
    PostmanDep,
    SettingsDep,
    Store,
)
from webapp.core.zip_stream import zip_download
from webapp.models import ProfilePublic, ProfileUpdate, UserCreate, UserMe, UserPublic
from webapp.rules import (
    accounts,
    confirmations,
    export,
    follows,
    page_sizes,
    profiles,
    registrations,
    roles,
    search_query,
)
from webapp.rules import search as search_rules

router = area_router(prefix="/users", tags=["users"])

USER_JSON = TypeAdapter(UserPublic)
PROFILE_JSON = TypeAdapter(ProfilePublic)
PEOPLE_JSON = TypeAdapter(list[UserPublic])

NEW_USER_EXAMPLES = {
    "new": {
        "summary": "A new account",
        "value": {"username": "ada", "email": "ada@example.com", "password": "analytical engine"},
    }
}


@router.post(
    "",
    response_model=UserPublic,
    status_code=201,
    summary="Register",
    responses={
        **UNREADABLE_BODY,
        409: error("The username or the email is taken (in any letter case)"),
        429: error(
            "This address created `REGISTRATIONS_PER_HOUR` accounts within the last hour",
            {"Retry-After": "Seconds until it may create another"},
        ),
    },
)
async def register(
    request: Request,
    db: DbSession,
    hasher: Hasher,
    settings: SettingsDep,
    postman: PostmanDep,
    data: Annotated[UserCreate, Body(openapi_examples=NEW_USER_EXAMPLES)],
) -> UserPublic:
    """Username: 3–30 letters, digits or `_` (NFKC-normalized). Password: 8–128
    characters, not the username or the email. Then log in at `/api/login`.
    One address may create `REGISTRATIONS_PER_HOUR` accounts an hour (20 by
    default), here and on the pages together. With `REQUIRE_CONFIRMED_EMAIL`,
    the address gets a link to open before the account may post, comment,
    like, follow or report."""
    user = await registrations.register(
        db,
        hasher,
        data,
        client_ip=client_ip(request),
        per_hour=settings.registrations_per_hour,
    )
    await confirmations.mail_at_registration(db, postman, user.id, settings=settings)
    return user


# Declared before /{user_id} for readers; the int converter keeps "me" apart anyway.
@router.get(
    "",
    response_model=list[UserPublic],
    summary="Find people by name",
    responses=BAD_TOKEN_SENT,
    openapi_extra=OPTIONAL_AUTH,
)
async def find_people(
    db: DbSession,
    viewer: OptionalApiUser,
    search: Annotated[
        str,
        Query(
            min_length=1,
            max_length=search_query.MAX_QUERY_CHARS,
            description="People whose username or display name holds a word of it, "
            "in any letter case",
        ),
    ],
    limit: Limit = page_sizes.API_PEOPLE_FOUND,
    skip: Skip = 0,
) -> Response:
    """Those whose username is a word of `search` first, then the shortest
    names. Nobody suspended; with a token, nobody the caller blocks or mutes."""
    found = await search_rules.people(
        db,
        search_query.parse(search),
        offset=skip,
        limit=limit,
        unlisted=viewer.shield.unlisted if viewer else frozenset(),
    )
    return json_response(PEOPLE_JSON, found)


@router.get("/me", response_model=UserMe, summary="The caller's account", responses=UNAUTHORIZED)
async def me(user: ApiUser) -> UserMe:
    """The only answer that holds an email address."""
    return user.me


@router.patch(
    "/me",
    response_model=UserMe,
    summary="Change the caller's profile",
    responses={**UNREADABLE_BODY, **UNAUTHORIZED},
)
async def change_profile(db: DbSession, user: ApiUser, data: ProfileUpdate) -> UserMe:
    """Any of `display_name` (0–50 characters; empty clears it), `bio` (0–500
    characters of Markdown, rendered as comments are; mentions link and do
    not notify) and `website` (an http(s) address, or empty)."""
    await profiles.update_profile(db, user.id, data)
    return (await accounts.get_account(db, user.id)).me


@router.put(
    "/me/avatar",
    response_model=UserMe,
    summary="Set the caller's avatar",
    responses={**UNAUTHORIZED, **PICTURE_ERRORS},
    openapi_extra=multipart({"file": FILE}, ["file"]),
)
async def set_avatar(db: DbSession, store: Store, user: ApiUser, form: PictureFormDep) -> UserMe:
    """Its centre square is kept at 256 and 64 pixels, its metadata dropped;
    `avatar_url` is the 256-pixel one."""
    await profiles.set_avatar(db, store, user.id, one_file(form), "file")
    return (await accounts.get_account(db, user.id)).me


@router.delete(
    "/me/avatar",
    response_model=None,
    status_code=204,
    summary="Remove the caller's avatar",
    responses=UNAUTHORIZED,
)
async def delete_avatar(db: DbSession, store: Store, user: ApiUser) -> None:
    """The generated default shows instead."""
    await profiles.delete_avatar(db, store, user.id)


ZIP_FILE: Responses = {
    200: {
        "description": "A ZIP archive: the account and its lists as JSON files, and its pictures",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    "/me/export",
    response_class=Response,
    summary="Download the caller's data",
    responses={**ZIP_FILE, **UNAUTHORIZED},
)
async def export_caller_data(
    db: DbSession, engine: DbEngine, store: Store, user: ApiUser
) -> Response:
    """`account.json`, `posts.json` (drafts included, with their Markdown
    source), `comments.json`, `likes.json`, `following.json`,
    `followers.json`, `blocks.json`, `mutes.json`, the uploaded pictures
    under `pictures/` and the avatar. Sent as it is written: the archive
    has no `Content-Length`."""
    # The archive reads on a connection of its own for as long as it is
    # sent: the request's is given back first.
    await db.close()
    return zip_download(export.archive(engine, store, user.id), export.file_name(user.username))


@router.get(
    "/{user_id:id}",
    response_model=UserPublic,
    summary="A user's public profile",
    responses={404: error("No such user"), **BAD_TOKEN_SENT},
    openapi_extra=OPTIONAL_AUTH,
)
async def get_user(db: DbSession, viewer: OptionalApiUser, user_id: UserId) -> Response:
    """Anyone may read a person; one suspended now, moderators alone."""
    moderator = viewer is not None and roles.moderates(viewer.role)
    return json_response(
        USER_JSON, await accounts.get_public_user(db, user_id, moderator=moderator)
    )


@router.get(
    "/{user_id:id}/profile",
    response_model=ProfilePublic,
    summary="A user's profile with its counts",
    responses={404: error("No such user"), **BAD_TOKEN_SENT},
    openapi_extra=OPTIONAL_AUTH,
)
async def get_profile(db: DbSession, viewer: OptionalApiUser, user_id: UserId) -> Response:
    """The public user plus how many people follow them, how many they follow,
    and how many posts they have published (drafts are not counted). One
    suspended now: moderators alone."""
    moderator = viewer is not None and roles.moderates(viewer.role)
    return json_response(PROFILE_JSON, await follows.profile(db, user_id, moderator=moderator))
