"""Users: administrators add and manage the users of their area; everyone reads who they are signed in as and
changes their own password.

An administrator reaches only the users whose unit lies in their own unit's subtree; any other user is "not
found" (404), as a record outside one's scope is everywhere in the API. Every act is written to the user
administration trail (``engine.audit.append_user_event``) in the request's transaction.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.auth import change_own_password
from api.deps import ContainerDep, CurrentActor, CurrentUser, DbSession, require_roles
from api.idempotency import Idem
from api.problems import ApiProblem
from api.schemas import PasswordChange, PasswordReset, RecordId, UserCreate, UserEventPublic, UserPublic
from engine.users import (
    USER_ROLES,
    add_user,
    deactivate_user,
    list_users,
    reactivate_user,
    reset_password,
    user_in_area,
    user_trail,
)

router = APIRouter(prefix="/users", tags=["users"])
Admin = require_roles("admin")
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such user in your area"}}
PASSWORD_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "the password is refused: too short, the login or name, or too common"}}


@router.post("", status_code=201, response_model=UserPublic, dependencies=[Admin],
             responses={404: {"description": "the unit or agency lies outside your area"},
                        422: {"description": "invalid input (unknown unit or agency, login taken, weak password...)"}},
             summary="Add a user in your area (administrators)")
def create_user(body: UserCreate, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    if (replayed := idem.replay()) is not None:
        return replayed
    user = add_user(session, **body.model_dump(), actor=actor)
    return idem.respond(201, UserPublic.model_validate(user), headers={"Location": f"/api/v1/users/{user.id}"})


@router.get("", response_model=list[UserPublic], dependencies=[Admin],
            summary="The users of your area, by login (administrators)")
def list_area_users(
    session: DbSession, actor: CurrentActor,
    role: Annotated[Literal[USER_ROLES] | None, Query(description="only this role")] = None,  # type: ignore[valid-type]
    active: Annotated[bool | None, Query(description="only active (true) or deactivated (false) users")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[UserPublic]:
    users = list_users(session, actor, role=role, active=active, limit=limit, offset=offset)
    return [UserPublic.model_validate(u) for u in users]


@router.get("/me", response_model=UserPublic, summary="Who I am signed in as")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.post("/me/password", status_code=204, response_class=Response,
             responses={**PASSWORD_REFUSED, 429: {"description": "too many wrong passwords"}},
             summary="Change my password (giving the current one)")
def change_my_password(body: PasswordChange, session: DbSession, user: CurrentUser,
                       container: ContainerDep) -> Response:
    """Every session and token of yours ends, this one too: sign in again with the new password.

    A wrong current password counts as a failed sign-in, and is refused (429) after as many as signing in is.
    """
    result = change_own_password(session, container.db, user=user, current_password=body.current_password,
                                 new_password=body.new_password)
    if result.retry_after is not None:
        raise ApiProblem(429, "api.too_many_attempts", headers={"Retry-After": str(result.retry_after)},
                         seconds=result.retry_after)
    return Response(status_code=204)


@router.get("/{user_id}", response_model=UserPublic, dependencies=[Admin], responses=NOT_FOUND,
            summary="One user of your area (administrators)")
def read_user(user_id: RecordId, session: DbSession, actor: CurrentActor) -> UserPublic:
    return UserPublic.model_validate(user_in_area(session, actor, user_id))


@router.get("/{user_id}/events", response_model=list[UserEventPublic], dependencies=[Admin], responses=NOT_FOUND,
            summary="What was done to a user of your area, oldest first (administrators)")
def user_events(user_id: RecordId, session: DbSession, actor: CurrentActor) -> list[UserEventPublic]:
    """The user administration trail: who created, deactivated or reactivated the user, or set their password
    (never the password itself)."""
    return [UserEventPublic.model_validate(event) for event in user_trail(session, actor, user_id)]


@router.post("/{user_id}/deactivate", response_model=UserPublic, dependencies=[Admin],
             responses={**NOT_FOUND, 422: {"description": "you cannot deactivate yourself"}},
             summary="Deactivate a user: no sign-in, every session ends (administrators)")
def deactivate(user_id: RecordId, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    """Deactivating a user who is already inactive changes nothing."""
    if (replayed := idem.replay()) is not None:
        return replayed
    return idem.respond(200, UserPublic.model_validate(deactivate_user(session, user_id=user_id, actor=actor)))


@router.post("/{user_id}/reactivate", response_model=UserPublic, dependencies=[Admin], responses=NOT_FOUND,
             summary="Let a deactivated user sign in again (administrators)")
def reactivate(user_id: RecordId, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    """Reactivating an active user changes nothing; sessions ended by the deactivation stay ended."""
    if (replayed := idem.replay()) is not None:
        return replayed
    return idem.respond(200, UserPublic.model_validate(reactivate_user(session, user_id=user_id, actor=actor)))


@router.post("/{user_id}/password", status_code=204, response_class=Response, dependencies=[Admin],
             responses={**NOT_FOUND, **PASSWORD_REFUSED},
             summary="Reset a user's password; their sessions end (administrators)")
def reset_user_password(user_id: RecordId, body: PasswordReset, session: DbSession, actor: CurrentActor) -> Response:
    """A retry sets the same password again: the password stays the one given, though the trail records the reset
    twice and sessions begun in between end again. Your own password: `POST /users/me/password`."""
    reset_password(session, user_id=user_id, new_password=body.new_password, actor=actor)
    return Response(status_code=204)
