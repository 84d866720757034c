"""The pages' session cookie and CSRF token.

itsdangerous is not installed (starlette's SessionMiddleware needs it), so the cookie is signed here with
HMAC-SHA256 from the standard library: ``base64(json).signature``. The key is derived from
``Settings.secret_key`` with a purpose string, so a token signed for the API can never pass as a page session.
The cookie holds only the user id, an issue time and the per-session CSRF token; nothing about a child.
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

SESSION_COOKIE = "ketnoi_session"
LANGUAGE_COOKIE = "ketnoi_lang"
SESSION_LIFETIME = timedelta(hours=12)
_PURPOSE = b"ketnoi-pages-session-v1"


@dataclass(frozen=True)
class PageSession:
    user_id: int
    csrf: str
    issued_at: float  # unix seconds, to the microsecond


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(secret_key: str, user_id: int, now: datetime) -> tuple[str, PageSession]:
    session = PageSession(user_id=user_id, csrf=secrets.token_urlsafe(32), issued_at=now.timestamp())
    body = _b64(json.dumps({"u": session.user_id, "c": session.csrf, "t": session.issued_at}).encode())
    signature = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}", session


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
        session = PageSession(user_id=int(data["u"]), csrf=str(data["c"]), issued_at=float(data["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    age = now.timestamp() - session.issued_at
    if age < 0 or age > SESSION_LIFETIME.total_seconds():
        return None
    return session


def csrf_matches(session: PageSession | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf, submitted)
