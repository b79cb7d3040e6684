"""Faces and pictures: display names, bios, websites, avatars, pictures in
posts, and the files behind them, through the pages and the API, with the
hostile files a picture upload meets."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import stat
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from sqlmodel import Session

from tests.support.api import Caller, bearer, login, sign_up, write
from tests.support.app import on_own_loop
from tests.support.images import (
    HTML,
    jpeg_with_gps_and_orientation,
    opened,
    picture,
)
from tests.support.pages import Auth, csrf_token, post_form, write_post
from webapp.app import create_app
from webapp.core.config import Settings
from webapp.core.db import create_async_db_engine, new_session
from webapp.core.media_store import MediaStore
from webapp.models import utcnow
from webapp.rules import pictures

PNG = picture()


def media_dir(settings: Settings) -> Path:
    return settings.media_dir


def stored_files(settings: Settings, folder: str) -> list[Path]:
    path = media_dir(settings) / folder
    return sorted(path.iterdir()) if path.is_dir() else []


def upload(client: TestClient, caller: Caller, data: bytes, alt: str = "A red square", **extra):
    name = extra.pop("filename", "picture.png")
    kind = extra.pop("content_type", "image/png")
    return client.post(
        "/api/media",
        files={"file": (name, data, kind)},
        data={"alt": alt},
        headers=caller.headers,
    )


def page_post_with_pictures(
    client: TestClient, pictures: list[tuple[bytes, str]], *, published: bool = True, **fields
):
    data = {
        "csrf_token": csrf_token(client, "/posts/new"),
        "title": "With pictures",
        "content": "Look.",
        "alt": [alt for _, alt in pictures],
        **fields,
    }
    if published:
        data["published"] = "on"
    files = [
        ("images", (f"p{index}.png", raw, "image/png")) for index, (raw, _) in enumerate(pictures)
    ]
    return client.post("/posts", data=data, files=files)


# --- profiles ---------------------------------------------------------------------------


def test_a_profile_shows_display_name_bio_and_website(
    alice_browser: TestClient, bob_browser: TestClient, db: Session
) -> None:
    response = post_form(
        alice_browser,
        "/settings/profile",
        {
            "display_name": "Ada Lovelace",
            "bio": "Engines **and** poems. Ask @bob.",
            "website": "https://ada.example/",
        },
        page="/settings",
    )
    assert response.status_code == 303
    page = bob_browser.get("/users/1")
    assert "Ada Lovelace" in page.text and "@alice" in page.text
    assert "<strong>and</strong>" in page.text
    assert 'href="/users/2"' in page.text  # the mention links
    assert '<a href="https://ada.example/" rel="me nofollow noopener">' in page.text
    # A bio's mention tells nobody.
    told = db.exec(text("SELECT count(*) FROM notifications")).one()[0]
    assert told == 0
    # The name shows beside the posts, with the avatar.
    post_id = write_post(alice_browser, "By Ada")
    home = bob_browser.get("/")
    assert "Ada Lovelace" in home.text
    assert 'src="/avatars/1.svg"' in home.text
    assert f"/posts/{post_id}" in home.text


def test_a_bad_profile_comes_back_with_messages_beside_the_fields(
    alice_browser: TestClient,
) -> None:
    response = post_form(
        alice_browser,
        "/settings/profile",
        {"display_name": "\u200b", "bio": "x" * 501, "website": "javascript:alert(1)"},
        page="/settings",
    )
    assert response.status_code == 422
    assert response.text.count('class="field-error"') == 3
    assert "javascript:alert(1)" in response.text  # kept, escaped, as typed


def test_the_api_changes_and_shows_a_profile(client: TestClient, alice_api: Caller) -> None:
    response = client.patch(
        "/api/users/me",
        json={"display_name": "Ada", "bio": "Hi *there*", "website": "http://ada.example"},
        headers=alice_api.headers,
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["display_name"] == "Ada" and me["email"] == "alice@example.com"
    assert me["bio_html"].strip() == "<p>Hi <em>there</em></p>"
    assert me["avatar_url"] == "/avatars/1.svg"
    public = client.get("/api/users/1").json()
    assert public["display_name"] == "Ada" and public["website"] == "http://ada.example"
    post = write(client, alice_api)
    assert post["owner"]["display_name"] == "Ada"
    # Empty clears; a bad address is a 422.
    cleared = client.patch("/api/users/me", json={"display_name": ""}, headers=alice_api.headers)
    assert cleared.json()["display_name"] == ""
    bad = client.patch("/api/users/me", json={"website": "ftp://x"}, headers=alice_api.headers)
    assert bad.status_code == 422
    assert client.patch("/api/users/me", json={"bio": "x"}).status_code == 401


# --- avatars ---------------------------------------------------------------------------


def test_an_avatar_is_cropped_resized_stripped_and_served(
    alice_browser: TestClient, bob_browser: TestClient, settings: Settings
) -> None:
    raw = jpeg_with_gps_and_orientation((80, 40))
    response = alice_browser.post(
        "/settings/avatar",
        data={"csrf_token": csrf_token(alice_browser, "/settings")},
        files={"avatar": ("me.gif", raw, "image/gif")},  # the name and type are not believed
    )
    assert response.status_code == 303, response.text
    files = stored_files(settings, "avatars")
    assert len(files) == 2
    sizes = sorted(opened(path.read_bytes()).size for path in files)
    assert sizes == [(64, 64), (256, 256)]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        image = opened(path.read_bytes())
        assert not image.getexif() and "comment" not in image.info
        assert b"SpyCam" not in path.read_bytes() and b"script" not in path.read_bytes()
    assert stat.S_IMODE((media_dir(settings) / "avatars").stat().st_mode) == 0o700
    page = bob_browser.get("/users/1")
    url = re.search(r'src="(/media/avatars/[0-9a-f]{32}-256\.jpg)"', page.text)
    assert url, page.text
    served = bob_browser.get(url.group(1))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Removed: the default again, and the files go.
    assert post_form(alice_browser, "/settings/avatar/delete", {}, "/settings").status_code == 303
    assert stored_files(settings, "avatars") == []
    assert bob_browser.get(url.group(1)).status_code == 404
    assert 'src="/avatars/1.svg"' in bob_browser.get("/users/1").text


def test_an_avatar_shows_beside_the_name_on_every_list_and_page(
    alice_browser: TestClient, bob_browser: TestClient
) -> None:
    """Cards, post pages, comments, people lists, notifications, profiles
    and search: wherever Alice's name is, her avatar is beside it."""
    response = alice_browser.post(
        "/settings/avatar",
        data={"csrf_token": csrf_token(alice_browser, "/settings")},
        files={"avatar": ("me.png", picture((50, 50), (1, 200, 3)), "image/png")},
    )
    assert response.status_code == 303, response.text
    small = re.search(r'src="(/media/avatars/[0-9a-f]{32}-64\.jpg)"', alice_browser.get("/").text)
    assert small, "no small avatar in the header"
    bobs_post = write_post(bob_browser, "Bob writes", "About kites.")
    alices_post = write_post(alice_browser, "Alice on kites", "Kites, again.")
    post_form(alice_browser, f"/posts/{bobs_post}/comments", {"content": "Nice kites"})
    post_form(alice_browser, "/users/2/follow", {})
    avatar = re.compile(r'src="/media/avatars/[0-9a-f]{32}-(64|256)\.jpg"')
    for path in (
        "/",
        f"/posts/{alices_post}",
        f"/posts/{bobs_post}",  # her comment
        "/users/1",
        "/users/2/followers",
        "/notifications",
        "/search?q=kites",
    ):
        page = bob_browser.get(path)
        assert page.status_code == 200, path
        assert avatar.search(page.text), path


