"""Users and their passwords (argon2 hashes)."""

from __future__ import annotations

import os
from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from engine.errors import InvalidInput
from engine.i18n import both
from engine.machine import Actor
from engine.models import Agency, Unit, User

USER_ROLES = ("caseworker", "agency_staff", "supervisor", "admin")
# RFC 9106's low-memory profile in real use. The test suite asks for argon2's cheapest parameters through
# KETNOI_PASSWORD_HASHING (Settings refuses that outside development and test): hundreds of test users would
# otherwise spend minutes hashing. A hash records its own parameters, so verifying works either way.
PASSWORD_HASHING_PROFILES = {"default": profiles.RFC_9106_LOW_MEMORY, "fast-for-tests": profiles.CHEAPEST}


@cache
def _hasher(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(PASSWORD_HASHING_PROFILES[profile])


def _profile() -> str:
    name = os.environ.get("KETNOI_PASSWORD_HASHING", "default")
    return name if name in PASSWORD_HASHING_PROFILES else "default"


def hash_password(password: str) -> str:
    return _hasher(_profile()).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher("default").verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(
    session: Session, *, login: str, password: str, role: str, unit_code: str, agency_code: str | None = None,
    full_name: str = "", email: str | None = None, language: str = "vi",
) -> User:
    if role not in USER_ROLES:
        raise InvalidInput(detail=both(f"vai trò phải là một trong {', '.join(USER_ROLES)}",
                                         f"role must be one of {', '.join(USER_ROLES)}"))
    if len(password) < 8:
        raise InvalidInput(detail=both("mật khẩu cần ít nhất 8 ký tự", "password must have at least 8 characters"))
    if session.get(Unit, unit_code) is None:
        raise InvalidInput(detail=both(f"không có đơn vị «{unit_code}»", f"unknown unit '{unit_code}'"))
    if role == "agency_staff" and not agency_code:
        raise InvalidInput(detail=both("cán bộ cơ quan cần có mã cơ quan", "agency staff need an agency code"))
    if agency_code is not None and session.get(Agency, agency_code) is None:
        raise InvalidInput(detail=both(f"không có cơ quan «{agency_code}»", f"unknown agency '{agency_code}'"))
    if session.exec(select(User).where(User.login == login)).first() is not None:
        raise InvalidInput(detail=both(f"tên đăng nhập «{login}» đã có người dùng", f"login '{login}' is taken"))
    user = User(
        login=login, full_name=full_name or login, password_hash=hash_password(password), role=role,
        unit_code=unit_code, agency_code=agency_code, email=email, language=language,
    )
    session.add(user)
    session.flush()
    return user


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.id, role=user.role, unit_code=user.unit_code, agency_code=user.agency_code,
                 login=user.login)
