"""Users: administrators add them; everyone can read who they are signed in as."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, DbSession, require_roles
from api.idempotency import Idem
from api.schemas import UserCreate, UserPublic
from engine.users import add_user

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=201, response_model=UserPublic, dependencies=[require_roles("admin")],
             responses={422: {"description": "invalid input (unknown unit or agency, login taken...)"}},
             summary="Add a user (administrators)")
def create_user(body: UserCreate, session: DbSession, idem: Idem) -> object:
    if (replayed := idem.replay()) is not None:
        return replayed
    user = add_user(session, **body.model_dump())
    return idem.respond(201, UserPublic.model_validate(user), headers={"Location": f"/api/v1/users/{user.id}"})


@router.get("/me", response_model=UserPublic, summary="Who I am signed in as")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
