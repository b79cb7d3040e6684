"""The hostile files a picture upload meets, through every door that takes
one: the new-post form, the avatar form, `POST /api/media` and `PUT
/api/users/me/avatar`. What is not a sound picture is refused (a `422`, or
`413` over the byte limit), with nothing of it kept and never a `500`; what
can be made safe is accepted, re-encoded by us, with nothing of the upload's
metadata or payload in any stored file."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from tests.support.api import sign_up
from tests.support.app import on_own_loop
from tests.support.images import (
    HTML,
    PHP,
    SVG_WITH_SCRIPT,
    a_zip,
    animated_gif,
    animated_webp,
    jpeg_header_claiming,
    jpeg_with_gps_and_orientation,
    jpeg_with_php_comment,
    opened,
    picture,
    png_16_bit_rgb,
    png_header_only,
    real_48_megapixels,
)
from tests.support.pages import Auth, csrf_token
from webapp.core import images
from webapp.core.config import Settings

PNG = picture()
DOORS = ["post form", "avatar form", "media api", "avatar api"]
# Where each door says what was wrong: the form's field, or the API's 422.
FORM_FIELD = {"post form": "images", "avatar form": "avatar"}


@dataclass
class Sent:
    door: str
    response: Any  # the client's response


Send = Callable[..., Sent]


@pytest.fixture
def send(client: TestClient, new_client) -> Callable[[str], Send]:
    """A person at each door: alice in a browser, bob with a token."""
    browser = new_client()
    Auth(browser).register("alice")
    caller = sign_up(client, "bob")

    def at(door: str) -> Send:
        def sending(data: bytes, name: str = "picture.png", kind: str = "image/png") -> Sent:
            part = (name, data, kind)
            if door == "post form":
                form = {
                    "csrf_token": csrf_token(browser, "/posts/new"),
                    "title": "With a picture",
                    "content": "Look.",
                    "published": "on",
                    "alt": "A picture",
                }
                response = browser.post("/posts", data=form, files=[("images", part)])
            elif door == "avatar form":
                token = csrf_token(browser, "/settings")
                response = browser.post(
                    "/settings/avatar", data={"csrf_token": token}, files={"avatar": part}
                )
            elif door == "media api":
                response = client.post(
                    "/api/media",
                    files={"file": part},
                    data={"alt": "A picture"},
                    headers=caller.headers,
                )
            else:
                response = client.put(
                    "/api/users/me/avatar", files={"file": part}, headers=caller.headers
                )
            return Sent(door, response)

        return sending

    return at


def stored(settings: Settings) -> list[Path]:
    """Every file kept under MEDIA_ROOT, the uploads' temporary files too."""
    root = settings.media_dir
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.is_dir() else []


def assert_refused(
    sent: Sent, settings: Settings, db: Session, status: int = 422, case: str = ""
) -> None:
    response = sent.response
    assert response.status_code == status, (case, sent.door, response.text)
    if sent.door in FORM_FIELD and status == 422:
        assert f'id="{FORM_FIELD[sent.door]}-error"' in response.text, case
    assert stored(settings) == [], case
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 0
    assert db.exec(text("SELECT count(*) FROM posts")).one()[0] == 0
    assert db.exec(text("SELECT count(*) FROM users WHERE avatar != ''")).one()[0] == 0


def kept_bytes(settings: Settings) -> list[bytes]:
    files = [path for path in stored(settings) if ".uploads" not in path.parts]
    assert files
    return [path.read_bytes() for path in files]


