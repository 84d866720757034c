"""``ketnoi serve --demo``'s data: one user of each role who can sign in, demo cases; running it twice changes
nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from engine.settings import Settings
from ketnoi.bootstrap import Container
from ketnoi.demo_data import DEMO_USERS, describe, load_demo
from tests.api.conftest import TEST_SECRET, sign_in, snapshot


def test_demo_is_idempotent_and_its_sign_ins_work(tmp_path: Path) -> None:
    container = Container(Settings(environment="test", data_dir=tmp_path, secret_key=TEST_SECRET))
    try:
        first = load_demo(container)
        assert {role for _, role, _ in first.sign_ins} == {"caseworker", "agency_staff", "supervisor", "admin"}
        assert all(password for _, _, password in first.sign_ins)  # generated: printed once
        assert {p for _, _, p in first.sign_ins}.isdisjoint({u[5] for u in DEMO_USERS})  # not the fixed ones
        assert first.children_added == 2 and first.cases_added == 2
        before = snapshot(container.db)

        second = load_demo(container)
        assert second.children_added == second.cases_added == 0
        assert all(password is None for _, _, password in second.sign_ins)
        assert "giữ mật khẩu cũ" in describe(second, "http://127.0.0.1:8000")
        assert snapshot(container.db) == before

        with TestClient(create_app(container)) as client:
            for login, role, password in first.sign_ins:
                assert password is not None
                me = client.get("/api/v1/users/me", headers=sign_in(client, login, password)).json()
                assert me["role"] == role
            lan = sign_in(client, "lan@05443", dict((u, p) for u, _, p in first.sign_ins)["lan@05443"] or "")
            steps = sorted(c["step"] for c in client.get("/api/v1/cases", headers=lan).json())
            assert steps == ["needs_assessment", "reported"]
    finally:
        container.dispose()


def test_development_mode_uses_the_fixed_demo_passwords(tmp_path: Path) -> None:
    container = Container(Settings(environment="development", data_dir=tmp_path))
    try:
        result = load_demo(container)
        assert {(login, password) for login, _, password in result.sign_ins} == {(u[0], u[5]) for u in DEMO_USERS}
    finally:
        container.dispose()
