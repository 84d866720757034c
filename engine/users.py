"""Users and their passwords (argon2 hashes), and their administration.

One service function per use case; each works in the caller's session (one transaction) and records what it
did in the user administration trail (``engine.audit.append_user_event``), never the password.

Who may administer whom: an administrator, the users whose unit lies in their own unit's subtree (outside it a
user, a unit or an agency is "not found", as everywhere else); ``Actor.system()``, an operator at the server
(the command line), everyone. A user changes their own password by giving the current one.

Sessions: ``User.sessions_valid_after`` is the instant before which every page session and bearer token of the
user is refused. Signing out, a password change or reset and a deactivation move it to their own instant.
"""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.audit import append_user_event, user_timeline
from engine.children import subtree_condition
from engine.db import utcnow
from engine.errors import InvalidInput, NotFound, TransitionRefused
from engine.i18n import both, register
from engine.machine import Actor
from engine.models import Agency, Unit, User, UserEvent
from engine.text import search_key

USER_ROLES = ("caseworker", "agency_staff", "supervisor", "admin")
# RFC 9106's low-memory profile in real use. The test suite asks for argon2's cheapest parameters through
# KETNOI_PASSWORD_HASHING (Settings refuses that outside development and test): hundreds of test users would
# otherwise spend minutes hashing. A hash records its own parameters, so verifying works either way.
PASSWORD_HASHING_PROFILES = {"default": profiles.RFC_9106_LOW_MEMORY, "fast-for-tests": profiles.CHEAPEST}
# NIST SP 800-63B: at least 8 characters, no composition rules, refuse common and context-specific passwords
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200  # long passphrases are welcome; this only bounds the work of hashing one
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common_passwords.txt"
_CONTAINED_MIN = 4  # a login or name shorter than this is refused only as the whole password, not inside it

register({
    "password.too_short": {
        "vi": "Mật khẩu cần ít nhất {minimum} ký tự.",
        "en": "The password must have at least {minimum} characters.",
    },
    "password.too_long": {
        "vi": "Mật khẩu chỉ được dài tối đa {maximum} ký tự.",
        "en": "The password must have at most {maximum} characters.",
    },
    "password.has_login": {
        "vi": "Mật khẩu không được là hay chứa tên đăng nhập.",
        "en": "The password must not be or contain the login.",
    },
    "password.has_name": {
        "vi": "Mật khẩu không được là hay chứa họ tên của người dùng.",
        "en": "The password must not be or contain the person's name.",
    },
    "password.too_common": {
        "vi": "Mật khẩu này quá phổ biến, dễ bị đoán. Hãy chọn mật khẩu khác, ví dụ một câu gồm vài từ.",
        "en": "This password is too common and easily guessed. Choose another, for example a phrase of a few words.",
    },
    "password.wrong_current": {
        "vi": "Mật khẩu hiện tại không đúng.",
        "en": "The current password is wrong.",
    },
    "user.not_yourself": {
        "vi": "Bạn không thể {action} tài khoản của chính mình.",
        "en": "You cannot {action} your own account.",
    },
})


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


# --- password rules -------------------------------------------------------------------------------


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case); lines starting with # are comments."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def check_password(password: str, *, login: str, full_name: str = "") -> None:
    """Refuse a password that is too short or long, is or contains the login or the person's name, or is common.

    Compared without regard to case, diacritics or spaces: "Nguyễn Thị Lan 1" contains the name "Nguyen Thi Lan".
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password.too_short", minimum=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password.too_long", maximum=MAX_PASSWORD_LENGTH)
    compact = search_key(password).replace(" ", "")
    for code, value in (("password.has_login", login), ("password.has_name", full_name)):
        own = search_key(value).replace(" ", "")
        if own and (compact == own or (len(own) >= _CONTAINED_MIN and own in compact)):
            raise InvalidInput(code)
    if password.strip().casefold() in common_passwords() or compact in common_passwords():
        raise InvalidInput("password.too_common")


# --- who administers whom -------------------------------------------------------------------------

_MANAGE_USERS = both("quản lý người dùng", "manage users")


def _check_administrator(actor: Actor) -> None:
    if actor.role not in ("admin", "system"):
        raise TransitionRefused("role_not_allowed", role=actor.role, action=_MANAGE_USERS)


def _in_area(actor: Actor, column: object) -> sa.ColumnElement[bool]:
    """``column`` (a unit code) lies in the administrator's subtree; anywhere for an operator at the server."""
    if actor.role == "system":
        return sa.true()
    if not actor.unit_code:
        return sa.false()
    return subtree_condition(column, actor.unit_code)


