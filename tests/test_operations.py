"""What the people who run Agora see of it: every request's id, its log
line, and the metrics a scraper reads."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.api import sign_up
from tests.support.app import dispose, make_settings
from tests.support.server import free_port, running_server
from tests.support.smtp import SmtpServer, link_in
from webapp.app import create_app
from webapp.core import logs
from webapp.core.route_templates import RouteTemplates

TOKEN = "scrape-me-0123456789"
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def observed(database_url: str) -> Iterator[FastAPI]:
    """An app that counts metrics and writes a line per request."""
    application = create_app(
        make_settings(database_url, metrics_token=TOKEN, log_format="json"), pooled=False
    )
    application.state.page_cache.max_staleness = 0
    yield application
    dispose(application)


def post_json(url: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
    return _send(url, json.dumps(body).encode(), {"Content-Type": "application/json"})


def post_form(url: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
    data = urllib.parse.urlencode(body).encode()
    return _send(url, data, {"Content-Type": "application/x-www-form-urlencoded"})


def get_json(url: str, token: str) -> tuple[int, dict[str, Any]]:
    return _send(url, None, {"Authorization": f"Bearer {token}"})


def _send(url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data, headers)  # noqa: S310 (our own server)
    with urllib.request.urlopen(request) as answer:  # noqa: S310
        return answer.status, json.loads(answer.read() or b"{}")


def scrape(client: TestClient) -> str:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in the exposition text (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    series = f"{name}{{{wanted}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- request ids ---------------------------------------------------------------------


def test_every_response_carries_a_request_id_of_its_own(client: TestClient) -> None:
    answers = [client.get("/"), client.get("/nothing-here"), client.get("/api/posts")]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(HEX_ID.fullmatch(value) for value in ids)
    assert len(set(ids)) == 3


def test_request_ids_are_random_uuid4_hex_and_a_forked_worker_makes_its_own() -> None:
    import os
    import uuid

    from webapp.core import request_ids

    made = [request_ids.new_id() for _ in range(200)]
    assert len(set(made)) == 200
    assert all(uuid.UUID(value).version == 4 and uuid.UUID(value).hex == value for value in made)
    # The random bytes are read ahead: a child forked meanwhile must not make
    # the ids its parent makes next.
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        os.write(writing, " ".join(request_ids.new_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    with os.fdopen(reading) as pipe:
        childs = set(pipe.read().split())
    parents = {request_ids.new_id() for _ in range(5)}
    assert len(childs) == 5
    assert not childs & parents


def test_a_clients_own_request_id_is_not_believed(client: TestClient) -> None:
    answer = client.get("/", headers={"X-Request-ID": "forged-by-a-client"})
    assert answer.headers["x-request-id"] != "forged-by-a-client"


def test_a_trusted_proxys_request_id_is_kept_when_plain(database_url: str) -> None:
    settings = make_settings(database_url, forwarded_allow_ips="*")
    application = create_app(settings, pooled=False)
    try:
        client = TestClient(application)
        kept = client.get("/", headers={"X-Request-ID": "edge-42.abc"})
        assert kept.headers["x-request-id"] == "edge-42.abc"
        odd = client.get("/", headers={"X-Request-ID": b"two words\n"})
        assert HEX_ID.fullmatch(odd.headers["x-request-id"])
    finally:
        dispose(application)


def test_a_server_error_page_shows_its_request_id(database_url: str) -> None:
    application = create_app(make_settings(database_url), pooled=False)

    @application.get("/explode")
    async def explode() -> None:
        raise RuntimeError("a bug")

    try:
        client = TestClient(application, raise_server_exceptions=False)
        answer = client.get("/explode")
        assert answer.status_code == 500
        the_id = answer.headers["x-request-id"]
        assert HEX_ID.fullmatch(the_id)
        assert the_id in answer.text
        assert "a bug" not in answer.text
    finally:
        dispose(application)


# --- the request's log line --------------------------------------------------------------


def test_each_request_writes_one_line_with_its_route_and_account(
    observed: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(observed, follow_redirects=False)
    caller = sign_up(client, "alice")
    with caplog.at_level(logging.INFO, logger="webapp.request"):
        answer = client.get("/api/users/me", headers=caller.headers)
        client.get("/posts/123456")
    first, second = [r for r in caplog.records if r.name == "webapp.request"]
    assert first.__dict__["request_id"] == answer.headers["x-request-id"]
    assert first.__dict__["route"] == "/api/users/me"
    assert first.__dict__["status"] == 200
    assert first.__dict__["account_id"] == answer.json()["id"]
    assert first.__dict__["method"] == "GET"
    assert first.__dict__["duration_ms"] >= 0
    assert second.__dict__["route"] == "/posts/{post_id}"
    assert second.__dict__["status"] == 404
    assert second.__dict__["account_id"] is None


def test_a_json_line_is_one_object_with_time_level_message_and_fields() -> None:
    record = logging.LogRecord("webapp.request", logging.INFO, __file__, 1, "GET %s", ("/",), None)
    record.request_id = "abc"
    line = json.loads(logs.JsonLines().format(record))
    assert line["level"] == "info" and line["message"] == "GET /"
    assert line["request_id"] == "abc" and line["logger"] == "webapp.request"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_a_json_line_holds_the_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord(
            "webapp",
            logging.ERROR,
            __file__,
            1,
            "failed",
            (),
            exc_info=__import__("sys").exc_info(),
        )
    line = json.loads(logs.JsonLines().format(record))
    assert "ValueError: broken" in line["exception"]


# --- metrics -----------------------------------------------------------------------------


def test_metrics_are_not_there_without_the_token(client: TestClient, observed: FastAPI) -> None:
    assert client.get("/metrics").status_code == 404  # no METRICS_TOKEN set
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    scraper = TestClient(observed)
    assert scraper.get("/metrics").status_code == 404
    assert scraper.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert scraper.get("/metrics", headers={"Authorization": TOKEN}).status_code == 404


def test_metrics_count_requests_by_route_template_and_status(observed: FastAPI) -> None:
    client = TestClient(observed, follow_redirects=False)
    before = scrape(client)
    for number in range(3):
        client.get(f"/posts/{900_000 + number}")
    client.get("/")
    client.head("/")
    after = scrape(client)
    labels = {"method": "GET", "route": "/posts/{post_id}", "status": "404"}
    name = "agora_http_requests_total"
    assert sample(after, name, **labels) - sample(before, name, **labels) == 3
    home = {"method": "GET", "route": "/", "status": "200"}
    assert sample(after, name, **home) - sample(before, name, **home) == 1
    head = {"method": "HEAD", "route": "/", "status": "200"}
    assert sample(after, name, **head) - sample(before, name, **head) == 1
    count = "agora_http_request_duration_seconds_count"
    route = {"route": "/posts/{post_id}"}
    assert sample(after, count, **route) - sample(before, count, **route) == 3
    for family in (
        "agora_page_cache_lookups_total",
        "agora_open_sockets",
        "agora_mails_total",
        "agora_db_connections_in_use",
    ):
        assert f"# TYPE {family.removesuffix('_total')}" in after


def test_the_page_cache_counts_its_hits_and_misses(observed: FastAPI) -> None:
    client = TestClient(observed)
    before = scrape(client)
    client.get("/")
    client.get("/")
    after = scrape(client)
    name = "agora_page_cache_lookups_total"
    assert sample(after, name, result="hit") > sample(before, name, result="hit")
    assert sample(after, name, result="miss") > sample(before, name, result="miss")


def test_a_thousand_different_paths_make_a_handful_of_series(observed: FastAPI) -> None:
    client = TestClient(observed)
    for number in range(1_000):
        client.get(f"/no/such/page/{number}?q={number}")
    for number in range(50):
        client.request(f"M{number}", "/")
    text = scrape(client)
    series = [
        line
        for line in text.splitlines()
        if line.startswith(("agora_http_requests_total{", "agora_http_request_duration"))
    ]
    assert not any("/no/such/page" in line for line in series)
    assert not any('method="M' in line for line in series)
    assert len(series) < 200


def test_route_templates_follow_the_routes_with_their_prefixes(app: FastAPI) -> None:
    templates = RouteTemplates(lambda: app.router.routes)

    def of(path: str) -> str:
        return templates({"path": path})

    assert of("/api/posts/12") == "/api/posts/{post_id}"
    assert of("/posts/12/edit") == "/posts/{post_id}/edit"
    assert of("/static/style.css") == "/static/{path}"
    assert of("/nowhere") == "unmatched"


# --- a real server: its workers and its whole log --------------------------------------


def test_a_served_site_sums_its_workers_and_logs_no_secret(tmp_path: Path) -> None:
    """Two workers, JSON logs, a real mail server: every request is counted
    once in the sum, every line of the log is a JSON object, and nothing a
    person sent or was sent (password, token, cookie, address, mailed link)
    is in it."""
    password = "a-long-secret-password-7731"
    email = "grace.hopper@example.org"
    with (
        SmtpServer(free_port()) as inbox,
        running_server(
            tmp_path,
            workers=2,
            settings={"METRICS_TOKEN": TOKEN, "LOG_FORMAT": "json", "SMTP_URL": inbox.url},
        ) as address,
    ):
        body = {"username": "grace", "email": email, "password": password}
        assert post_json(f"{address}/api/users", body)[0] == 201
        status, answer = post_form(
            f"{address}/api/login", {"username": "grace", "password": password}
        )
        token = answer["access_token"]
        assert status == 200
        status, me = get_json(f"{address}/api/users/me", token)
        assert status == 200 and me["email"] == email
        assert post_json(f"{address}/api/password-reset", {"email": email})[0] == 202
        (mail,) = inbox.wait_for(1)
        link = link_in(mail)
        for _ in range(40):
            with urllib.request.urlopen(f"{address}/") as page:  # noqa: S310 (our own server)
                assert page.status == 200
        # A worker counts a request as its answer ends, just after the client
        # has it: the last ones may be a moment late in the sum.
        scraper = {"Authorization": f"Bearer {TOKEN}"}
        deadline = time.monotonic() + 5
        while True:
            request = urllib.request.Request(f"{address}/metrics", headers=scraper)  # noqa: S310
            with urllib.request.urlopen(request) as scraped:  # noqa: S310
                text = scraped.read().decode()
            home = sample(text, "agora_http_requests_total", method="GET", route="/", status="200")
            if home >= 40 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(0.5)
    log = (tmp_path / "server.log").read_text()
    assert sample(text, "agora_http_requests_total", method="GET", route="/", status="200") == 40
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "webapp.request"]
    assert {"request_id", "method", "route", "status", "duration_ms"} <= set(requests[0])
    assert any(line.get("account_id") == me["id"] for line in requests)
    for secret in (password, token, email, link, link.rsplit("/", 1)[1], "grace.hopper"):
        assert secret not in log


# --- the deploy check -------------------------------------------------------------------

GOOD = {
    "WEBAPP_ENV": "production",
    "SECRET_KEY": "k" * 40,
    "SITE_URL": "https://agora.example",
    "ALLOWED_HOSTS": "agora.example",
    "COOKIE_SECURE": "true",
    "SMTP_URL": "smtp://mail.example:587",
    "METRICS_TOKEN": TOKEN,
    "FORWARDED_ALLOW_IPS": "127.0.0.1",
}


def run_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], environment: dict[str, str]
) -> tuple[int, list[str]]:
    from webapp.__main__ import main

    for name in (*GOOD, "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    status = main(["check"])
    return status, capsys.readouterr().out.splitlines()


def test_a_production_ready_configuration_passes_the_check(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    status, lines = run_check(monkeypatch, capsys, {**GOOD, "DATABASE_URL": database_url})
    assert lines == ["agora: 0 errors, 0 warnings"]
    assert status == 0


@pytest.mark.parametrize(
    ("changed", "level", "words"),
    [
        ({"SECRET_KEY": ""}, "error", "SECRET_KEY is not set"),
        ({"SECRET_KEY": "short"}, "error", "SECRET_KEY is 5 characters"),
        ({"SITE_URL": ""}, "error", "SITE_URL is not set"),
        ({"SITE_URL": "http://agora.example"}, "error", "SITE_URL is not an https://"),
        ({"ALLOWED_HOSTS": ""}, "error", "ALLOWED_HOSTS is not set"),
        ({"ALLOWED_HOSTS": "other.example"}, "error", "ALLOWED_HOSTS does not hold"),
        ({"COOKIE_SECURE": "false"}, "warning", "COOKIE_SECURE is off"),
        ({"SMTP_URL": ""}, "warning", "SMTP_URL is not set"),
        ({"METRICS_TOKEN": ""}, "warning", "METRICS_TOKEN is not set"),
        ({"FORWARDED_ALLOW_IPS": "*"}, "warning", "FORWARDED_ALLOW_IPS is *"),
        ({"WEBAPP_ENV": "development"}, "warning", "WEBAPP_ENV is not production"),
    ],
)
def test_the_check_names_each_risk_and_fails_on_an_error(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    changed: dict[str, str],
    level: str,
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    environment = {**GOOD, "DATABASE_URL": database_url, **changed}
    status, lines = run_check(monkeypatch, capsys, environment)
    assert any(line.startswith(f"{level}: {words}") for line in lines), lines
    assert status == (1 if level == "error" else 0)


def test_the_check_fails_on_a_database_that_is_missing_or_not_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = {**GOOD, "DATABASE_URL": f"sqlite:///{tmp_path}/none.db"}
    status, lines = run_check(monkeypatch, capsys, missing)
    assert status == 1 and any("does not exist" in line for line in lines)
    (tmp_path / "empty.db").touch()
    empty = {**GOOD, "DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    status, lines = run_check(monkeypatch, capsys, empty)
    assert status == 1 and any("is not migrated" in line for line in lines)
    unreachable = {**GOOD, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    status, lines = run_check(monkeypatch, capsys, unreachable)
    assert status == 1 and any("does not answer" in line for line in lines)