def test_the_default_avatar_is_drawn_here_and_the_same_each_time(client: TestClient) -> None:
    first, again, other = (client.get(f"/avatars/{n}.svg") for n in (7, 7, 8))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("image/svg+xml")
    assert first.text == again.text != other.text
    assert "http" not in first.text.replace("http://www.w3.org/2000/svg", "")


def test_the_api_sets_and_removes_an_avatar(
    client: TestClient, alice_api: Caller, settings: Settings
) -> None:
    response = client.put(
        "/api/users/me/avatar",
        files={"file": ("a.png", picture((30, 90)), "image/png")},
        headers=alice_api.headers,
    )
    assert response.status_code == 200, response.text
    assert re.fullmatch(r"/media/avatars/[0-9a-f]{32}-256\.jpg", response.json()["avatar_url"])
    refused = client.put(
        "/api/users/me/avatar",
        files={"file": ("a.png", HTML, "image/png")},
        headers=alice_api.headers,
    )
    assert refused.status_code == 422
    assert client.delete("/api/users/me/avatar", headers=alice_api.headers).status_code == 204
    assert client.get("/api/users/me", headers=alice_api.headers).json()["avatar_url"] == (
        "/avatars/1.svg"
    )
    assert stored_files(settings, "avatars") == []


# --- pictures in posts --------------------------------------------------------------------


