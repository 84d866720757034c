"""The pages' session cookie and CSRF token.

itsdangerous is not installed (starlette's SessionMiddleware needs it), so the cookie is signed here with
HMAC-SHA256 from the standard library: ``base64(json).signature``. The key is derived from
``Settings.secret_key`` with a purpose string, so a token signed for the API can never pass as a page session.
The cookie holds only the user id, an issue time, the last activity and the per-session CSRF token; nothing
about a child. A session ends 12 hours after sign-in, or after 30 minutes without a page request
(``SESSION_IDLE``): each page request moves it on (``RefreshSessionCookie``).
The issue time is kept to the microsecond: a session begun just after signing out or changing the password, in
the same second, is still newer than the user's ``sessions_valid_after`` (``engine.users.session_is_current``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response

SESSION_COOKIE = "ketnoi_session"
LANGUAGE_COOKIE = "ketnoi_lang"
SESSION_LIFETIME = timedelta(hours=12)
# A session unused this long ends (a borrowed phone left on a table): each page request within it moves it on,
# at most once a minute (``SESSION_TOUCH``), by a fresh cookie with the same session in it.
SESSION_IDLE = timedelta(minutes=30)
SESSION_TOUCH = timedelta(minutes=1)
_PURPOSE = b"ketnoi-pages-session-v1"


@dataclass(frozen=True)
class PageSession:
    user_id: int
    csrf: str
    issued_at: float  # unix seconds, to the microsecond
    active_at: float = 0.0  # the last request that moved it on (unix seconds); 0: as issued

    @property
    def last_active(self) -> float:
        return max(self.active_at, self.issued_at)


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed(secret_key: str, session: PageSession) -> str:
    body = _b64(json.dumps({"u": session.user_id, "c": session.csrf, "t": session.issued_at,
                            "a": session.active_at}).encode())
    signature = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def sign_session(secret_key: str, user_id: int, now: datetime) -> tuple[str, PageSession]:
    session = PageSession(user_id=user_id, csrf=secrets.token_urlsafe(32), issued_at=now.timestamp(),
                          active_at=now.timestamp())
    return _signed(secret_key, session), session


def touched_session(secret_key: str, session: PageSession, now: datetime) -> str | None:
    """The cookie that moves ``session`` on to ``now`` (same user, CSRF token and issue time), or None when it
    was moved on less than ``SESSION_TOUCH`` ago."""
    if now.timestamp() - session.last_active < SESSION_TOUCH.total_seconds():
        return None
    return _signed(secret_key, PageSession(session.user_id, session.csrf, session.issued_at, now.timestamp()))


def read_session(secret_key: str, cookie: str | None, now: datetime) -> PageSession | None:
    """The session in a cookie, or None when it is missing, forged, malformed or expired."""
    if not cookie or "." not in cookie:
        return None
    body, signature = cookie.rsplit(".", 1)
    expected = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        data = json.loads(_unb64(body))
        session = PageSession(user_id=int(data["u"]), csrf=str(data["c"]), issued_at=float(data["t"]),
                              active_at=float(data.get("a") or 0.0))
    except (ValueError, KeyError, TypeError):
        return None
    age = now.timestamp() - session.issued_at
    if age < 0 or age > SESSION_LIFETIME.total_seconds():
        return None
    if now.timestamp() - session.last_active > SESSION_IDLE.total_seconds():
        return None  # left unused too long: sign in again
    return session


def csrf_matches(session: PageSession | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf, submitted)


class RefreshSessionCookie:
    """Sets the cookie a page request left in ``request.state.page_session_cookie`` (the session moved on), unless
    the response sets the session cookie itself (signing in or out, a password change). A plain ASGI middleware."""

    def __init__(self, app: Any, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Any) -> None:
            cookie = (scope.get("state") or {}).get("page_session_cookie")
            if message["type"] == "http.response.start" and cookie:
                headers = list(message.get("headers", []))
                own = any(name.lower() == b"set-cookie" and value.startswith(SESSION_COOKIE.encode() + b"=")
                          for name, value in headers)
                if not own:
                    carrier = Response()
                    carrier.set_cookie(SESSION_COOKIE, cookie, max_age=int(SESSION_LIFETIME.total_seconds()),
                                       httponly=True, samesite="lax", secure=self.secure, path="/")
                    headers += [(n, v) for n, v in carrier.raw_headers if n == b"set-cookie"]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
