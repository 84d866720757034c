"""Sign-in: the OAuth2 password flow issuing short-lived JWT bearer tokens (HS256, the configured secret).

``authenticate`` is the one place sign-ins are checked and failed ones slowed down, so the pages can reuse it
behind a session cookie; ``change_own_password`` slows down guessing through a password change the same way,
for the API and the pages alike. After ``MAX_FAILURES`` failed attempts for one login within ``WINDOW``
(counted since its last success), further attempts are refused with 429 and a Retry-After until the oldest
counted failure leaves the window; refused attempts are not verified at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from math import ceil
from typing import Annotated, Any

import jwt
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col

from api.deps import ContainerDep, CurrentUser, DbSession
from api.problems import ApiProblem
from engine.db import transaction, utcnow
from engine.errors import InvalidInput
from engine.models import LoginAttempt, User
from engine.settings import Settings
from engine.users import change_password, hash_password, session_is_current, sign_out_everywhere, verify_password

MAX_FAILURES = 5  # per login: one person's password guessed
MAX_FAILURES_PER_ADDRESS = 20  # per client address: many logins tried from one place (password spraying)
WINDOW = timedelta(minutes=15)
ALGORITHM = "HS256"
# verified when the login is unknown, so a wrong login costs the same time as a wrong password
_DUMMY_HASH = hash_password("not-a-real-password-for-timing")

router = APIRouter(prefix="/auth", tags=["auth"])
# every request signs in through this one, so it is built once
_USER_BY_ID = sa.select(User).where(col(User.id) == sa.bindparam("user_id"))


@dataclass(frozen=True)
class SignIn:
    """The outcome of checking a user's password: the user, or None; refused unchecked after too many failures."""

    user: User | None
    retry_after: int | None = None  # seconds, when refused for too many failures

    @property
    def ok(self) -> bool:
        return self.user is not None


def _retry_after(session: Session, login: str, now: datetime) -> int | None:
    last_ok = (
        sa.select(sa.func.max(col(LoginAttempt.at)))
        .where(col(LoginAttempt.login) == login, col(LoginAttempt.ok).is_(True))
        .scalar_subquery()
    )
    since = now - WINDOW
    failures = list(session.execute(
        sa.select(col(LoginAttempt.at))
        .where(col(LoginAttempt.login) == login, col(LoginAttempt.ok).is_(False), col(LoginAttempt.at) > since,
               sa.or_(last_ok.is_(None), LoginAttempt.at > last_ok))
        .order_by(LoginAttempt.at.desc())  # type: ignore[attr-defined]
        .limit(MAX_FAILURES)
    ).scalars())
    if len(failures) < MAX_FAILURES:
        return None
    free_at = failures[-1] + WINDOW
    return max(1, ceil((free_at - now).total_seconds()))


def _address_retry_after(session: Session, ip: str | None, now: datetime) -> int | None:
    """Seconds to wait when ``ip`` failed ``MAX_FAILURES_PER_ADDRESS`` times within the window, whatever logins it
    tried; a success does not clear it (a spraying address may know one password)."""
    if not ip:
        return None
    failures = list(session.execute(
        sa.select(col(LoginAttempt.at))
        .where(col(LoginAttempt.ip) == ip, col(LoginAttempt.ok).is_(False), col(LoginAttempt.at) > now - WINDOW)
        .order_by(col(LoginAttempt.at).desc())
        .limit(MAX_FAILURES_PER_ADDRESS)
    ).scalars())
    if len(failures) < MAX_FAILURES_PER_ADDRESS:
        return None
    return max(1, ceil((failures[-1] + WINDOW - now).total_seconds()))


def authenticate(session: Session, login: str, password: str, *, ip: str | None = None,
                 now: datetime | None = None) -> SignIn:
    """Check a sign-in from client address ``ip`` and record the attempt in ``session`` (commit it even when the
    sign-in fails). Refused without checking while the login, or the address, has failed too often lately."""
    now = now or utcnow()
    login = login.strip()
    retry_after = _retry_after(session, login, now) or _address_retry_after(session, ip, now)
    if retry_after is not None:
        return SignIn(None, retry_after)
    user = session.execute(sa.select(User).where(col(User.login) == login)).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password) and bool(user and user.active)
    session.add(LoginAttempt(login=login, at=now, ok=ok, ip=ip))
    session.flush()
    return SignIn(user if ok else None)


def client_address(request: Request) -> str | None:
    """The client's address as the server sees it (behind a reverse proxy, run uvicorn with its proxy headers
    trusted, so that this is the client's and not the proxy's)."""
    return request.client.host if request.client else None


def throttled(session: Session, login: str, *, now: datetime | None = None) -> int | None:
    """Seconds to wait when ``login`` has failed too often to be checked now (a sign-in or another password check,
    such as the current password of a password change), else None."""
    return _retry_after(session, login.strip(), now or utcnow())


