"""API fixtures: the app on a real database (PostgreSQL and SQLite), users of every role, their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from engine.settings import Settings
from ketnoi.bootstrap import Container
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE, PASSWORD, make_user

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def make_container(url: str, tmp_path: Any) -> Container:
    return Container(Settings(environment="test", database_url=url, secret_key=TEST_SECRET, data_dir=tmp_path))


@pytest.fixture
def container(db_url: str, tmp_path: Any) -> Iterator[Container]:
    c = make_container(db_url, tmp_path)
    try:
        yield c
    finally:
        c.dispose()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as tc:
        yield tc


@pytest.fixture
def engine_(container: Container) -> Engine:
    return container.db


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": login, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class People:
    """One user of each role inside the area (commune A, its agency, the province) and some outside it."""

    headers: dict[str, dict[str, str]]
    ids: dict[str, int]

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]


PEOPLE = {
    # name: (role, unit, agency)
    "caseworker": ("caseworker", COMMUNE_A, None),
    "caseworker_b": ("caseworker", COMMUNE_B, None),
    "supervisor": ("supervisor", DEMO_PROVINCE, None),
    "supervisor_b": ("supervisor", COMMUNE_B, None),
    "agency": ("agency_staff", COMMUNE_A, "TYT-05443"),
    "agency_other": ("agency_staff", COMMUNE_A, "TH-05443"),
    "admin": ("admin", DEMO_PROVINCE, None),
}


@pytest.fixture
def people(client: TestClient, engine_: Engine) -> People:
    ids: dict[str, int] = {}
    for name, (role, unit, agency) in PEOPLE.items():
        actor = make_user(engine_, f"{name}@test", role, unit=unit, agency=agency)
        assert actor.user_id is not None
        ids[name] = actor.user_id
    return People({name: sign_in(client, f"{name}@test") for name in PEOPLE}, ids)


CHILD = {
    "full_name": "Trần Văn Minh", "date_of_birth": "2019-05-02", "sex": "male", "commune_code": COMMUNE_A,
    "guardians": [{"name": "Nguyễn Thị Hoa", "relation": "mother"}], "disability_types": ["mobility"],
    "severity": "severe", "household_status": "poor",
}


def register(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {**CHILD, "confirm_duplicate": True, **overrides}
    response = client.post("/api/v1/children", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def open_case(client: TestClient, headers: dict[str, str], child_id: int) -> dict[str, Any]:
    response = client.post("/api/v1/cases", json={"child_id": child_id, "source": "school"}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def act(client: TestClient, headers: dict[str, str], case: dict[str, Any], action: str,
        payload: dict[str, Any] | None = None, expect: int = 200) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/cases/{case['id']}/transitions", json={"action": action, "payload": payload or {}},
        headers={**headers, "If-Match": f'"{case["version"]}"'},
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


CONSENT_DOMAINS = ["rehabilitation", "health", "education", "social"]


def case_in_care(client: TestClient, people: People, services: list[str] | None = None) -> dict[str, Any]:
    """A case in commune A taken through the API to ``in_care`` (plan approved by the supervisor)."""
    cw, sup = people["caseworker"], people["supervisor"]
    child = register(client, cw)
    case = open_case(client, cw, child["id"])
    case = act(client, cw, case, "verify", {"urgency": "normal", "assessment": "Không tự đi lại được"})
    case = act(client, cw, case, "record_consent", {"given_by": "guardian", "name": "Nguyễn Thị Hoa",
                                                    "domains": CONSENT_DOMAINS})
    case = act(client, cw, case, "record_consent", {"given_by": "child", "name": "Trần Văn Minh",
                                                    "domains": CONSENT_DOMAINS})
    case = act(client, cw, case, "accept_for_intake")
    case = act(client, cw, case, "complete_assessment", {"needs": ["rehabilitation", "inclusive_education"]})
    case = act(client, cw, case, "submit_plan", {"services": services or ["rehabilitation"]})
    case = act(client, sup, case, "approve_plan", {"note": "Đồng ý"})
    assert case["step"] == "in_care"
    return case


@dataclass
class Scenario:
    child_a: int
    case_a: dict[str, Any]
    referral_a: dict[str, Any]
    child_b: int
    case_b: dict[str, Any]


@pytest.fixture
def scenario(client: TestClient, people: People) -> Scenario:
    """Commune A: a child, a case in care, a referral requested from TYT-05443. Commune B: a child and a case."""
    case_a = case_in_care(client, people)
    response = client.post(f"/api/v1/cases/{case_a['id']}/referrals", json={"service_code": "rehabilitation"},
                           headers=people["caseworker"])
    assert response.status_code == 201, response.text
    referral = response.json()
    assert referral["agency_code"] == "TYT-05443" and referral["state"] == "requested"
    child_b = register(client, people["caseworker_b"], commune_code=COMMUNE_B, full_name="Lê Thị Bích")
    case_b = open_case(client, people["caseworker_b"], child_b["id"])
    return Scenario(case_a["child_id"], case_a, referral, child_b["id"], case_b)


def snapshot(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the sign-in log), to show that a refused request changed nothing."""
    import sqlalchemy as sa
    from sqlmodel import SQLModel

    from engine import models  # noqa: F401  (registers every table)

    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in ("login_attempt", "alembic_version"):
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*order))]
    return out


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    if code is not None:
        assert body["code"] == code, body
    return body


def transition(client: TestClient, headers: dict[str, str], case_id: int, version: Any, **kw: Any) -> Any:
    return client.post(f"/api/v1/cases/{case_id}/transitions",
                       headers={**headers, **({"If-Match": f'"{version}"'} if version is not None else {})}, **kw)
