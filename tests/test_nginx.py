"""Agora behind a real nginx, configured by deploy/nginx.conf as the README
tells an operator to use it: pages, a login, a live socket, the client's
address as the app's limits and log see it, and static files served by
nginx itself."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from websockets.sync.client import connect

from tests.support.pages import Auth, write_post
from tests.support.server import ROOT, free_port, running_server

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists() and not os.environ.get("REQUIRE_NGINX"),
    reason="nginx is not installed (CI installs it, and sets REQUIRE_NGINX)",
)


def site_conf(app_port: int, nginx_port: int) -> str:
    """deploy/nginx.conf with this run's ports and static folder."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in (
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("listen 80;", f"listen 127.0.0.1:{nginx_port};"),
        ("alias /srv/agora/static/;", f"alias {ROOT / 'static'}/;"),
    ):
        assert old in conf, old
        conf = conf.replace(old, new)
    return conf


def main_conf(folder: Path) -> str:
    """The http block an nginx install has around a site's server block."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}pid {folder / "nginx.pid"};
error_log {folder / "nginx-error.log"};
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {folder / "nginx-access.log"};
    {temp}
    include {folder / "agora.conf"};
}}
"""


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, migrated_database: str
) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("nginx")
    nginx_port = free_port()
    address = f"http://127.0.0.1:{nginx_port}"
    settings = {
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "LOG_FORMAT": "json",
        "SITE_URL": address,
        "REGISTRATIONS_PER_HOUR": "3",
    }
    with running_server(folder, settings=settings, workers=2) as app_url:
        app_port = int(app_url.rsplit(":", 1)[1])
        (folder / "agora.conf").write_text(site_conf(app_port, nginx_port))
        (folder / "nginx.conf").write_text(main_conf(folder))
        nginx = subprocess.Popen(
            [NGINX, "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert httpx2.get(f"{address}/healthz").status_code == 200
                    break
                except (httpx2.HTTPError, AssertionError):
                    assert nginx.poll() is None, (folder / "nginx-error.log").read_text()
                    assert time.monotonic() < deadline, "nginx did not answer"
                    time.sleep(0.1)
            yield {"address": address, "log": folder / "server.log"}
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


def request_lines(log: Path) -> list[dict[str, Any]]:
    time.sleep(0.3)  # the worker writes its line as the answer ends
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "webapp.request"]


def from_address(site: dict[str, Any], source: str, method: str, path: str, **kw: Any) -> Any:
    """A request to nginx from `source` (any 127.x is this machine)."""
    port = int(site["address"].rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, source_address=(source, 0))
    try:
        connection.request(method, path, **kw)
        answer = connection.getresponse()
        answer.read()
        return answer
    finally:
        connection.close()


def test_pages_come_through_nginx_with_nginxs_request_id(site: dict[str, Any]) -> None:
    answer = httpx2.get(site["address"] + "/", headers={"X-Request-ID": "forged"})
    assert answer.status_code == 200 and "Agora" in answer.text
    the_id = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", the_id)  # nginx's $request_id, kept by the app
    assert any(line["request_id"] == the_id for line in request_lines(site["log"]))


def test_static_files_are_nginxs_and_kept_long_when_versioned(site: dict[str, Any]) -> None:
    home = httpx2.get(site["address"] + "/").text
    stylesheet = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', home)
    assert stylesheet, "the page links its stylesheet with a version"
    answer = httpx2.get(site["address"] + stylesheet.group(1))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/css")
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = httpx2.get(site["address"] + "/static/style.css")
    assert plain.headers["cache-control"] == "public, max-age=3600"
    assert "content-security-policy" not in answer.headers  # not the app's answer
    assert not any(line["route"].startswith("/static") for line in request_lines(site["log"]))


def test_a_person_registers_logs_in_and_hears_a_live_event_through_nginx(
    site: dict[str, Any],
) -> None:
    address = site["address"]
    with httpx2.Client(base_url=address) as browser:
        assert Auth(browser).register("proxied").status_code == 303  # type: ignore[arg-type]
        assert "proxied" in browser.get("/settings").text
        with connect(address.replace("http", "ws") + "/ws", origin=address, open_timeout=5) as ws:  # type: ignore[arg-type]
            post_id = write_post(browser, "Through the proxy")  # type: ignore[arg-type]
            deadline = time.monotonic() + 5
            while True:
                message = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
                if message["type"] == "post.created":
                    assert message["id"] == post_id
                    break


def test_the_app_counts_and_logs_the_real_client_never_a_claimed_one(
    site: dict[str, Any],
) -> None:
    def register(source: str, name: str, claimed: str) -> int:
        body = json.dumps({"username": name, "email": f"{name}@example.com", "password": "p" * 12})
        headers = {"Content-Type": "application/json", "X-Forwarded-For": claimed}
        return from_address(site, source, "POST", "/api/users", body=body, headers=headers).status

    statuses = [register("127.0.0.2", f"near{n}", f"203.0.113.{n}") for n in range(4)]
    assert statuses == [201, 201, 201, 429]  # three an hour from 127.0.0.2, whatever it claims
    assert register("127.0.0.3", "elsewhere", "127.0.0.2") == 201  # another client: its own count
    clients = {
        line["client"] for line in request_lines(site["log"]) if line["route"] == "/api/users"
    }
    assert clients == {"127.0.0.2", "127.0.0.3"}
