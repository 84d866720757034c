"""Sign-in: argon2-checked passwords, short-lived signed tokens, repeated failures slowed down."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from api.app import create_app
from api.auth import MAX_FAILURES, MAX_FAILURES_PER_ADDRESS, WINDOW, authenticate
from engine.db import transaction, utcnow
from engine.settings import Settings
from ketnoi.bootstrap import Container
from tests.api.conftest import TEST_SECRET
from tests.support.people import PASSWORD, make_user

TOKEN = "/api/v1/auth/token"


def test_sign_in_issues_a_short_lived_token(client: TestClient, engine_: Engine) -> None:
    make_user(engine_, "lan@05443", "caseworker")
    response = client.post(TOKEN, data={"username": "lan@05443", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 30 * 60
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"])
    # iat to the microsecond (sign-out compares it with the user's sessions_valid_after), exp in whole seconds
    assert 30 * 60 - 1 < claims["exp"] - claims["iat"] <= 30 * 60 and claims["role"] == "caseworker"
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["login"] == "lan@05443"


def test_wrong_password_and_forged_or_expired_tokens(client: TestClient, engine_: Engine) -> None:
    actor = make_user(engine_, "lan@05443", "caseworker")
    wrong = client.post(TOKEN, data={"username": "lan@05443", "password": "sai-mat-khau"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert wrong.json()["title"] == "Chưa đăng nhập"
    now = utcnow()
    claims = {"sub": str(actor.user_id), "iat": now, "exp": now + timedelta(minutes=5), "typ": "access"}
    forged = jwt.encode(claims, "another-secret-of-sufficient-length-123", algorithm="HS256")
    expired = jwt.encode({**claims, "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)}, TEST_SECRET,
                         algorithm="HS256")
    good = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    for token, status in ((forged, 401), (expired, 401), (good, 200)):
        response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status, token


def test_repeated_failures_are_slowed_down(client: TestClient, engine_: Engine) -> None:
    make_user(engine_, "lan@05443", "caseworker")
    for _ in range(MAX_FAILURES):
        assert client.post(TOKEN, data={"username": "lan@05443", "password": "doan-mo"}).status_code == 401
    locked = client.post(TOKEN, data={"username": "lan@05443", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(locked.headers["retry-after"]) <= WINDOW.total_seconds()
    # another login is not affected
    make_user(engine_, "hung@tyt", "agency_staff", agency="TYT-05443")
    assert client.post(TOKEN, data={"username": "hung@tyt", "password": PASSWORD}).status_code == 200


def test_many_logins_tried_from_one_address_are_slowed_down_there_only(
    client: TestClient, container: Container, engine_: Engine
) -> None:
    """Password spraying: one address trying one password on many logins meets the limit per address, though no
    login reached its own; the known user, from their own address, still signs in."""
    make_user(engine_, "lan@05443", "caseworker")
    for n in range(MAX_FAILURES_PER_ADDRESS):
        sprayed = client.post(TOKEN, data={"username": f"nguoi-{n}@05443", "password": "Matkhau@123"})
        assert sprayed.status_code == 401
    stopped = client.post(TOKEN, data={"username": "lan@05443", "password": PASSWORD})  # even a right one
    assert stopped.status_code == 429 and 0 < int(stopped.headers["retry-after"]) <= WINDOW.total_seconds()
    with TestClient(create_app(container), client=("203.0.113.7", 40000)) as elsewhere:
        assert elsewhere.post(TOKEN, data={"username": "lan@05443", "password": PASSWORD}).status_code == 200


def test_the_window_passes(engine_: Engine) -> None:
    make_user(engine_, "lan@05443", "caseworker")
    start = utcnow()
    with transaction(engine_) as s:
        for i in range(MAX_FAILURES):
            assert not authenticate(s, "lan@05443", "wrong", now=start + timedelta(seconds=i)).ok
    with transaction(engine_) as s:
        refused = authenticate(s, "lan@05443", PASSWORD, now=start + timedelta(minutes=1))
        assert refused.retry_after is not None and not refused.ok
    with transaction(engine_) as s:
        later = authenticate(s, "lan@05443", PASSWORD, now=start + WINDOW + timedelta(seconds=MAX_FAILURES))
        assert later.ok and later.user is not None


def test_placeholder_secret_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key="changeme")
    assert Settings(environment="development").secret_key  # the development default is allowed


def test_a_token_checked_before_is_still_refused_once_expired(engine_: Engine) -> None:
    """The signature check is remembered; the expiry is read against the clock on every request."""
    from api.auth import issue_token, user_from_token
    from engine.models import User

    actor = make_user(engine_, "lan@05443", "caseworker")
    settings = Settings(environment="test", secret_key=TEST_SECRET)
    issued = utcnow()
    with transaction(engine_) as s:
        user = s.get(User, actor.user_id)
        assert user is not None
        token = issue_token(user, settings, now=issued)
        assert user_from_token(s, token, settings, now=issued + timedelta(minutes=29)) is not None
        assert user_from_token(s, token, settings, now=issued + timedelta(minutes=30)) is None
        assert user_from_token(s, token, settings, now=issued + timedelta(minutes=1)) is not None
        other = Settings(environment="test", secret_key="another-secret-of-sufficient-length-12345")
        assert user_from_token(s, token, other, now=issued) is None


def test_signing_out_ends_the_token_and_a_new_sign_in_works(client: TestClient, engine_: Engine) -> None:
    make_user(engine_, "lan@05443", "caseworker")

    def token() -> dict[str, str]:
        body = client.post(TOKEN, data={"username": "lan@05443", "password": PASSWORD}).json()
        return {"Authorization": f"Bearer {body['access_token']}"}

    first, second = token(), token()  # two devices
    assert client.post("/api/v1/auth/logout", headers=first).status_code == 204
    for old in (first, second):  # signed out everywhere
        assert client.get("/api/v1/users/me", headers=old).status_code == 401
    assert client.post("/api/v1/auth/logout").status_code == 401
    assert client.get("/api/v1/users/me", headers=token()).status_code == 200
