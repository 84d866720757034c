"""Security review mends of the web layer and settings, over HTTP on a real PostgreSQL and a real SQLite file.

Security headers on every response (no framing, no sniffing, no caching of children's data, a strict CSP on the
pages), no API docs in production, a real-length secret outside development, a private data folder, the agency's
referral page logged as a read of the child's record, and an out-of-range id in a page address is not found.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.app import create_app
from engine.db import transaction
from engine.models import AccessLog
from engine.settings import Settings
from ketnoi.bootstrap import Container
from tests.api.conftest import TEST_SECRET, People, Scenario, make_container
from tests.support.people import PASSWORD


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """The conftest's client, over https so that the Secure page cookie (outside development) comes back."""
    with TestClient(create_app(container), base_url="https://testserver", raise_server_exceptions=False) as tc:
        yield tc


def page_sign_in(client: TestClient, login: str) -> None:
    page = client.get("/app/login")
    token = re.search(r'name="csrf" id="login-csrf" value="([^"]+)"', page.text)
    assert token, "no CSRF field on the sign-in form"
    response = client.post("/app/login", data={"login": login, "password": PASSWORD, "csrf": token.group(1)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


def test_every_response_refuses_framing_sniffing_and_caching(
    client: TestClient, people: People, scenario: Scenario
) -> None:
    child = client.get(f"/api/v1/children/{scenario.child_a}", headers=people["caseworker"])
    assert child.status_code == 200
    page_sign_in(client, "caseworker@test")
    case_page = client.get(f"/app/cases/{scenario.case_a['id']}")
    assert case_page.status_code == 200
    for response in (child, case_page, client.get("/app/login"), client.get("/api/v1/cases/1")):
        headers = response.headers
        assert headers.get("x-frame-options") == "DENY", response.url
        assert headers.get("x-content-type-options") == "nosniff", response.url
        assert headers.get("referrer-policy") == "same-origin", response.url
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), response.url
        assert headers.get("cache-control") == "no-store", response.url
    csp = case_page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "script-src" not in csp
    # the stylesheet stays cacheable: it holds nothing about anyone
    assert client.get("/app/static/site.css").headers["cache-control"].startswith("public")


def test_an_unexpected_error_carries_the_security_headers_too(container: Container) -> None:
    """Starlette answers an unhandled error outside the app's middleware: the headers are added outside it."""
    app = create_app(container)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a defect")

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as tc:
        response = tc.get("/boom")
    assert response.status_code == 500 and response.headers["content-type"] == "application/problem+json"
    assert "a defect" not in response.text
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("cache-control") == "no-store"
    assert response.headers.get("strict-transport-security") == "max-age=31536000"
    assert "default-src 'none'" in response.headers.get("content-security-policy", "")


def test_api_docs_are_not_served_in_production(db_url: str, tmp_path: Path) -> None:
    production = Container(Settings(environment="production", database_url=db_url, secret_key=TEST_SECRET,
                                    data_dir=tmp_path, password_hashing="default"))
    with TestClient(create_app(production), base_url="https://testserver") as tc:
        for path in ("/api/v1/docs", "/api/v1/openapi.json", "/api/v1/docs/oauth2-redirect"):
            assert tc.get(path).status_code == 404, path
        assert tc.get("/healthz").status_code == 200
    production.dispose()
    testing = make_container(db_url, tmp_path)
    with TestClient(create_app(testing)) as tc:  # outside production the documentation stays
        assert tc.get("/api/v1/openapi.json").status_code == 200
        docs = tc.get("/api/v1/docs")
        assert docs.status_code == 200 and "content-security-policy" not in docs.headers  # it loads Swagger UI
    testing.dispose()


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize("secret", ["sixteen-chars-ok", "a-secret-of-31-characters-12345"])
def test_a_secret_shorter_than_32_characters_is_refused_outside_development(environment: Any, secret: str) -> None:
    with pytest.raises(ValidationError, match="KETNOI_SECRET_KEY"):
        Settings(environment=environment, secret_key=secret, database_url="sqlite://", password_hashing="default")
    assert Settings(environment=environment, secret_key=secret + "x" * (32 - len(secret)), database_url="sqlite://",
                    password_hashing="default").environment == environment


def test_the_data_folder_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "fresh" / "data"
    made = Settings(environment="development", data_dir=folder).ensure_data_dir()
    assert made == folder and stat.S_IMODE(folder.stat().st_mode) == 0o700
    # a SQLite file's folder made when the database is first opened (``ketnoi serve --demo`` on a fresh clone)
    from engine.db import make_engine

    elsewhere = tmp_path / "other" / "data"
    make_engine(f"sqlite:///{elsewhere / 'ketnoi.sqlite3'}").dispose()
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700


def test_an_agency_reading_a_referral_page_is_logged(
    client: TestClient, engine_: Engine, people: People, scenario: Scenario
) -> None:
    page_sign_in(client, "agency@test")
    page = client.get(f"/app/referrals/{scenario.referral_a['id']}")
    assert page.status_code == 200
    with transaction(engine_) as s:
        reads = s.execute(sa.select(col(AccessLog.child_id), col(AccessLog.action))
                          .where(col(AccessLog.user_id) == people.ids["agency"])).all()
    assert (scenario.child_a, "read_referral") in [tuple(r) for r in reads]


def test_an_out_of_range_id_in_a_page_address_is_not_found(client: TestClient, people: People) -> None:
    page_sign_in(client, "supervisor@test")
    for path in ("/app/cases/99999999999999999999", "/app/cases/2147483648", "/app/cases/0",
                 "/app/referrals/99999999999999999999", "/app/reports/99999999999999999999/download"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path


def test_a_page_session_left_unused_ends_and_one_in_use_moves_on(db_url: str, tmp_path: Path) -> None:
    """A borrowed phone left on a table: 30 minutes without a page request end the session; a request within
    them moves it on (a fresh cookie, same session and CSRF token)."""
    from datetime import timedelta

    from api.pages.security import SESSION_COOKIE, SESSION_IDLE, PageSession, _signed, read_session
    from engine.db import utcnow
    from tests.support.people import make_user

    container = Container(Settings(environment="test", database_url=db_url, secret_key=TEST_SECRET,
                                   data_dir=tmp_path))
    worker = make_user(container.db, "lan@05443", "caseworker")
    assert worker.user_id is not None
    now = utcnow()

    def cookie(idle: timedelta) -> str:
        started = (now - idle - timedelta(minutes=5)).timestamp()
        return _signed(TEST_SECRET, PageSession(worker.user_id or 0, "csrf-token", started,
                                                (now - idle).timestamp()))

    with TestClient(create_app(container), base_url="https://testserver") as web:
        web.cookies.set(SESSION_COOKIE, cookie(SESSION_IDLE + timedelta(minutes=1)))
        left = web.get("/app/work", follow_redirects=False)
        assert left.status_code == 303 and "/app/login" in left.headers["location"]

        web.cookies.set(SESSION_COOKIE, cookie(timedelta(minutes=10)))
        used = web.get("/app/work", follow_redirects=False)
        assert used.status_code == 200
        fresh = used.cookies.get(SESSION_COOKIE)
        assert fresh is not None
        moved = read_session(TEST_SECRET, fresh, utcnow())
        assert moved is not None and moved.csrf == "csrf-token" and moved.user_id == worker.user_id
        assert moved.active_at >= now.timestamp() - 1  # moved on to this request
        assert "httponly" in used.headers["set-cookie"].lower() and "secure" in used.headers["set-cookie"].lower()
    container.dispose()
