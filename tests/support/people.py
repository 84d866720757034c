"""Test helpers that make people and children through the real service functions."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from engine.children import ChildCreate, register_child
from engine.db import transaction
from engine.machine import Actor
from engine.users import actor_of, add_user

DEMO_PROVINCE = "19"
COMMUNE_A = "05443"  # Phường Phan Đình Phùng, Thái Nguyên
COMMUNE_B = "05710"  # Phường Linh Sơn, Thái Nguyên
PASSWORD = "mat-khau-thu-nghiem"


def make_user(db: Engine, login: str, role: str, unit: str = COMMUNE_A, agency: str | None = None) -> Actor:
    with transaction(db) as s:
        user = add_user(s, login=login, password=PASSWORD, role=role, unit_code=unit, agency_code=agency,
                        email=f"{login}@example.vn")
        return actor_of(user)


def make_child(db: Engine, actor: Actor, **overrides: Any) -> int:
    data: dict[str, Any] = {
        "full_name": "Trần Văn Minh", "date_of_birth": date(2019, 5, 2), "sex": "male",
        "commune_code": COMMUNE_A, "guardians": [{"name": "Nguyễn Thị Hoa", "relation": "mother"}],
        "disability_types": ["mobility"], "severity": "severe", "household_status": "poor",
    }
    data.update(overrides)
    with transaction(db) as s:
        child = register_child(s, ChildCreate(**data), actor, confirm_duplicate=True)
        assert child.id is not None
        return child.id
