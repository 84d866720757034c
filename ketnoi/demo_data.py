"""The demo province: reference data, one user of each role and a couple of children with cases.

Idempotent: running it twice changes nothing (existing users keep their passwords, existing demo children
and cases are left as they are). In development mode the demo users get fixed, printed passwords; in any
other mode each new user gets a generated password, printed once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from engine.cases import open_case, transition_case
from engine.children import ChildCreate, register_child
from engine.db import transaction
from engine.models import Case, Child, User
from engine.reference import load_reference
from engine.schema import upgrade
from engine.text import search_key
from engine.users import actor_of, add_user
from ketnoi.bootstrap import Container

DEMO_REFERENCE = Path(__file__).resolve().parent / "demo"

# login, role, unit, agency, full name, fixed password for development mode
DEMO_USERS: tuple[tuple[str, str, str, str | None, str, str], ...] = (
    ("lan@05443", "caseworker", "05443", None, "Nguyễn Thị Lan", "demo-lan-05443"),
    ("hung@tyt-05443", "agency_staff", "05443", "TYT-05443", "Trần Văn Hùng", "demo-hung-tyt"),
    ("binh@19", "supervisor", "19", None, "Lê Văn Bình", "demo-binh-19"),
    ("admin@ketnoi", "admin", "19", None, "Quản trị hệ thống", "demo-admin-19"),
)

DEMO_CHILDREN: tuple[dict[str, Any], ...] = (
    {"full_name": "Trần Văn Minh", "date_of_birth": date(2019, 5, 2), "sex": "male", "commune_code": "05443",
     "guardians": [{"name": "Nguyễn Thị Hoa", "relation": "mother", "phone": "0912345678"}],
     "disability_types": ["mobility"], "severity": "severe", "household_status": "poor"},
    {"full_name": "Hoàng Thị Mai", "date_of_birth": date(2016, 9, 14), "sex": "female", "commune_code": "05443",
     "guardians": [{"name": "Hoàng Văn Tư", "relation": "father"}],
     "disability_types": ["hearing_speech"], "severity": "mild", "household_status": "near_poor"},
)


@dataclass
class DemoResult:
    sign_ins: list[tuple[str, str, str | None]] = field(default_factory=list)  # login, role, password (new only)
    children_added: int = 0
    cases_added: int = 0


def _ensure_users(session: Session, development: bool, result: DemoResult) -> None:
    for login, role, unit, agency, full_name, fixed_password in DEMO_USERS:
        exists = session.execute(sa.select(col(User.id)).where(col(User.login) == login)).first()
        if exists:
            result.sign_ins.append((login, role, None))
            continue
        password = fixed_password if development else secrets.token_urlsafe(12)
        add_user(session, login=login, password=password, role=role, unit_code=unit, agency_code=agency,
                 full_name=full_name, email=f"{login.replace('@', '.')}@example.vn")
        result.sign_ins.append((login, role, password))


def _ensure_children(session: Session, result: DemoResult) -> None:
    caseworker = session.execute(sa.select(User).where(col(User.login) == DEMO_USERS[0][0])).scalar_one()
    actor = actor_of(caseworker)
    for index, data in enumerate(DEMO_CHILDREN):
        found = session.execute(sa.select(col(Child.id)).where(
            col(Child.name_key) == search_key(data["full_name"]), col(Child.date_of_birth) == data["date_of_birth"],
            Child.commune_code == data["commune_code"])).scalar()
        if found is not None:
            continue
        child = register_child(session, ChildCreate(**data), actor)
        result.children_added += 1
        assert child.id is not None
        if session.execute(sa.select(col(Case.id)).where(col(Case.child_id) == child.id)).first():
            continue
        case = open_case(session, child_id=child.id, actor=actor, source="school" if index == 0 else "family")
        result.cases_added += 1
        if index == 1:  # the second one has moved on to intake: verified, consents recorded, accepted
            assert case.id is not None
            domains = ["health", "education"]
            steps: list[tuple[str, dict[str, Any]]] = [
                ("verify", {"urgency": "normal", "assessment": "Nghe kém, cần hỗ trợ giao tiếp"}),
                ("record_consent", {"given_by": "guardian", "name": "Hoàng Văn Tư", "domains": domains}),
                ("record_consent", {"given_by": "child", "name": "Hoàng Thị Mai", "domains": domains}),
                ("accept_for_intake", {}),
            ]
            for action, payload in steps:
                case = transition_case(session, case.id, action, actor, case.version, payload)


def load_demo(container: Container) -> DemoResult:
    """Upgrade the schema, load the demo province, its users, children and cases (all idempotent)."""
    upgrade(container.settings.database_url)
    result = DemoResult()
    with transaction(container.db) as session:
        load_reference(session, DEMO_REFERENCE)
    with transaction(container.db) as session:
        _ensure_users(session, container.settings.environment == "development", result)
    with transaction(container.db) as session:
        _ensure_children(session, result)
    return result


def describe(result: DemoResult, base_url: str) -> str:
    lines = ["Tài khoản thử nghiệm / demo sign-ins:"]
    for login, role, password in result.sign_ins:
        shown = password if password is not None else "(đã có, giữ mật khẩu cũ / exists, password unchanged)"
        lines.append(f"  {role:13} {login:18} {shown}")
    lines.append(f"Trang / pages: {base_url}/app/   API: {base_url}/api/v1/docs")
    return "\n".join(lines)
