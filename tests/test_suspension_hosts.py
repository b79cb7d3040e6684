"""A suspension across hosts: two `python -m webapp serve` processes on one
database; a moderator suspends someone through host A, and that person's
socket on host B closes and their API token stops working there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import text

from tests.support.app import PASSWORD, make_settings
from tests.support.hosts import assert_clean_log, site_database
from tests.support.pages import Auth
from tests.support.server import running_server
from tests.test_live_hosts import close_code, socket, who
from webapp.core.db import create_db_engine


@pytest.fixture(scope="module")
def site(
    migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[str]]]:
    folder: Path = tmp_path_factory.mktemp("suspension")
    url = site_database(migrated_database, folder)
    with (
        running_server(folder, url, name="host-a") as host_a,
        running_server(folder, url, name="host-b") as host_b,
    ):
        yield url, [host_a, host_b]
    for name in ("host-a", "host-b"):
        assert_clean_log(folder / f"{name}.log")


def make_moderator(url: str, user_id: int) -> None:
    engine = create_db_engine(make_settings(url))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET role = 'moderator' WHERE id = :id"), {"id": user_id}
        )
    engine.dispose()


def token_on(host: str, name: str) -> dict[str, str]:
    answer = httpx2.post(f"{host}/api/login", data={"username": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_suspension_closes_sockets_and_ends_tokens_on_every_host(
    site: tuple[str, list[str]], browsers: Any
) -> None:
    url, (host_a, host_b) = site
    moderator, member = browsers(host_a), browsers(host_a)
    assert Auth(moderator).register("hostmod").status_code == 303
    assert Auth(member).register("hostben").status_code == 303
    moderator_id, _ = who(moderator)
    member_id, _ = who(member)
    make_moderator(url, moderator_id)
    ben_token = token_on(host_b, "hostben")
    assert httpx2.get(f"{host_b}/api/users/me", headers=ben_token).status_code == 200
    with socket(host_b, member) as ws:
        done = httpx2.post(
            f"{host_a}/api/moderation/actions",
            json={
                "action": "suspend",
                "target_type": "user",
                "target_id": member_id,
                "reason": "Flooding",
                "days": 2,
            },
            headers=token_on(host_a, "hostmod"),
        )
        assert done.status_code == 201, done.text
        assert close_code(ws) == 1008
    assert httpx2.get(f"{host_b}/api/users/me", headers=ben_token).status_code == 401
    refused = httpx2.post(f"{host_b}/api/login", data={"username": "hostben", "password": PASSWORD})
    assert refused.status_code == 403 and "Flooding" in refused.json()["detail"]