def test_a_post_form_takes_pictures_with_alt_text(
    alice_browser: TestClient, bob_browser: TestClient, settings: Settings
) -> None:
    big = picture((2000, 1000), (0, 128, 0))
    response = page_post_with_pictures(
        alice_browser, [(big, "A green field"), (PNG, "A red square")]
    )
    assert response.status_code == 303, response.text
    post_url = response.headers["location"]
    page = bob_browser.get(post_url)
    pictures = re.findall(
        r'<img src="(/media/posts/[^"]+)" alt="([^"]+)" width="(\d+)" height="(\d+)"', page.text
    )
    assert [(alt, int(w), int(h)) for _, alt, w, h in pictures] == [
        ("A green field", 1600, 800),
        ("A red square", 40, 30),
    ]
    # The card shows the first one's thumbnail, at most 400 pixels.
    home = bob_browser.get("/")
    thumb = re.search(
        r'<img src="(/media/posts/[^"]+)" alt="A green field" width="400" height="200"', home.text
    )
    assert thumb, home.text
    served = bob_browser.get(thumb.group(1))
    assert opened(served.content).size == (400, 200)
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    for path in stored_files(settings, "posts"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_empty_file_input_is_no_picture(alice_browser: TestClient) -> None:
    data = {
        "csrf_token": csrf_token(alice_browser, "/posts/new"),
        "title": "Words only",
        "content": "No picture.",
        "published": "on",
        "alt": "",
    }
    response = alice_browser.post(
        "/posts", data=data, files=[("images", ("", b"", "application/octet-stream"))]
    )
    assert response.status_code == 303, response.text
    assert "/media/posts/" not in alice_browser.get(response.headers["location"]).text


@pytest.mark.parametrize(
    ("pictures", "field"),
    [
        ([(PNG, "")], "alt"),
        ([(PNG, "x" * 501)], "alt"),
        ([(PNG, "one")] * 5, "images"),
        ([(HTML, "not a picture")], "images"),
    ],
    ids=["no alt", "alt too long", "a fifth", "not a picture"],
)
def test_a_post_form_refuses_bad_pictures_beside_the_field(
    alice_browser: TestClient, settings: Settings, pictures: list[tuple[bytes, str]], field: str
) -> None:
    response = page_post_with_pictures(alice_browser, pictures)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert 'value="With pictures"' in response.text  # what was typed is kept
    assert stored_files(settings, "posts") == []
    assert "With pictures" not in alice_browser.get("/").text


def test_the_edit_form_adds_and_removes_pictures(
    alice_browser: TestClient, settings: Settings, db: Session
) -> None:
    response = page_post_with_pictures(alice_browser, [(PNG, "first")])
    post_id = int(response.headers["location"].rsplit("/", 1)[1])
    media_id = db.exec(text("SELECT id FROM media")).one()[0]
    form = {
        "csrf_token": csrf_token(alice_browser, f"/posts/{post_id}/edit"),
        "title": "Edited",
        "content": "Now.",
        "published": "on",
        "remove_media": str(media_id),
        "alt": "second",
    }
    files = [("images", ("b.png", picture(colour=(0, 0, 255)), "image/png"))]
    assert alice_browser.post(f"/posts/{post_id}/edit", data=form, files=files).status_code == 303
    page = alice_browser.get(f"/posts/{post_id}").text
    assert 'alt="second"' in page and 'alt="first"' not in page
    # The new picture alone: small enough to be its own thumbnail (one file).
    assert len(stored_files(settings, "posts")) == 1


def test_the_api_uploads_then_attaches_pictures_in_order(
    client: TestClient, alice_api: Caller
) -> None:
    first = upload(client, alice_api, picture((500, 500)), "one")
    assert first.status_code == 201, first.text
    body = first.json()
    assert set(body) == {"id", "url", "thumbnail_url", "alt", "width", "height"}
    assert (body["width"], body["height"], body["alt"]) == (500, 500, "one")
    second = upload(client, alice_api, PNG, "two").json()
    post = write(client, alice_api, media_ids=[second["id"], body["id"]])
    assert [item["alt"] for item in post["media"]] == ["two", "one"]
    again = client.get(f"/api/posts/{post['id']}").json()
    assert again["media"] == post["media"]
    listed = client.get("/api/posts").json()
    assert listed[0]["media"][0]["thumbnail_url"] == second["thumbnail_url"]
    # PATCH reorders and drops; left out, they stay.
    patched = client.patch(
        f"/api/posts/{post['id']}", json={"media_ids": [body["id"]]}, headers=alice_api.headers
    )
    assert [item["id"] for item in patched.json()["media"]] == [body["id"]]
    kept = client.patch(f"/api/posts/{post['id']}", json={"title": "T"}, headers=alice_api.headers)
    assert [item["id"] for item in kept.json()["media"]] == [body["id"]]


def test_media_ids_must_be_the_callers_own_and_free(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    alices = upload(client, alice_api, PNG).json()["id"]
    refused = client.post(
        "/api/posts",
        json={"title": "t", "content": "c", "media_ids": [alices]},
        headers=bob_api.headers,
    )
    assert refused.status_code == 422
    assert client.get("/api/posts").json() == []  # nothing was written
    write(client, alice_api, media_ids=[alices])
    used = client.post(
        "/api/posts",
        json={"title": "t", "content": "c", "media_ids": [alices]},
        headers=alice_api.headers,
    )
    assert used.status_code == 422
    five = [upload(client, alice_api, PNG).json()["id"] for _ in range(5)]
    too_many = client.post(
        "/api/posts",
        json={"title": "t", "content": "c", "media_ids": five},
        headers=alice_api.headers,
    )
    assert too_many.status_code == 422
    assert upload(client, alice_api, PNG, alt="").status_code == 422


# --- limits (the hostile files, through every door: test_hostile_pictures.py) ------------


def stored(settings: Settings, url: str) -> bytes:
    return (media_dir(settings) / "posts" / url.rsplit("/", 1)[1]).read_bytes()


def test_a_file_over_the_limit_is_413_and_other_bodies_keep_theirs(
    app, client: TestClient, settings: Settings
) -> None:
    settings.max_upload_bytes = 2_000
    caller = sign_up(client, "alice")
    big = picture((300, 300), kind="BMP")  # BMP: large, and no picture we take
    response = upload(client, caller, big)
    assert response.status_code == 413
    assert list((media_dir(settings) / ".uploads").iterdir()) == []
    # A body without pictures keeps MAX_BODY_BYTES.
    huge = {"title": "t", "content": "x" * (settings.max_body_bytes + 1)}
    assert client.post("/api/posts", json=huge, headers=caller.headers).status_code == 413


# --- serving, privacy, and files going ------------------------------------------------------


def test_a_drafts_pictures_are_its_owners_alone(
    alice_browser: TestClient, bob_browser: TestClient, client: TestClient
) -> None:
    response = page_post_with_pictures(alice_browser, [(PNG, "secret")], published=False)
    post_url = response.headers["location"]
    url = re.search(r'src="(/media/posts/[^"]+)" alt="secret"', alice_browser.get(post_url).text)
    assert url
    mine = alice_browser.get(url.group(1))
    assert mine.status_code == 200
    assert mine.headers["cache-control"] == "private, no-store"
    assert bob_browser.get(url.group(1)).status_code == 404
    anonymous = TestClient(client.app)
    assert anonymous.get(url.group(1)).status_code == 404
    # Published, it is everyone's.
    post_id = int(post_url.rsplit("/", 1)[1])
    form = {"title": "With pictures", "content": "Look.", "published": "on"}
    edit = {"csrf_token": csrf_token(alice_browser, f"/posts/{post_id}/edit"), **form}
    assert alice_browser.post(f"/posts/{post_id}/edit", data=edit, files=[]).status_code == 303
    public = anonymous.get(url.group(1))
    assert public.status_code == 200
    assert public.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_drafts_pictures_are_its_owners_through_the_api_token_too(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    """An API client is given the URLs (`POST /api/media`, `PostPublic.media`):
    its token opens its own unattached and draft pictures, as the API shows
    it the draft; anyone else's token, one that does not hold, or none is a 404."""
    anonymous = TestClient(client.app)

    def only_alice_sees(url: str) -> None:
        mine = anonymous.get(url, headers=alice_api.headers)
        assert mine.status_code == 200, url
        assert mine.headers["cache-control"] == "private, no-store"
        assert mine.headers["content-type"] == "image/jpeg"
        assert mine.headers["x-content-type-options"] == "nosniff"
        assert anonymous.get(url, headers=bob_api.headers).status_code == 404
        assert anonymous.get(url).status_code == 404
        for dead in ("Bearer not-a-token", "Basic YWxpY2U6eA==", "Bearer", "bearer  "):
            assert anonymous.get(url, headers={"Authorization": dead}).status_code == 404

    uploaded = upload(client, alice_api, picture((900, 600)), "draft picture").json()
    only_alice_sees(uploaded["url"])  # not yet in a post
    draft = write(client, alice_api, published=False, media_ids=[uploaded["id"]])
    for url in (draft["media"][0]["url"], draft["media"][0]["thumbnail_url"]):
        only_alice_sees(url)
    published = client.patch(
        f"/api/posts/{draft['id']}", json={"published": True}, headers=alice_api.headers
    )
    assert published.status_code == 200
    public = anonymous.get(uploaded["url"])
    assert public.status_code == 200
    assert public.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_stored_files_are_named_by_their_content_and_served_as_what_they_are(
    client: TestClient, alice_api: Caller, settings: Settings
) -> None:
    opaque = upload(client, alice_api, picture((900, 500), (9, 99, 9))).json()
    clear = upload(client, alice_api, picture((30, 30), (9, 9, 99, 100), mode="RGBA")).json()
    write(client, alice_api, media_ids=[opaque["id"], clear["id"]])
    for body, kind, extension in ((opaque, "jpeg", "jpg"), (clear, "webp", "webp")):
        for url in (body["url"], body["thumbnail_url"]):
            name = url.rsplit("/", 1)[1]
            raw = (media_dir(settings) / "posts" / name).read_bytes()
            assert name == f"{hashlib.sha256(raw).hexdigest()[:32]}.{extension}"
            served = client.get(url)
            assert served.status_code == 200 and served.content == raw
            assert served.headers["content-type"] == f"image/{kind}"
            assert served.headers["x-content-type-options"] == "nosniff"
            assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
            head = client.head(url)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-type"] == f"image/{kind}"
    for folder in ("", "posts", ".uploads"):
        assert stat.S_IMODE((media_dir(settings) / folder).stat().st_mode) == 0o700, folder
    for path in stored_files(settings, "posts"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list((media_dir(settings) / ".uploads").iterdir()) == []  # nothing left behind


def test_a_request_with_pictures_may_carry_four_and_a_form_and_no_more(
    settings: Settings,
) -> None:
    """Four pictures of MAX_UPLOAD_BYTES each and MAX_BODY_BYTES of form beside:
    a picture route takes that much and not a byte more; every other route
    keeps MAX_BODY_BYTES, multipart or not."""
    limits = {"max_upload_bytes": 6_000, "max_body_bytes": 3_000}
    app = create_app(settings.model_copy(update=limits), pooled=False)
    with TestClient(app, follow_redirects=False) as browser:
        Auth(browser).register("alice")
        token = csrf_token(browser, "/posts/new")
        files = [("images", (f"{n}.png", noisy_png(5_500, n), "image/png")) for n in range(4)]
        assert all(5_000 < len(part[1][1]) <= 6_000 for part in files)
        form = {"csrf_token": token, "title": "Four", "content": "Look.", "alt": ["a"] * 4}
        taken = browser.post("/posts", data=form, files=files)
        assert taken.status_code == 303, taken.text
        # A fifth file's worth past the limit, each file within its own: 413.
        padded = {**form, "content": "x" * 2_900, "pad": "y" * 2_900}
        refused = browser.post("/posts", data=padded, files=files)
        assert refused.status_code == 413
        # Another route's multipart body keeps MAX_BODY_BYTES.
        profile = {"csrf_token": token, "display_name": "", "website": "", "bio": "b"}
        small = browser.post("/settings/profile", data=profile, files=[("x", ("", b"", "a/b"))])
        assert small.status_code == 303
        big = [("x", ("x.png", noisy_png(5_500, 9), "image/png"))]
        assert browser.post("/settings/profile", data=profile, files=big).status_code == 413


def noisy_png(size: int, seed: int) -> bytes:
    """A PNG of random pixels of at least `size` bytes and not much more."""
    import random

    rng = random.Random(seed)
    side = 8
    while True:
        image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        out = io.BytesIO()
        image.save(out, "PNG")
        if out.tell() >= size - 200:
            return out.getvalue()
        side += 2


def test_an_unknown_or_malformed_media_name_is_404(client: TestClient) -> None:
    for path in (
        "/media/posts/" + "0" * 32 + ".jpg",
        "/media/posts/../agora.db",
        "/media/avatars/x.jpg",
    ):
        assert client.get(path).status_code == 404


def test_deleting_a_post_or_an_account_deletes_its_files(
    client: TestClient, alice_browser: TestClient, settings: Settings
) -> None:
    response = page_post_with_pictures(alice_browser, [(PNG, "gone soon")])
    post_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert len(stored_files(settings, "posts")) == 1  # small: its own thumbnail
    post_form(alice_browser, f"/posts/{post_id}/delete", {}, f"/posts/{post_id}")
    assert stored_files(settings, "posts") == []
    page_post_with_pictures(alice_browser, [(picture(colour=(1, 2, 3)), "mine")])
    alice_browser.post(
        "/settings/avatar",
        data={"csrf_token": csrf_token(alice_browser, "/settings")},
        files={"avatar": ("a.png", PNG, "image/png")},
    )
    # A draft's pictures, and an upload through the API never attached.
    page_post_with_pictures(alice_browser, [(picture(colour=(3, 2, 1)), "draft")], published=False)
    token = login(client, "alice").json()["access_token"]
    loose = client.post(
        "/api/media",
        files={"file": ("a.png", picture(colour=(7, 7, 7)), "image/png")},
        data={"alt": "loose"},
        headers=bearer(token),
    )
    assert loose.status_code == 201
    assert len(stored_files(settings, "posts")) == 3
    assert stored_files(settings, "avatars")
    from tests.support.app import PASSWORD

    post_form(alice_browser, "/settings/delete", {"password": PASSWORD}, "/settings")
    assert stored_files(settings, "posts") == [] and stored_files(settings, "avatars") == []


def test_a_picture_shared_by_two_posts_stays_while_one_holds_it(
    client: TestClient, alice_api: Caller, settings: Settings
) -> None:
    one = write(client, alice_api, media_ids=[upload(client, alice_api, PNG).json()["id"]])
    write(client, alice_api, media_ids=[upload(client, alice_api, PNG).json()["id"]])
    assert len(stored_files(settings, "posts")) == 1  # the same bytes: one file
    client.delete(f"/api/posts/{one['id']}", headers=alice_api.headers)
    assert len(stored_files(settings, "posts")) == 1


def age(db: Session, media_ids: list[int]) -> None:
    """Make these uploads a day and a minute old."""
    day_ago = (utcnow() - timedelta(days=1, minutes=1)).replace(tzinfo=None)
    for media_id in media_ids:
        db.exec(
            text("UPDATE media SET created_at = :t WHERE id = :id"),
            params={"t": day_ago, "id": media_id},
        )
    db.commit()


def files_of(settings: Settings, body: dict) -> list[Path]:
    return [
        media_dir(settings) / "posts" / body[key].rsplit("/", 1)[1]
        for key in ("url", "thumbnail_url")
    ]


def sweep_once(settings: Settings, sweepers: int = 1) -> list[int]:
    """Run `sweepers` sweeps at once, as workers of several hosts may: how many
    pictures each deleted."""

    async def run() -> list[int]:
        engine = create_async_db_engine(settings, pooled=False)
        store = MediaStore(settings.media_dir)
        try:
            sessions = [new_session(engine) for _ in range(sweepers)]
            return list(await asyncio.gather(*(pictures.sweep(db, store) for db in sessions)))
        finally:
            for db in sessions:
                await db.close()
            await engine.dispose()

    return on_own_loop(run())


def test_unattached_uploads_go_after_a_day_with_their_files(
    client: TestClient, alice_api: Caller, settings: Settings, db: Session
) -> None:
    old = upload(client, alice_api, picture((900, 600), (5, 5, 5))).json()  # and a thumbnail
    shared = upload(client, alice_api, PNG).json()  # the same bytes as a kept picture's
    fresh = upload(client, alice_api, picture(colour=(1, 1, 1))).json()
    in_post = upload(client, alice_api, picture(colour=0)).json()
    twin = upload(client, alice_api, PNG).json()
    post = write(client, alice_api, media_ids=[in_post["id"], twin["id"]])
    age(db, [old["id"], shared["id"], in_post["id"], twin["id"]])
    assert all(path.is_file() for path in files_of(settings, old))

    assert sweep_once(settings) == [2]
    # The old unattached upload is gone, its row and both its files.
    assert not any(path.exists() for path in files_of(settings, old))
    late = client.post(
        "/api/posts",
        json={"title": "Too late", "content": "c", "media_ids": [old["id"]]},
        headers=alice_api.headers,
    )
    assert late.status_code == 422
    # A day is not up for the fresh one; the post's stay, and so does the file
    # the old unattached twin shared with one of them.
    assert all(path.is_file() for path in files_of(settings, fresh))
    for picture_in_post in post["media"]:
        assert client.get(picture_in_post["url"]).status_code == 200
    assert all(path.is_file() for path in files_of(settings, shared))
    remaining = db.exec(text("SELECT id FROM media ORDER BY id")).all()
    assert [row[0] for row in remaining] == [fresh["id"], in_post["id"], twin["id"]]
    assert sweep_once(settings) == [0]


def test_workers_sweeping_at_once_delete_each_upload_once(
    client: TestClient, alice_api: Caller, settings: Settings, db: Session
) -> None:
    bodies = [upload(client, alice_api, picture((600, 500), (n, n, n))).json() for n in range(6)]
    age(db, [body["id"] for body in bodies])
    counts = sweep_once(settings, sweepers=3)
    assert sum(counts) == 6, counts
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 0
    assert stored_files(settings, "posts") == []


def test_a_running_server_sweeps_without_anyone_uploading(
    app, client: TestClient, alice_api: Caller, settings: Settings, db: Session, monkeypatch
) -> None:
    old = upload(client, alice_api, PNG).json()
    age(db, [old["id"]])
    monkeypatch.setattr(pictures, "SWEEP_EVERY_SECONDS", 0.05)
    with TestClient(app):  # its life: the workers' tasks run
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and stored_files(settings, "posts"):
            time.sleep(0.05)
    assert stored_files(settings, "posts") == []
    db.rollback()  # a fresh look
    assert db.exec(text("SELECT count(*) FROM media")).one()[0] == 0


def test_an_upload_takes_one_file_and_one_alt_text(
    client: TestClient, alice_api: Caller, settings: Settings
) -> None:
    image = picture()
    two_alts = client.post(
        "/api/media",
        files=[("file", ("a.png", image, "image/png"))],
        data={"alt": ["one", "two"]},
        headers=alice_api.headers,
    )
    assert two_alts.status_code == 422, two_alts.text
    two_files = client.post(
        "/api/media",
        files=[("file", ("a.png", image, "image/png")), ("file", ("b.png", image, "image/png"))],
        data={"alt": "A red square"},
        headers=alice_api.headers,
    )
    assert two_files.status_code == 422, two_files.text
    assert stored_files(settings, "posts") == []


# --- what moderation hides, its pictures hide too ----------------------------------------


def test_a_suspended_persons_avatar_and_pictures_are_served_to_moderators_alone(
    client: TestClient, new_client, db: Session
) -> None:
    mod, _ann, ben = (sign_up(client, name) for name in ("mod", "ann", "ben"))
    db.exec(text("UPDATE users SET role = 'moderator' WHERE id = :id"), params={"id": mod.id})
    db.commit()
    put = client.put(
        "/api/users/me/avatar",
        files={"file": ("a.png", picture((90, 90), (0, 90, 0)), "image/png")},
        headers=ben.headers,
    )
    assert put.status_code == 200, put.text
    bens_avatar = client.get(f"/api/users/{ben.id}").json()["avatar_url"]
    small_avatar = bens_avatar.replace("-256.", "-64.")
    shown = upload(client, ben, picture((900, 600), (1, 2, 3)), "Ben's picture").json()
    write(client, ben, media_ids=[shown["id"]])
    files = [bens_avatar, small_avatar, shown["url"], shown["thumbnail_url"]]

    moderator, reader = new_client(), new_client()
    Auth(moderator).login("mod")
    Auth(reader).login("ann")
    anonymous = new_client()
    for url in files:
        assert anonymous.get(url).status_code == 200, url

    suspended = client.post(
        "/api/moderation/actions",
        json={"action": "suspend", "target_type": "user", "target_id": ben.id, "reason": "Spam"},
        headers=mod.headers,
    )
    assert suspended.status_code == 201, suspended.text
    for url in files:
        assert anonymous.get(url).status_code == 404, url
        assert reader.get(url).status_code == 404, url
        judged = moderator.get(url)
        assert judged.status_code == 200, url
        assert judged.headers["cache-control"] == "private, no-store"

    # Lifted: everyone's again, cached as before.
    lifted = client.post(
        "/api/moderation/actions",
        json={"action": "unsuspend", "target_type": "user", "target_id": ben.id, "reason": "Ok"},
        headers=mod.headers,
    )
    assert lifted.status_code == 201, lifted.text
    for url in files:
        served = anonymous.get(url)
        assert served.status_code == 200, url
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_an_avatar_someone_active_shares_with_a_suspended_person_stays_public(
    client: TestClient, new_client, db: Session
) -> None:
    mod, ann, ben = (sign_up(client, name) for name in ("mod", "ann", "ben"))
    db.exec(text("UPDATE users SET role = 'moderator' WHERE id = :id"), params={"id": mod.id})
    db.commit()
    for who in (ann, ben):  # the same bytes: one pair of files for both
        client.put(
            "/api/users/me/avatar",
            files={"file": ("a.png", PNG, "image/png")},
            headers=who.headers,
        )
    url = client.get(f"/api/users/{ben.id}").json()["avatar_url"]
    assert client.get(f"/api/users/{ann.id}").json()["avatar_url"] == url
    client.post(
        "/api/moderation/actions",
        json={"action": "suspend", "target_type": "user", "target_id": ben.id, "reason": "Spam"},
        headers=mod.headers,
    )
    assert new_client().get(url).status_code == 200


def test_a_hidden_posts_pictures_are_its_authors_and_moderators(
    client: TestClient, new_client, db: Session
) -> None:
    mod, _ann, ben = (sign_up(client, name) for name in ("mod", "ann", "ben"))
    db.exec(text("UPDATE users SET role = 'moderator' WHERE id = :id"), params={"id": mod.id})
    db.commit()
    shown = upload(client, ben, PNG, "Ben's picture").json()
    post = write(client, ben, media_ids=[shown["id"]])
    hidden = client.post(
        "/api/moderation/actions",
        json={"action": "hide", "target_type": "post", "target_id": post["id"], "reason": "No"},
        headers=mod.headers,
    )
    assert hidden.status_code == 201, hidden.text
    moderator, author, reader = new_client(), new_client(), new_client()
    Auth(moderator).login("mod")
    Auth(author).login("ben")
    Auth(reader).login("ann")
    assert new_client().get(shown["url"]).status_code == 404
    assert reader.get(shown["url"]).status_code == 404
    for browser in (moderator, author):
        served = browser.get(shown["url"])
        assert served.status_code == 200
        assert served.headers["cache-control"] == "private, no-store"
