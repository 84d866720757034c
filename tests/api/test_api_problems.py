"""Errors are RFC 9457 problem+json, titled in the language asked for; a refused request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.api.conftest import CHILD, People, act, assert_problem, open_case, register, snapshot, transition


@pytest.fixture
def verified_case(client: TestClient, people: People) -> dict[str, Any]:
    child = register(client, people["caseworker"])
    case = open_case(client, people["caseworker"], child["id"])
    return act(client, people["caseworker"], case, "verify", {"urgency": "normal", "assessment": "đã thăm nhà"})


def test_refused_transitions_are_problems_and_change_nothing(
    client: TestClient, people: People, engine_: Engine, verified_case: dict[str, Any]
) -> None:
    cw = people["caseworker"]
    case_id, version = verified_case["id"], verified_case["version"]
    before = snapshot(engine_)

    malformed = client.post(
        f"/api/v1/cases/{case_id}/transitions", content=b'{"action": "verify",',
        headers={**cw, "If-Match": f'"{version}"', "Content-Type": "application/json"})
    assert_problem(malformed, 400, "malformed_json")

    wrong_type = transition(client, cw, case_id, version, json={"action": 42, "payload": []})
    body = assert_problem(wrong_type, 422, "validation")
    assert {e["field"] for e in body["errors"]} == {"action", "payload"}

    unknown = transition(client, cw, case_id, version, json={"action": "teleport"})
    assert "teleport" in assert_problem(unknown, 422, "unknown_action")["detail"]

    stale = transition(client, cw, case_id, version - 1, json={"action": "accept_for_intake"})
    assert_problem(stale, 409, "stale_version")

    missing_if_match = transition(client, cw, case_id, None, json={"action": "accept_for_intake"})
    assert_problem(missing_if_match, 428, "if_match_required")

    no_consent = transition(client, cw, case_id, version, json={"action": "accept_for_intake"})
    body = assert_problem(no_consent, 422, "guard.consent_missing")
    assert body["title"] == "Thao tác không được phép"  # Vietnamese by default

    english = client.post(f"/api/v1/cases/{case_id}/transitions", json={"action": "accept_for_intake"},
                          headers={**cw, "If-Match": f'"{version}"', "Accept-Language": "en-GB,en;q=0.9"})
    body = assert_problem(english, 422, "guard.consent_missing")
    assert body["title"] == "Action not allowed" and "Consent" in body["detail"]

    missing_field = transition(client, cw, case_id, version, json={"action": "record_consent", "payload": {}})
    assert_problem(missing_field, 422, "guard.payload_missing")

    assert snapshot(engine_) == before
    after = client.get(f"/api/v1/cases/{case_id}", headers=cw)
    assert after.headers["etag"] == f'"{version}"' and after.json()["step"] == "verified"


def test_registration_problems_change_nothing(client: TestClient, people: People, engine_: Engine) -> None:
    cw = people["caseworker"]
    first = register(client, cw)
    before = snapshot(engine_)

    duplicate = client.post("/api/v1/children", json=CHILD, headers=cw)
    body = assert_problem(duplicate, 409, "possible_duplicate")
    assert [c["id"] for c in body["candidates"]] == [first["id"]]

    bad_dob = client.post("/api/v1/children", json={**CHILD, "date_of_birth": "not-a-date"}, headers=cw)
    assert [e["field"] for e in assert_problem(bad_dob, 422, "validation")["errors"]] == ["date_of_birth"]

    extra = client.post("/api/v1/children", json={**CHILD, "diagnosis": "x"}, headers=cw)
    assert [e["field"] for e in assert_problem(extra, 422, "validation")["errors"]] == ["diagnosis"]

    unknown_commune = client.post("/api/v1/children", json={**CHILD, "commune_code": "99999"}, headers=cw)
    assert_problem(unknown_commune, 422)

    assert snapshot(engine_) == before
    confirmed = client.post("/api/v1/children", json={**CHILD, "confirm_duplicate": True}, headers=cw)
    assert confirmed.status_code == 201 and confirmed.json()["id"] != first["id"]


def test_http_level_problems(client: TestClient, people: People) -> None:
    assert_problem(client.get("/api/v1/nowhere", headers=people["caseworker"]), 404, "not_found")
    assert_problem(client.delete("/api/v1/cases", headers=people["caseworker"]), 405, "method_not_allowed")
    unauthenticated = assert_problem(client.get("/api/v1/cases"), 401, "not_authenticated")
    assert unauthenticated["title"] == "Chưa đăng nhập"
    bad_token = client.get("/api/v1/cases", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(bad_token, 401)
    assert bad_token.headers["www-authenticate"].startswith("Bearer")
    wrong_id_type = client.get("/api/v1/cases/abc", headers=people["caseworker"])
    assert [e["field"] for e in assert_problem(wrong_id_type, 422, "validation")["errors"]] == ["case_id"]
