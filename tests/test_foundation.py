"""The base every feature stands on: settings, health, error pages, headers, limits."""

from __future__ import annotations

import stat

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support.app import make_settings
from webapp.app import create_app
from webapp.core.config import Settings, SettingsError


def test_settings_have_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SECRET_KEY", "WEBAPP_ENV", "COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///./agora.db"
    assert settings.webapp_env == "development"
    assert settings.cookie_secure is False
    assert settings.session_max_age == 1_209_600
    assert settings.access_token_expire_minutes == 60
    assert settings.bcrypt_rounds == 12
    assert settings.login_max_attempts == 5
    assert settings.max_body_bytes == 1_048_576


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("COOKIE_SECURE", "true")
    settings = Settings(_env_file=None)
    assert settings.max_body_bytes == 2048
    assert settings.cookie_secure is True


def test_a_plain_postgresql_url_gets_the_psycopg_driver() -> None:
    settings = make_settings("postgresql://user@db:5432/agora")
    assert settings.sqlalchemy_url == "postgresql+psycopg://user@db:5432/agora"


def test_development_key_is_generated_once_beside_the_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/data/agora.db"
    first = Settings(_env_file=None, database_url=url).signing_key
    key_file = tmp_path / "data" / ".agora-secret-key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Settings(_env_file=None, database_url=url).signing_key == first
    assert len(first) >= 32


@pytest.mark.parametrize("secret", [None, "too-short"])
def test_production_refuses_a_missing_or_short_secret(secret: str | None) -> None:
    settings = Settings(_env_file=None, webapp_env="production", secret_key=secret)
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        settings.check()


def test_health_check_answers_when_the_database_does(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_check_is_503_when_the_database_is_gone() -> None:
    # Nothing listens on port 9: the connection is refused at once.
    app = create_app(make_settings("postgresql://agora@127.0.0.1:9/agora"))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] != "ok"


# Python refuses to read a number of more than 4,300 digits: still a 404.
HUGE_ID = "9" * 5000


@pytest.mark.parametrize(
    "path",
    [
        "/no-such-page",
        "/posts/abc",
        "/users/99999999999999999999",
        f"/posts/{HUGE_ID}",
        f"/users/{HUGE_ID}/followers",
    ],
)
def test_a_missing_page_is_an_html_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in response.text


def test_a_missing_api_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert client.get(f"/api/posts/{HUGE_ID}").status_code == 404


def test_a_wrong_method_is_an_html_405(client: TestClient) -> None:
    response = client.delete("/")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")


def test_an_oversized_body_is_refused_with_413(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 1000}))

    @app.post("/api/echo")
    def echo(body: dict) -> dict:
        return body

    with TestClient(app) as client:
        declared = client.post(
            "/login",
            content=b"x" * 1001,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert declared.status_code == 413
        assert declared.headers["content-type"].startswith("text/html")

        def chunks():
            for _ in range(5):
                yield b"x" * 400

        streamed = client.post(
            "/api/echo", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json() == {"detail": "Request Entity Too Large"}


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/no-such-page", "/healthz", "/static/style.css"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"]
        assert "strict-transport-security" not in headers


def test_hsts_is_sent_when_cookies_are_secure(settings: Settings) -> None:
    secure = settings.model_copy(update={"cookie_secure": True})
    with TestClient(create_app(secure), base_url="https://testserver") as client:
        assert "max-age=" in client.get("/").headers["strict-transport-security"]


def test_a_server_error_is_an_html_500_with_the_headers(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "boom" not in response.text


def test_a_lost_database_on_a_page_is_an_html_503() -> None:
    app = create_app(make_settings("postgresql://agora@127.0.0.1:9/agora"))

    @app.get("/needs-db")
    async def needs_db() -> None:
        async with app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/needs-db")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
