"""The access log: who read which child's record and when, for supervisors of the child's area."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from sqlmodel import col

from api.deps import CurrentActor, DbSession, require_roles
from api.schemas import MAX_ID, AccessLogPublic
from api.scope import child_condition
from engine.models import AccessLog, Child, User

router = APIRouter(tags=["access log"])


@router.get("/access-log", response_model=list[AccessLogPublic], dependencies=[require_roles("supervisor")],
            summary="Reads of children's records in your area, newest first")
def access_log(
    session: DbSession, actor: CurrentActor,
    child_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AccessLogPublic]:
    stmt = (
        sa.select(AccessLog, col(User.login))
        .join(User, col(User.id) == col(AccessLog.user_id))
        .where(col(AccessLog.child_id).in_(sa.select(col(Child.id)).where(child_condition(actor))))
    )
    if child_id is not None:
        stmt = stmt.where(col(AccessLog.child_id) == child_id)
    if user_id is not None:
        stmt = stmt.where(col(AccessLog.user_id) == user_id)
    rows = session.execute(stmt.order_by(AccessLog.id.desc()).limit(limit)).all()  # type: ignore[union-attr]
    out = []
    for entry, login in rows:
        public = AccessLogPublic.model_validate(entry)
        public.user_login = login
        out.append(public)
    return out