NOT_SOUND = {
    "html": (HTML, "photo.jpg", "image/jpeg"),
    "svg with script": (SVG_WITH_SCRIPT, "icon.svg", "image/svg+xml"),
    "zip": (a_zip(), "archive.png", "image/png"),
    "truncated png": (PNG[: len(PNG) // 2], "cut.png", "image/png"),
    "corrupt png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "corrupt.png", "image/png"),
    "truncated jpeg": (picture(kind="JPEG")[:-300], "cut.jpg", "image/jpeg"),
    "zero bytes with a name": (b"", "empty.png", "image/png"),
    "65000x65000 png header": (png_header_only(65_000, 65_000), "bomb.png", "image/png"),
    "65000x65000 jpeg header": (jpeg_header_claiming(65_000, 65_000), "bomb.jpg", "image/jpeg"),
    "bmp": (picture((20, 20), kind="BMP"), "plain.bmp", "image/bmp"),
    "tiff": (picture((20, 20), kind="TIFF"), "scan.tiff", "image/tiff"),
}


@pytest.mark.parametrize("door", DOORS)
def test_what_is_not_a_sound_picture_is_refused_and_nothing_kept(
    send, settings: Settings, db: Session, door: str
) -> None:
    for case, (data, name, kind) in NOT_SOUND.items():
        assert_refused(send(door)(data, name, kind), settings, db, case=case)


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_a_real_48_megapixel_picture_is_refused(
    send, settings: Settings, db: Session, door: str, kind: str
) -> None:
    sent = send(door)(real_48_megapixels(kind), f"big.{kind.lower()}", f"image/{kind.lower()}")
    assert_refused(sent, settings, db)
    assert "megapixels" in sent.response.text


@pytest.mark.parametrize("door", DOORS)
def test_a_file_over_the_byte_limit_is_413_and_nothing_kept(
    send, settings: Settings, db: Session, door: str
) -> None:
    settings.max_upload_bytes = 2_000
    assert_refused(send(door)(picture((300, 300), kind="BMP")), settings, db, status=413)


SAFE = {
    "animated gif": animated_gif(),
    "animated webp": animated_webp(),
    "cmyk jpeg": picture((20, 20), (0, 255, 255, 0), kind="JPEG", mode="CMYK"),
    "16-bit png": picture((20, 20), 40000, mode="I;16"),
    "16-bit colour png": png_16_bit_rgb(),
    "palette png": picture((20, 20), 3, mode="P"),
    "greyscale png": picture((20, 20), 90, mode="L"),
    "see-through png": picture((20, 20), (255, 0, 0, 128), mode="RGBA"),
    "1x1": picture((1, 1)),
    "php in a jpeg comment": jpeg_with_php_comment(),
    "gps exif and orientation": jpeg_with_gps_and_orientation(),
}


@pytest.mark.parametrize("door", DOORS)
def test_what_can_be_made_safe_is_accepted_re_encoded(send, settings: Settings, door: str) -> None:
    for case, data in SAFE.items():
        response = send(door)(data, "upload.bin", "application/octet-stream").response
        assert response.status_code in (201, 200, 303), (case, response.text)
        for raw in kept_bytes(settings):  # the same pixels twice: one file
            for payload in (PHP, b"<?php", b"<script", b"<html", b"SpyCam", b"Exif"):
                assert payload not in raw, (case, payload)
            image = opened(raw)
            assert image.format in ("JPEG", "WEBP") and image.mode in ("RGB", "RGBA"), case
            assert not image.getexif() and "comment" not in image.info, case
            assert getattr(image, "n_frames", 1) == 1, case


@pytest.mark.parametrize("door", DOORS)
def test_gps_exif_is_absent_from_every_stored_file(send, settings: Settings, door: str) -> None:
    big = jpeg_with_gps_and_orientation((1800, 900))  # a large size, a thumbnail and an avatar's
    response = send(door)(big, "holiday.jpg", "image/jpeg").response
    assert response.status_code in (201, 200, 303), response.text
    kept = kept_bytes(settings)
    assert len(kept) == 2  # the large and the small: both checked
    for raw in kept:
        image = opened(raw)
        assert not image.getexif().get_ifd(0x8825) and not image.getexif()
        assert b"Exif" not in raw and b"SpyCam" not in raw and b"GPS" not in raw
    # The orientation was applied before it was dropped: the picture stands upright.
    if door in ("post form", "media api"):
        assert sorted(opened(raw).size for raw in kept) == [(200, 400), (800, 1600)]


@pytest.mark.parametrize("case", ["16-bit png", "16-bit colour png"])
def test_a_16_bit_picture_is_scaled_not_clipped(send, settings: Settings, case: str) -> None:
    send("media api")(SAFE[case])
    (raw,) = kept_bytes(settings)
    assert 100 < opened(raw).convert("L").getpixel((5, 5)) < 200


@pytest.mark.parametrize("door", ["post form", "avatar form", "media api"])
def test_an_empty_file_part_with_no_name_is_no_picture(
    send, settings: Settings, db: Session, door: str
) -> None:
    response = send(door)(b"", "", "application/octet-stream").response
    if door == "post form":  # the post is written, without a picture
        assert response.status_code == 303, response.text
        assert db.exec(text("SELECT count(*) FROM posts")).one()[0] == 1
    else:  # nothing to take: asked for again, never a 500
        assert response.status_code == 422, response.text
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 0
    assert stored(settings) == []


def test_a_text_field_where_a_file_belongs_is_no_picture(
    client: TestClient, new_client, settings: Settings, db: Session
) -> None:
    """A part without a file name at all (a text field named `images` or
    `file`) is not a file: no picture, never a 500."""
    browser = new_client()
    Auth(browser).register("alice")
    form = {
        "csrf_token": csrf_token(browser, "/posts/new"),
        "title": "Words only",
        "content": "Look.",
        "published": "on",
        "alt": "",
        "images": "",
    }
    # A multipart body, as browsers send this form (`files` forces it).
    empty = [("images", ("", b"", "application/octet-stream"))]
    page = browser.post("/posts", data=form, files=empty)
    assert page.status_code == 303, page.text
    caller = sign_up(client, "bob")
    for data in ({"alt": "A picture", "file": ""}, {"alt": "A picture", "file": HTML.decode()}):
        answer = client.post(
            "/api/media", data=data, files=[("x", ("", b"", "text/plain"))], headers=caller.headers
        )
        assert answer.status_code == 422, answer.text
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 0
    assert stored(settings) == []


@pytest.mark.parametrize(
    "alt", [None, "", "   ", "x" * 501], ids=["missing", "empty", "blank", "too long"]
)
def test_alt_text_missing_or_too_long_is_refused_at_the_api(
    client: TestClient, settings: Settings, db: Session, alt: str | None
) -> None:
    caller = sign_up(client, "bob")
    response = client.post(
        "/api/media",
        files={"file": ("a.png", PNG, "image/png")},
        data={} if alt is None else {"alt": alt},
        headers=caller.headers,
    )
    assert response.status_code == 422, response.text
    assert stored(settings) == []
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 0


def test_a_fifth_picture_is_refused_at_both_doors(
    client: TestClient, new_client, settings: Settings, db: Session
) -> None:
    browser = new_client()
    Auth(browser).register("alice")
    form = {
        "csrf_token": csrf_token(browser, "/posts/new"),
        "title": "Five",
        "content": "Look.",
        "published": "on",
        "alt": [f"picture {n}" for n in range(5)],
    }
    files = [("images", (f"{n}.png", picture(colour=(n, 0, 0)), "image/png")) for n in range(5)]
    page = browser.post("/posts", data=form, files=files)
    assert page.status_code == 422 and 'id="images-error"' in page.text
    assert stored(settings) == []
    caller = sign_up(client, "bob")
    five = [
        client.post(
            "/api/media",
            files={"file": ("a.png", picture(colour=(0, n, 0)), "image/png")},
            data={"alt": "one of five"},
            headers=caller.headers,
        ).json()["id"]
        for n in range(5)
    ]
    refused = client.post(
        "/api/posts",
        json={"title": "Five", "content": "c", "media_ids": five},
        headers=caller.headers,
    )
    assert refused.status_code == 422
    assert db.exec(text("SELECT count(*) FROM posts")).one()[0] == 0
    assert db.exec(text("SELECT count(*) FROM media WHERE post_id IS NOT NULL")).one()[0] == 0


def edit_form(browser: TestClient, post_id: int, alts: list[str], **fields: object) -> dict:
    return {
        "csrf_token": csrf_token(browser, f"/posts/{post_id}/edit"),
        "title": "Edited",
        "content": "Look again.",
        "published": "on",
        "alt": alts,
        **fields,
    }


def test_the_edit_form_refuses_a_fifth_picture_and_takes_an_empty_file_input(
    client: TestClient, new_client, settings: Settings, db: Session
) -> None:
    browser = new_client()
    Auth(browser).register("alice")
    form = {
        "csrf_token": csrf_token(browser, "/posts/new"),
        "title": "Three",
        "content": "Look.",
        "published": "on",
        "alt": [f"picture {n}" for n in range(3)],
    }
    files = [("images", (f"{n}.png", picture(colour=(n, 9, 9)), "image/png")) for n in range(3)]
    post_id = int(browser.post("/posts", data=form, files=files).headers["location"].split("/")[-1])
    kept = stored(settings)
    two = [("images", (f"{n}.png", picture(colour=(n, 0, 99)), "image/png")) for n in range(2)]
    refused = browser.post(
        f"/posts/{post_id}/edit", data=edit_form(browser, post_id, ["four", "five"]), files=two
    )
    assert refused.status_code == 422 and 'id="images-error"' in refused.text
    assert stored(settings) == kept
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 3
    # One taken out makes room: three less one plus two is four.
    first = db.exec(text("SELECT id FROM media ORDER BY position")).first()[0]
    one_out = edit_form(browser, post_id, ["four", "five"], remove_media=str(first))
    assert browser.post(f"/posts/{post_id}/edit", data=one_out, files=two).status_code == 303
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 4
    kept = stored(settings)
    # The edit form's file inputs left empty: no picture, the three stay.
    empty = [("images", ("", b"", "application/octet-stream"))] * 4
    saved = browser.post(
        f"/posts/{post_id}/edit", data=edit_form(browser, post_id, [""] * 4), files=empty
    )
    assert saved.status_code == 303, saved.text
    page = browser.get(f"/posts/{post_id}").text
    alts = re.findall(r'<img src="/media/posts/[^"]+" alt="([^"]+)"', page)
    assert alts == ["picture 1", "picture 2", "four", "five"] and "Edited" in page
    assert stored(settings) == kept


def test_media_ids_of_someone_elses_or_used_media_are_refused_by_put_and_patch(
    client: TestClient, db: Session
) -> None:
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")

    def upload(caller, colour: tuple[int, int, int]) -> int:
        response = client.post(
            "/api/media",
            files={"file": ("a.png", picture(colour=colour), "image/png")},
            data={"alt": "mine"},
            headers=caller.headers,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    alices = upload(alice, (1, 0, 0))
    bobs_used, bobs_free = upload(bob, (0, 1, 0)), upload(bob, (0, 0, 1))
    first = client.post(
        "/api/posts",
        json={"title": "One", "content": "c", "media_ids": [bobs_used]},
        headers=bob.headers,
    ).json()
    second = client.post(
        "/api/posts", json={"title": "Two", "content": "c"}, headers=bob.headers
    ).json()
    attached = "SELECT id, post_id FROM media ORDER BY id"
    before = db.exec(text(attached)).all()
    for media_ids in (
        [alices],  # someone else's
        [bobs_used],  # already in another post
        [bobs_free, bobs_free],  # the same twice
        [bobs_free, 999_999],  # one that is not there
        [bobs_free, 2**63],  # one past any id
    ):
        for method, body in (
            ("PUT", {"title": "Two", "content": "c", "media_ids": media_ids}),
            ("PATCH", {"media_ids": media_ids}),
        ):
            answer = client.request(
                method, f"/api/posts/{second['id']}", json=body, headers=bob.headers
            )
            assert answer.status_code == 422, (method, media_ids, answer.text)
    db.expire_all()
    assert db.exec(text(attached)).all() == before
    assert client.get(f"/api/posts/{second['id']}").json()["media"] == []
    assert [m["id"] for m in client.get(f"/api/posts/{first['id']}").json()["media"]] == [bobs_used]


def slow(_path: Path) -> None:
    """A picture that takes too long (every real one is bounded by MAX_PIXELS)."""
    import time

    time.sleep(1.5)


def test_a_picture_that_takes_too_long_is_refused_and_the_next_is_taken(
    send, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(images, "TIMEOUT_SECONDS", 0.3)
    with pytest.raises(images.BadPicture, match="too long"):
        on_own_loop(images.off_loop(slow, tmp_path))
    monkeypatch.setattr(images, "TIMEOUT_SECONDS", 30.0)
    assert send("media api")(PNG).response.status_code == 201


def test_a_post_form_over_the_hourly_limit_keeps_none_of_its_pictures(
    send, settings: Settings, db: Session
) -> None:
    settings.posts_per_hour = 1
    post_form = send("post form")
    assert post_form(PNG).response.status_code == 303
    kept = stored(settings)
    refused = post_form(picture((700, 700), (0, 0, 99))).response
    assert refused.status_code == 429
    assert stored(settings) == kept
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 1


def crash(_path: Path) -> None:
    """What a picture that crashes Pillow does to the process decoding it."""
    os._exit(1)


def test_a_picture_that_crashes_its_process_is_refused_and_the_next_is_taken(
    send, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(images.BadPicture):
        on_own_loop(images.off_loop(crash, tmp_path))
    assert send("media api")(PNG).response.status_code == 201


def priority(_path: Path) -> tuple[int, int]:
    """The pictures' process's nice level, and the signal it gets when its parent ends."""
    death_signal = 0
    if sys.platform.startswith("linux"):
        import ctypes

        found = ctypes.c_int()
        ctypes.CDLL(None).prctl(2, ctypes.byref(found), 0, 0, 0)  # PR_GET_PDEATHSIG
        death_signal = found.value
    return os.getpriority(os.PRIO_PROCESS, 0), death_signal


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no nice levels on this system")
def test_pictures_are_decoded_at_the_lowest_priority_and_end_with_their_worker(
    tmp_path: Path,
) -> None:
    """Pages first: the process that decodes takes only the CPU they leave,
    and a worker killed outright does not leave it behind (Linux)."""
    nice, death_signal = on_own_loop(images.off_loop(priority, tmp_path))
    assert nice == images.NICENESS == 19
    if sys.platform.startswith("linux"):
        assert death_signal == signal.SIGKILL
