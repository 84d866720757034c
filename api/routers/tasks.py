"""My work: open tasks waiting on me, my agency's queue, or my role in my area; overdue first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentActor, DbSession
from api.schemas import TaskPublic
from engine.db import utcnow
from engine.tasks import my_tasks

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("/mine", response_model=list[TaskPublic], summary="My work (Việc của tôi)")
def tasks_mine(
    session: DbSession, actor: CurrentActor, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[TaskPublic]:
    now = utcnow()
    out = []
    for task in my_tasks(session, actor, limit=limit):
        public = TaskPublic.model_validate(task)
        public.overdue = task.due_at is not None and task.due_at < now
        out.append(public)
    return out
