"""The people's work queue: tasks opened when a step waits on someone, closed when it moves on."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from engine.machine import Actor
from engine.models import Task, Unit


def open_task(
    session: Session,
    *,
    case_id: int,
    kind: str,
    now: datetime,
    due_at: datetime | None,
    referral_id: int | None = None,
    owner_user_id: int | None = None,
    owner_agency_code: str | None = None,
    owner_unit_code: str | None = None,
    owner_role: str | None = None,
    note: str | None = None,
) -> Task:
    task = Task(
        case_id=case_id,
        referral_id=referral_id,
        kind=kind,
        owner_user_id=owner_user_id,
        owner_agency_code=owner_agency_code,
        owner_unit_code=owner_unit_code,
        owner_role=owner_role,
        due_at=due_at,
        opened_at=now,
        note=note,
    )
    session.add(task)
    session.flush()
    return task


def close_tasks(
    session: Session, *, case_id: int, now: datetime, referral_id: int | None = None, kind: str | None = None,
    case_level_only: bool = False,
) -> int:
    """Close the open tasks of a case step (``case_level_only``), of a referral, or of one kind."""
    stmt = sa.update(Task).where(Task.case_id == case_id, Task.closed_at.is_(None))  # type: ignore[union-attr]
    if referral_id is not None:
        stmt = stmt.where(Task.referral_id == referral_id)
    elif case_level_only:
        stmt = stmt.where(Task.referral_id.is_(None))  # type: ignore[union-attr]
    if kind is not None:
        stmt = stmt.where(Task.kind == kind)
    result = session.execute(stmt.values(closed_at=now))
    return result.rowcount or 0  # type: ignore[attr-defined]


def my_tasks_query(actor: Actor) -> sa.Select[tuple[Task]]:
    """Open tasks that wait on this person: their own, their agency's queue, or their role in their subtree.

    Ordered by urgency: overdue and soonest due first, tasks without a due time last.
    """
    owned = [Task.owner_user_id == actor.user_id]
    if actor.agency_code:
        owned.append(sa.and_(Task.owner_agency_code == actor.agency_code, Task.owner_user_id.is_(None)))  # type: ignore[union-attr]
    if actor.unit_code and actor.role in ("caseworker", "supervisor"):
        subtree = (
            sa.select(Unit.code)
            .where(Unit.path.like(  # type: ignore[attr-defined]
                sa.select(Unit.path).where(Unit.code == actor.unit_code).scalar_subquery() + "%"
            ))
        )
        owned.append(
            sa.and_(
                Task.owner_user_id.is_(None),  # type: ignore[union-attr]
                Task.owner_role == actor.role,
                Task.owner_unit_code.in_(subtree),  # type: ignore[union-attr]
            )
        )
    return (
        sa.select(Task)
        .where(Task.closed_at.is_(None), sa.or_(*owned))  # type: ignore[union-attr]
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)  # type: ignore[union-attr]
    )


def my_tasks(session: Session, actor: Actor, limit: int = 200) -> list[Task]:
    return list(session.execute(my_tasks_query(actor).limit(limit)).scalars())
