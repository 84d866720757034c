"""Idempotency-Key: a replay returns the first response and changes nothing; a reused key for another request
is refused."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from engine.db import transaction
from engine.models import IdempotencyRecord
from tests.api.conftest import CHILD, People, open_case, register, snapshot


def test_replayed_registration_returns_the_first_response(client: TestClient, people: People,
                                                         engine_: Engine) -> None:
    headers = {**people["caseworker"], "Idempotency-Key": "dang-ky-minh-1"}
    first = client.post("/api/v1/children", json=CHILD, headers=headers)
    assert first.status_code == 201
    before = snapshot(engine_)
    replay = client.post("/api/v1/children", json=CHILD, headers=headers)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.headers["location"] == first.headers["location"] == f"/api/v1/children/{first.json()['id']}"
    assert snapshot(engine_) == before
    # without the key the same body is a possible duplicate: the replay above really did not run again
    assert client.post("/api/v1/children", json=CHILD, headers=people["caseworker"]).status_code == 409


def test_replayed_transition_changes_nothing(client: TestClient, people: People, engine_: Engine) -> None:
    cw = people["caseworker"]
    case = open_case(client, cw, register(client, cw)["id"])
    headers = {**cw, "If-Match": f'"{case["version"]}"', "Idempotency-Key": "verify-1"}
    body = {"action": "verify", "payload": {"urgency": "urgent", "assessment": "khẩn"}}
    first = client.post(f"/api/v1/cases/{case['id']}/transitions", json=body, headers=headers)
    assert first.status_code == 200 and first.json()["version"] == case["version"] + 1
    before = snapshot(engine_)
    again = client.post(f"/api/v1/cases/{case['id']}/transitions", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert snapshot(engine_) == before


def test_same_key_for_another_request_is_refused(client: TestClient, people: People, engine_: Engine) -> None:
    headers = {**people["caseworker"], "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/children", json=CHILD, headers=headers).status_code == 201
    before = snapshot(engine_)
    other = client.post("/api/v1/children", json={**CHILD, "full_name": "Lò Văn Páo"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_mismatch"
    assert snapshot(engine_) == before


def test_keys_belong_to_one_user(client: TestClient, people: People) -> None:
    key = {"Idempotency-Key": "shared-key"}
    mine = client.post("/api/v1/children", json={**CHILD, "confirm_duplicate": True},
                       headers={**people["caseworker"], **key})
    theirs = client.post("/api/v1/children", json={**CHILD, "confirm_duplicate": True},
                         headers={**people["supervisor"], **key})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_refusal_is_not_stored(client: TestClient, people: People) -> None:
    cw = people["caseworker"]
    headers = {**cw, "Idempotency-Key": "first-try"}
    refused = client.post("/api/v1/children", json={**CHILD, "commune_code": "99999"}, headers=headers)
    assert refused.status_code == 422
    fixed = client.post("/api/v1/children", json={**CHILD, "commune_code": "99999"}, headers=headers)
    assert fixed.status_code == 422  # ran again (nothing was stored), refused again for the same reason


def test_the_fingerprint_of_a_body_with_a_password_is_keyed(client: TestClient, people: People,
                                                             engine_: Engine) -> None:
    body = {"login": "moi@19", "password": "mot-mat-khau-dai-123", "role": "caseworker", "unit_code": "19"}
    created = client.post("/api/v1/users", json=body, headers={**people["admin"], "Idempotency-Key": "u-1"})
    assert created.status_code == 201, created.text
    with transaction(engine_) as s:
        stored = s.execute(sa.select(IdempotencyRecord.path).where(IdempotencyRecord.key == "u-1")).scalar_one()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert stored.startswith("/api/v1/users#hmac-sha256=")
    assert hashlib.sha256(canonical).hexdigest() not in stored
    replay = client.post("/api/v1/users", json=body, headers={**people["admin"], "Idempotency-Key": "u-1"})
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