def check_unit_administered(session: Session, actor: Actor, unit_code: str) -> None:
    """``unit_code`` names a unit inside the administrator's subtree: unknown is a clear refusal, outside it is not
    found (as any record outside one's scope). Users and agencies are placed only there."""
    if session.get(Unit, unit_code) is None:
        raise InvalidInput(detail=both(f"không có đơn vị «{unit_code}»", f"unknown unit '{unit_code}'"))
    if session.exec(select(Unit.code).where(col(Unit.code) == unit_code, _in_area(actor, Unit.code))).first() is None:
        raise NotFound(what=f"unit {unit_code}")


def list_users(
    session: Session, actor: Actor, *, role: str | None = None, active: bool | None = None, limit: int = 200,
    offset: int = 0,
) -> list[User]:
    """The users of the administrator's area, by login."""
    _check_administrator(actor)
    stmt = select(User).where(_in_area(actor, User.unit_code))
    if role is not None:
        stmt = stmt.where(col(User.role) == role)
    if active is not None:
        stmt = stmt.where(col(User.active).is_(active))
    return list(session.exec(stmt.order_by(col(User.login)).offset(offset).limit(limit)))


def user_in_area(session: Session, actor: Actor, user_id: int) -> User:
    """The user, when the actor administers them; else NotFound (absent and out of reach look the same)."""
    _check_administrator(actor)
    user = session.exec(select(User).where(col(User.id) == user_id, _in_area(actor, User.unit_code))).first()
    if user is None:
        raise NotFound(what=f"user {user_id}")
    return user


def user_trail(session: Session, actor: Actor, user_id: int) -> list[UserEvent]:
    """What was done to a user the actor administers (created, deactivated, a password set...), oldest first."""
    return user_timeline(session, user_in_area(session, actor, user_id).id or 0)


def user_by_login(session: Session, login: str) -> User:
    """The user signing in as ``login`` (for the command line, which names users by login)."""
    user = session.exec(select(User).where(col(User.login) == login.strip())).first()
    if user is None:
        raise NotFound(what=f"user {login}")
    return user


def _end_sessions(user: User, now: datetime) -> None:
    if user.sessions_valid_after is None or user.sessions_valid_after < now:
        user.sessions_valid_after = now


def session_is_current(user: User, issued_at: float) -> bool:
    """Whether a page session or token issued at ``issued_at`` (POSIX seconds) may still be used by ``user``."""
    if not user.active:
        return False
    return user.sessions_valid_after is None or issued_at >= user.sessions_valid_after.timestamp()


# --- use cases ------------------------------------------------------------------------------------


def add_user(
    session: Session, *, login: str, password: str, role: str, unit_code: str, agency_code: str | None = None,
    full_name: str = "", email: str | None = None, language: str = "vi", actor: Actor | None = None,
    now: datetime | None = None,
) -> User:
    """Create a user. An administrator may place them only in their own subtree (an agency's staff: an agency
    located there). ``actor`` None is an operator at the server (the command line, the demo)."""
    actor = actor or Actor.system()
    _check_administrator(actor)
    if role not in USER_ROLES:
        raise InvalidInput(detail=both(f"vai trò phải là một trong {', '.join(USER_ROLES)}",
                                         f"role must be one of {', '.join(USER_ROLES)}"))
    check_password(password, login=login, full_name=full_name)
    check_unit_administered(session, actor, unit_code)
    if role == "agency_staff" and not agency_code:
        raise InvalidInput(detail=both("cán bộ cơ quan cần có mã cơ quan", "agency staff need an agency code"))
    if agency_code is not None and role != "agency_staff":
        raise InvalidInput(detail=both("chỉ cán bộ cơ quan mới có mã cơ quan", "only agency staff have an agency code"))
    if agency_code is not None:
        agency = session.get(Agency, agency_code)
        if agency is None:
            raise InvalidInput(detail=both(f"không có cơ quan «{agency_code}»", f"unknown agency '{agency_code}'"))
        in_area = select(Agency.code).where(col(Agency.code) == agency_code, _in_area(actor, Agency.unit_code))
        if session.exec(in_area).first() is None:
            raise NotFound(what=f"agency {agency_code}")
        if agency.unit_code != unit_code:  # staff belong where their agency is seated, as its supervisors see it
            raise InvalidInput(detail=both(
                f"cán bộ của «{agency_code}» thuộc đơn vị nơi cơ quan đặt trụ sở, «{agency.unit_code}»",
                f"staff of '{agency_code}' belong to the unit where it is seated, '{agency.unit_code}'"))
    taken = InvalidInput(detail=both(f"tên đăng nhập «{login}» đã có người dùng", f"login '{login}' is taken"))
    if session.exec(select(User).where(User.login == login)).first() is not None:
        raise taken
    user = User(
        login=login, full_name=full_name or login, password_hash=hash_password(password), role=role,
        unit_code=unit_code, agency_code=agency_code, email=email, language=language,
    )
    try:
        with session.begin_nested():  # two administrators adding one login at once: the loser is told so
            session.add(user)
    except IntegrityError:
        raise taken from None
    assert user.id is not None
    append_user_event(session, user_id=user.id, action="created", actor=actor, at=now or utcnow(), payload={
        "login": login, "role": role, "unit_code": unit_code, "agency_code": agency_code})
    return user


