"""Pictures: uploaded first, then named by `media_ids` on a post."""

from __future__ import annotations

from pathlib import Path

from pydantic import TypeAdapter
from starlette.responses import Response

from webapp.api.deps import UNAUTHORIZED, ApiUser, Responses, error
from webapp.api.posts import json_response
from webapp.core.area_routes import area_router
from webapp.core.deps import DbSession, PictureFormDep, Store
from webapp.core.uploads import PictureForm
from webapp.errors import PictureRefused
from webapp.models import MediaPublic
from webapp.rules import pictures

router = area_router(prefix="/media", tags=["media"])
MEDIA_JSON = TypeAdapter(MediaPublic)


def multipart(fields: dict[str, dict[str, str]], required: list[str]) -> dict[str, object]:
    """The documented body of a route that reads its multipart form itself."""
    schema = {"type": "object", "properties": fields, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


FILE = {"type": "string", "format": "binary", "description": "A JPEG, PNG, GIF or WebP"}
PICTURE_ERRORS: Responses = {
    413: error("The file is over `MAX_UPLOAD_BYTES`"),
    422: error("Not a picture we take, damaged, over 40 megapixels, or no alt text"),
}


def one_file(form: PictureForm, name: str = "file") -> Path:
    """The one file of a form's field (PictureRefused without one, or with
    several: the field is one file)."""
    sent = [upload for upload in form.uploads(name) if upload.filename or upload.size]
    if len(sent) != 1:
        raise PictureRefused(f"Send one picture in the field `{name}`.", field=name)
    return sent[0].path


@router.post(
    "",
    response_model=MediaPublic,
    status_code=201,
    summary="Upload a picture",
    responses={**UNAUTHORIZED, **PICTURE_ERRORS},
    openapi_extra=multipart(
        {"file": FILE, "alt": {"type": "string", "description": "1–500 characters"}},
        ["file", "alt"],
    ),
)
async def upload(db: DbSession, store: Store, user: ApiUser, form: PictureFormDep) -> Response:
    """The picture is re-encoded (at most 1600 pixels on its long side, with
    a thumbnail of at most 400) with its metadata dropped. Name it in a post's
    `media_ids`; one never attached is deleted after a day."""
    alts = form.fields.getlist("alt")
    if len(alts) > 1:  # one text: a second is a malformed form, not a choice
        raise PictureRefused("Send one alt text.", field="alt")
    alt = alts[0] if alts else None
    path = one_file(form)
    added = await pictures.upload_all(
        db, store, user.id, [(path, alt if isinstance(alt, str) else "")], "file"
    )
    return json_response(MEDIA_JSON, added[0], 201)
