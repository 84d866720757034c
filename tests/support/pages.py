"""The pages under test: a client on HTTPS (the session cookie is Secure outside development), its database,
signing in through the form as a browser does, and the CSRF tokens the forms carry.

``web`` and ``db`` are fixtures: a test module imports them by name to use them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from engine.cases import open_case
from engine.db import transaction
from engine.settings import Settings
from ketnoi.bootstrap import Container
from tests.support.people import COMMUNE_A, PASSWORD, make_child, make_user

SECRET = "pages-test-secret-0123456789abcdef"


Environment = Literal["development", "production", "test"]


def page_client(db_url: str, tmp_path: Path, environment: Environment) -> tuple[TestClient, Container]:
    container = Container(Settings(environment=environment, database_url=db_url, secret_key=SECRET,
                                   data_dir=tmp_path))
    # https, so that the client sends back the Secure cookie set outside development
    return TestClient(create_app(container), base_url="https://testserver"), container


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    client, container = page_client(db_url, tmp_path, "test")
    with client:
        yield client
    container.dispose()


@pytest.fixture
def db(web: TestClient) -> Engine:
    return web.app.state.container.db  # type: ignore[attr-defined,no-any-return]


def login_post(web: TestClient, login: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    """The sign-in form as a browser sends it: the page first (its CSRF cookie and field), then the POST."""
    token = login_csrf_of(web.get("/app/login").text)
    return web.post("/app/login", data={"login": login, "password": password, "csrf": token, **extra},
                    follow_redirects=False)


def login_csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" id="login-csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the sign-in form"
    return found.group(1)


def sign_in(web: TestClient, login: str, password: str = PASSWORD, **extra: str) -> str:
    """Sign in and return the page's CSRF token."""
    web.cookies.clear()
    response = login_post(web, login, password, **extra)
    assert response.status_code == 303, response.text
    return csrf_of(web.get("/app/work").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def page_case(db: Engine, commune: str = COMMUNE_A) -> int:
    lan = make_user(db, f"cw-{commune}", "caseworker", unit=commune)
    child_id = make_child(db, lan, commune_code=commune)
    with transaction(db) as s:
        case = open_case(s, child_id=child_id, actor=lan, source="school")
        assert case.id is not None
        return case.id


def register_form(token: str, **extra: str) -> dict[str, object]:
    return {"csrf": token, "full_name": "Trần Văn Minh", "date_of_birth": "02/05/2019", "sex": "male",
            "commune_code": COMMUNE_A, "disability_types": ["mobility"], "severity": "severe",
            "household_status": "poor", "guardian_name": "Nguyễn Thị Hoa", "source": "school", **extra}