def record_failed_check(db: sa.Engine, login: str, *, now: datetime | None = None) -> None:
    """Count a wrong password given for ``login`` outside a sign-in, in its own transaction (the request's own is
    rolled back by the refusal), so that guessing through another form is slowed down as signing in is."""
    with transaction(db) as session:
        session.add(LoginAttempt(login=login.strip(), at=now or utcnow(), ok=False))


def change_own_password(session: Session, db: sa.Engine, *, user: User, current_password: str, new_password: str,
                        now: datetime | None = None) -> SignIn:
    """A signed-in user changes their own password, giving the current one, slowed down as signing in is.

    While the login has failed too often, nothing is checked: ``SignIn(None, retry_after)``. A wrong current
    password is counted as a failed sign-in before the refusal is raised again: ``session``'s transaction is
    rolled back first (nothing was written, and on SQLite it holds the write lock), and the failure is written in a
    transaction of its own, which the refusal does not undo. The engine's other refusals are raised as they are.
    """
    assert user.id is not None
    login = user.login  # read before the rollback below expires the user, whose reload would begin a transaction
    if (retry_after := throttled(session, login, now=now)) is not None:
        return SignIn(None, retry_after)
    try:
        changed = change_password(session, user_id=user.id, current_password=current_password,
                                  new_password=new_password, now=now)
    except InvalidInput as refused:
        if refused.code == "password.wrong_current":
            session.rollback()
            record_failed_check(db, login, now=now)
        raise
    return SignIn(changed)


def issue_token(user: User, settings: Settings, *, now: datetime | None = None) -> str:
    now = now or utcnow()
    # iat to the microsecond (RFC 7519 allows a fractional NumericDate): a token issued just after a sign-out or a
    # password change, in the same second, must still be newer than the user's ``sessions_valid_after``
    claims: dict[str, Any] = {
        "sub": str(user.id), "role": user.role, "iat": now.timestamp(),
        "exp": now + timedelta(minutes=settings.access_token_minutes), "typ": "access",
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


@lru_cache(maxsize=4096)
def _signed_access_claims(token: str, secret: str) -> tuple[int, float, float] | None:
    """(user id, expiry, issue time; POSIX times) of a well-signed access token, or None; its expiry is not
    checked here.

    Every request of a signed-in user carries the same token, and checking its signature is pure: the answer is
    kept (bounded; keyed by the secret too), and only the clock is read again on each request.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "iat"], "verify_exp": False})
        if claims.get("typ") != "access":
            return None
        return int(claims["sub"]), float(claims["exp"]), float(claims["iat"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def user_from_token(session: Session, token: str, settings: Settings, *, now: datetime | None = None) -> User | None:
    """The active user a valid, unexpired token names, or None: a token issued before the user last signed out,
    changed or was given a password, or was deactivated, is refused (``User.sessions_valid_after``)."""
    signed = _signed_access_claims(token, settings.secret_key)
    if signed is None:
        return None
    user_id, expires, issued = signed
    if expires <= (now or utcnow()).timestamp():  # as PyJWT: expired from the second it names
        return None
    user = session.execute(_USER_BY_ID, {"user_id": user_id}).scalar_one_or_none()
    if user is None or not session_is_current(user, issued):
        return None
    return user


class Token(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"access_token": "eyJhbGciOiJIUzI1NiIs...", "token_type": "bearer", "expires_in": 1800}
    ]})
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post(
    "/token", response_model=Token, summary="Sign in (OAuth2 password flow)",
    responses={401: {"description": "wrong login or password"}, 429: {"description": "too many failed sign-ins"}},
)
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], container: ContainerDep,
            request: Request) -> Token:
    """Exchange a login and password for a short-lived bearer token (`username=lan&password=...`)."""
    with transaction(container.db) as session:  # its own transaction: failed attempts must be kept
        result = authenticate(session, form.username, form.password, ip=client_address(request))
    if result.retry_after is not None:
        raise ApiProblem(429, "api.too_many_attempts", headers={"Retry-After": str(result.retry_after)},
                         seconds=result.retry_after)
    if result.user is None:
        raise ApiProblem(401, "api.bad_credentials", headers={"WWW-Authenticate": "Bearer"})
    settings = container.settings
    return Token(access_token=issue_token(result.user, settings), expires_in=settings.access_token_minutes * 60)


@router.post("/logout", status_code=204, summary="Sign out everywhere",
             responses={401: {"description": "not signed in"}})
def sign_out(user: CurrentUser, session: DbSession) -> Response:
    """End every bearer token and page session of the signed-in user, on every device (as the pages' sign-out)."""
    assert user.id is not None
    sign_out_everywhere(session, user_id=user.id)
    return Response(status_code=204)
