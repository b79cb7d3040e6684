"""Your data: the settings page and the API hand an account's data over as a
ZIP of JSON files and its pictures, to its owner alone, written while it is
sent, in a fixed number of statements whatever the account's size."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import zipfile
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert
from sqlmodel import Session

from tests.support.api import Caller, sign_up, write
from tests.support.app import on_own_loop
from tests.support.images import picture
from tests.support.pages import Auth, write_post
from tests.support.statements import StatementCounter
from webapp.core.config import Settings
from webapp.models import Comment, Like, Post, utcnow

LISTS = (
    "posts.json",
    "comments.json",
    "likes.json",
    "following.json",
    "followers.json",
    "blocks.json",
    "mutes.json",
)


def unpacked(body: bytes) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None  # every member's checksum holds
    data = {
        name: json.loads(archive.read(name))
        for name in archive.namelist()
        if name.endswith(".json")
    }
    return archive, data


def export(client: TestClient, caller: Caller) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    response = client.get("/api/users/me/export", headers=caller.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    return unpacked(response.content)


def upload(client: TestClient, caller: Caller, data: bytes, alt: str) -> dict[str, Any]:
    response = client.post(
        "/api/media",
        files={"file": ("p.png", data, "image/png")},
        data={"alt": alt},
        headers=caller.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_export_holds_the_account_its_posts_and_drafts_comments_likes_and_people(
    client: TestClient, alice_api: Caller, bob_api: Caller
) -> None:
    carol, dave = sign_up(client, "carol"), sign_up(client, "dave")
    alice = alice_api.headers
    client.patch(
        "/api/users/me", json={"display_name": "Alice A.", "bio": "I *write*."}, headers=alice
    )
    published = write(client, alice_api, title="First", content="Hello **world** #intro")
    draft = write(client, alice_api, title="Unfinished", content="Not yet", published=False)
    theirs = write(client, bob_api, title="Bob's", content="Hi")
    write(client, bob_api, title="Bob's draft", content="secret", published=False)
    comment = client.post(
        f"/api/posts/{theirs['id']}/comments", json={"content": "Nice _post_"}, headers=alice
    ).json()
    like = {"post_id": theirs["id"], "dir": 1}
    assert client.post("/api/vote", json=like, headers=alice).status_code == 201
    assert client.put(f"/api/users/me/following/{bob_api.id}", headers=alice).status_code == 204
    followed = client.put(f"/api/users/me/following/{alice_api.id}", headers=carol.headers)
    assert followed.status_code == 204
    assert client.put(f"/api/users/me/blocks/{dave.id}", headers=alice).status_code == 204
    assert client.put(f"/api/users/me/mutes/{carol.id}", headers=alice).status_code == 204

    archive, data = export(client, alice_api)

    assert set(LISTS) | {"account.json"} <= set(data)
    account = data["account.json"]
    assert account["username"] == "alice"
    assert account["email"] == "alice@example.com"
    assert (account["display_name"], account["bio"]) == ("Alice A.", "I *write*.")
    assert account["avatar"] is None
    assert not {"password_hash", "security_stamp"} & set(account)
    posts = {post["title"]: post for post in data["posts.json"]}
    assert set(posts) == {"First", "Unfinished"}  # drafts included, nobody else's
    assert posts["First"]["content"] == "Hello **world** #intro"  # the Markdown as typed
    assert posts["First"]["tags"] == ["intro"]
    assert (posts["First"]["id"], posts["First"]["published"]) == (published["id"], True)
    assert (posts["Unfinished"]["id"], posts["Unfinished"]["published"]) == (draft["id"], False)
    assert [(c["id"], c["post_id"], c["content"]) for c in data["comments.json"]] == [
        (comment["id"], theirs["id"], "Nice _post_")
    ]
    assert [like["post_id"] for like in data["likes.json"]] == [theirs["id"]]
    assert [p["username"] for p in data["following.json"]] == ["bob"]
    assert [p["username"] for p in data["followers.json"]] == ["carol"]
    assert [p["username"] for p in data["blocks.json"]] == ["dave"]
    assert [p["username"] for p in data["mutes.json"]] == ["carol"]
    assert all("since" in p and "email" not in p for p in data["following.json"])
    assert not [name for name in archive.namelist() if name.startswith("pictures/")]

    # Bob's archive is his own.
    _, bobs = export(client, bob_api)
    assert {post["title"] for post in bobs["posts.json"]} == {"Bob's", "Bob's draft"}
    assert [p["username"] for p in bobs["followers.json"]] == ["alice"]
    assert bobs["account.json"]["email"] == "bob@example.com"


def test_the_export_carries_the_picture_files_and_the_avatar(
    client: TestClient, alice_api: Caller, settings: Settings
) -> None:
    red = upload(client, alice_api, picture((60, 40)), "red")
    blue = upload(client, alice_api, picture((50, 50), (0, 0, 200)), "blue")
    again = upload(client, alice_api, picture((60, 40)), "the same red again")
    write(client, alice_api, title="Pictures", media_ids=[red["id"], blue["id"]])
    write(client, alice_api, title="Again", media_ids=[again["id"]], published=False)
    avatar = client.put(
        "/api/users/me/avatar",
        files={"file": ("a.png", picture((30, 30)), "image/png")},
        headers=alice_api.headers,
    )
    assert avatar.status_code == 200

    archive, data = export(client, alice_api)

    media = settings.media_dir
    posts = {post["title"]: post for post in data["posts.json"]}
    listed = posts["Pictures"]["pictures"]
    assert [(p["alt"], p["width"], p["height"]) for p in listed] == [
        ("red", 60, 40),
        ("blue", 50, 50),
    ]
    assert posts["Again"]["pictures"][0]["file"] == listed[0]["file"]
    pictures = sorted(name for name in archive.namelist() if name.startswith("pictures/"))
    assert pictures == sorted({listed[0]["file"], listed[1]["file"]})  # one file each
    for name in pictures:
        assert archive.read(name) == (media / "posts" / name.removeprefix("pictures/")).read_bytes()
    stored = avatar.json()["avatar_url"].removeprefix("/media/")
    assert data["account.json"]["avatar"] == "avatar.jpg"
    assert archive.read("avatar.jpg") == (media / stored).read_bytes()


def test_only_the_logged_in_owner_exports(
    client: TestClient, alice_api: Caller, new_client
) -> None:
    assert client.get("/api/users/me/export").status_code == 401
    forged = client.get("/api/users/me/export", headers={"Authorization": "Bearer nonsense"})
    assert forged.status_code == 401
    assert forged.headers["www-authenticate"] == "Bearer"
    stranger = new_client()
    page = stranger.get("/settings/export")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    # A browser's cookie is no login under /api.
    browser = new_client()
    Auth(browser).register("erin")
    assert browser.get("/api/users/me/export").status_code == 401


def test_the_settings_page_links_the_download(alice_browser: TestClient) -> None:
    write_post(alice_browser, "From the page", "Typed *here*", published=False)
    settings_page = alice_browser.get("/settings")
    assert 'href="/settings/export"' in settings_page.text
    response = alice_browser.get("/settings/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="agora-alice-')
    assert disposition.endswith('.zip"')
    _, data = unpacked(response.content)
    assert [(p["title"], p["content"], p["published"]) for p in data["posts.json"]] == [
        ("From the page", "Typed *here*", False)
    ]


def many_rows(db: Session, owner_id: int, other_post: int, count: int, size: int = 0) -> None:
    """`count` posts (each `size` characters of text, hard to compress),
    comments and likes for one account, written straight to the database."""
    now = utcnow()

    def text(n: int) -> str:
        if not size:
            return f"post {n}"
        return base64.b64encode(random.Random(n).randbytes(size * 3 // 4)).decode()

    db.exec(
        insert(Post),
        params=[
            {
                "title": f"Post {n}",
                "content": text(n),
                "owner_id": owner_id,
                "created_at": now - timedelta(seconds=n),
                "updated_at": now,
                "published": n % 3 != 0,
            }
            for n in range(count)
        ],
    )  # type: ignore[call-overload]
    db.exec(
        insert(Comment),
        params=[
            {"content": f"c{n}", "post_id": other_post, "author_id": owner_id, "path": ""}
            for n in range(count)
        ],
    )  # type: ignore[call-overload]
    db.exec(insert(Like).values(user_id=owner_id, post_id=other_post))  # type: ignore[call-overload]
    db.commit()


def test_the_statements_are_as_many_for_a_big_account_as_for_a_small_one(
    client: TestClient, alice_api: Caller, bob_api: Caller, engine: Engine, db: Session
) -> None:
    other = write(client, bob_api)["id"]
    write(client, alice_api, title="One")
    with StatementCounter(engine) as small:
        export(client, alice_api)
    many_rows(db, alice_api.id, other, 1_200)
    with StatementCounter(engine) as big:
        _, data = export(client, alice_api)
    assert len(data["posts.json"]) == 1_201
    assert len(data["comments.json"]) == 1_200
    assert big.count == small.count <= 12


def test_the_archive_leaves_in_pieces_before_it_is_all_read(
    app: FastAPI,
    client: TestClient,
    alice_api: Caller,
    bob_api: Caller,
    engine: Engine,
    db: Session,
) -> None:
    """Driven as a server drives it: each piece handed to the socket is
    bounded, and the first leaves before the later files' rows are read."""
    other = write(client, bob_api)["id"]
    many_rows(db, alice_api.id, other, 3_000, size=1_000)
    statements: list[str] = []
    pieces: list[tuple[int, int]] = []  # (bytes, statements run by the time they left)
    started: list[int] = []

    asked: list[int] = []

    async def receive() -> dict[str, Any]:
        asked.append(1)
        if len(asked) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # a client that stays until the answer is whole
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message["status"])
        elif message["type"] == "http.response.body" and message.get("body"):
            pieces.append((len(message["body"]), len(statements)))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/users/me/export",
        "raw_path": b"/api/users/me/export",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {alice_api.token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    with StatementCounter(engine) as counter:
        statements = counter.statements
        on_own_loop(app(scope, receive, send))
    assert started == [200]
    total = sum(size for size, _ in pieces)
    assert total > 2_000_000  # 3 MB of text, hardly compressible
    assert len(pieces) > 10
    assert max(size for size, _ in pieces) < 200_000
    # The first piece left while posts.json was being read: the lists after
    # it (comments, likes, follows, blocks, mutes, pictures) had not been asked for.
    assert pieces[0][1] < len(statements) - 5