def deactivate_user(session: Session, *, user_id: int, actor: Actor, now: datetime | None = None) -> User:
    """Stop a user signing in; their sessions and tokens end at once. Deactivating an inactive user changes
    nothing. An administrator cannot deactivate themselves (no one would be left to undo it)."""
    user = user_in_area(session, actor, user_id)
    if user.id == actor.user_id:
        raise InvalidInput("user.not_yourself", action=both("vô hiệu hóa", "deactivate"))
    if user.active:
        now = now or utcnow()
        user.active = False
        _end_sessions(user, now)
        session.add(user)
        append_user_event(session, user_id=user_id, action="deactivated", actor=actor, at=now)
    return user


def reactivate_user(session: Session, *, user_id: int, actor: Actor, now: datetime | None = None) -> User:
    """Let a deactivated user sign in again (sessions from before the deactivation stay ended)."""
    user = user_in_area(session, actor, user_id)
    if not user.active:
        user.active = True
        session.add(user)
        append_user_event(session, user_id=user_id, action="reactivated", actor=actor, at=now or utcnow())
    return user


def reset_password(
    session: Session, *, user_id: int, new_password: str, actor: Actor, now: datetime | None = None
) -> User:
    """An administrator sets another user's password (e.g. a forgotten one); that user's sessions end. One's own
    password is changed with ``change_password``, which asks for the current one."""
    user = user_in_area(session, actor, user_id)
    if user.id == actor.user_id:
        raise InvalidInput("user.not_yourself", action=both("đặt lại mật khẩu cho", "reset the password of"))
    check_password(new_password, login=user.login, full_name=user.full_name)
    now = now or utcnow()
    user.password_hash = hash_password(new_password)
    _end_sessions(user, now)
    session.add(user)
    append_user_event(session, user_id=user_id, action="password_reset", actor=actor, at=now)
    return user


def change_password(
    session: Session, *, user_id: int, current_password: str, new_password: str, now: datetime | None = None
) -> User:
    """A user changes their own password, giving the current one. Every session of theirs ends, this one too:
    the caller signs them in again (the pages do, with a new session; an API client asks for a new token)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(what=f"user {user_id}")
    if not verify_password(user.password_hash, current_password):
        raise InvalidInput("password.wrong_current")
    check_password(new_password, login=user.login, full_name=user.full_name)
    now = now or utcnow()
    user.password_hash = hash_password(new_password)
    _end_sessions(user, now)
    session.add(user)
    append_user_event(session, user_id=user_id, action="password_changed", actor=actor_of(user), at=now)
    return user


def sign_out_everywhere(session: Session, *, user_id: int, now: datetime | None = None) -> None:
    """End every page session and bearer token of the user issued until now, on every device (signing out)."""
    user = session.get(User, user_id)
    if user is not None:
        _end_sessions(user, now or utcnow())
        session.add(user)
        session.flush()


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.id, role=user.role, unit_code=user.unit_code, agency_code=user.agency_code,
                 login=user.login)
