"""Request dependencies: the container, one transaction per request, the signed-in user, the language.

FastAPI runs every plain ``def`` dependency in a worker thread, and each such hop costs the single server
process more CPU than the work of most of these. So the ones that do no I/O are ``async def`` and run on the
event loop; only those that touch the database (the user's row, the commit) go to a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api.problems import ApiProblem
from engine.db import finish_transaction
from engine.i18n import pick_language
from engine.machine import Actor
from engine.models import User
from engine.users import actor_of
from ketnoi.bootstrap import Container

TOKEN_URL = "/api/v1/auth/token"
bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_session(container: ContainerDep) -> AsyncIterator[Session]:
    """One transaction per request: committed when the route returns, before the response is sent.

    Opening the session does no I/O (it takes a connection on its first statement); the commit, or the
    rollback on any error, and the connection's return happen in one worker-thread hop, shielded from
    cancellation, outside the default thread limiter so a full thread pool cannot stop connections coming back.
    """
    session = Session(container.db, expire_on_commit=False)
    failure: BaseException | None = None
    try:
        yield session
    except BaseException as exc:
        failure = exc
    try:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(finish_transaction, session, failure is None,
                                           limiter=anyio.CapacityLimiter(1))
    except IntegrityError as exc:
        # a concurrent request wrote the same unique row first (e.g. the same Idempotency-Key)
        raise ApiProblem(409, "api.idempotency_in_flight") from exc
    if failure is not None:
        if isinstance(failure, IntegrityError):
            raise ApiProblem(409, "api.idempotency_in_flight") from failure
        raise failure


# scope="function": commit before the response leaves, so a failed commit is never reported as success
DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def get_language(
    container: ContainerDep, accept_language: Annotated[str | None, Header(include_in_schema=False)] = None
) -> str:
    return pick_language(accept_language, default=container.settings.default_language)


Language = Annotated[str, Depends(get_language)]


def get_current_user(
    session: DbSession, container: ContainerDep, token: Annotated[str | None, Depends(bearer_scheme)]
) -> User:
    from api.auth import user_from_token

    if not token:
        raise ApiProblem(401, "api.not_authenticated", headers={"WWW-Authenticate": "Bearer"})
    user = user_from_token(session, token, container.settings)
    if user is None:
        raise ApiProblem(401, "api.not_authenticated",
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_actor(user: CurrentUser) -> Actor:
    return actor_of(user)


CurrentActor = Annotated[Actor, Depends(get_current_actor)]


def require_roles(*roles: str) -> Any:
    """A dependency refusing (403) users whose role cannot use a function at all (records stay 404)."""

    async def check(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            raise ApiProblem(403, "api.forbidden_role")
        return actor

    return Depends(check)
