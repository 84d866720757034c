"""Per-request context of a page: who is signed in, in which language, against which database.

The database engine and settings come from the app built by the composition root (``app.state``); nothing
here connects at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from fastapi import Request
from sqlalchemy.engine import Engine

from api.pages.security import LANGUAGE_COOKIE, SESSION_COOKIE, PageSession, read_session, touched_session
from engine.db import transaction, utcnow
from engine.i18n import LANGUAGES, translate
from engine.machine import Actor
from engine.models import User
from engine.settings import Settings, get_settings
from engine.users import actor_of, session_is_current


@lru_cache(maxsize=1)
def _default_settings() -> Settings:
    return get_settings()


def app_settings(request: Request) -> Settings:
    state = request.app.state
    container = getattr(state, "container", None)
    if container is not None:
        return container.settings  # type: ignore[no-any-return]
    settings = getattr(state, "settings", None)
    return settings if isinstance(settings, Settings) else _default_settings()


def app_engine(request: Request) -> Engine:
    state = request.app.state
    container = getattr(state, "container", None)
    if container is not None:
        return container.db  # type: ignore[no-any-return]
    for name in ("engine", "db"):
        engine = getattr(state, name, None)
        if isinstance(engine, Engine):
            return engine
    raise RuntimeError("the app has no database: set app.state.container (ketnoi.bootstrap.Container)")


@dataclass
class PageContext:
    request: Request
    settings: Settings
    engine: Engine
    lang: str
    now: datetime
    session: PageSession | None = None
    user: User | None = None
    lang_from_query: bool = False

    @property
    def actor(self) -> Actor:
        assert self.user is not None
        return actor_of(self.user)

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.lang, **params)

    @property
    def secure_cookies(self) -> bool:
        return self.settings.environment != "development"


def page_context(request: Request) -> PageContext:
    settings = app_settings(request)
    now = utcnow()
    session = read_session(settings.secret_key, request.cookies.get(SESSION_COOKIE), now)
    ctx = PageContext(request=request, settings=settings, engine=app_engine(request), lang=settings.default_language,
                      now=now, session=session)
    if session is not None:
        with transaction(ctx.engine) as s:
            user = s.get(User, session.user_id)
        # a deactivated user's, or one from before they last signed out or had their password changed, is refused
        if user is not None and session_is_current(user, session.issued_at):
            ctx.user = user
            # the request moves the session on (api.pages.security.RefreshSessionCookie sets the cookie)
            request.state.page_session_cookie = touched_session(settings.secret_key, session, now)
        else:
            ctx.session = None
    query_lang = request.query_params.get("lang")
    cookie_lang = request.cookies.get(LANGUAGE_COOKIE)
    if query_lang in LANGUAGES:
        ctx.lang, ctx.lang_from_query = query_lang, True
    elif cookie_lang in LANGUAGES:
        ctx.lang = cookie_lang
    elif ctx.user is not None and ctx.user.language in LANGUAGES:
        ctx.lang = ctx.user.language
    return ctx
