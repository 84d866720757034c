"""The people's work queue: tasks opened when a step waits on someone, closed when it moves on."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from engine.children import subtree_condition
from engine.machine import Actor
from engine.models import Task


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
    stmt = sa.update(Task).where(col(Task.case_id) == case_id, col(Task.closed_at).is_(None))
    if referral_id is not None:
        stmt = stmt.where(col(Task.referral_id) == referral_id)
    elif case_level_only:
        stmt = stmt.where(col(Task.referral_id).is_(None))
    if kind is not None:
        stmt = stmt.where(col(Task.kind) == kind)
    result = session.execute(stmt.values(closed_at=now))
    return result.rowcount or 0  # type: ignore[attr-defined]


def my_tasks_query(actor: Actor) -> sa.Select[Task]:
    """Open tasks that wait on this person: their own, their agency's queue, or their role in their subtree.

    Ordered by urgency: overdue and soonest due first, tasks without a due time last.
    """
    owned: list[sa.ColumnElement[bool]] = []
    if actor.user_id is not None:
        owned.append(col(Task.owner_user_id) == actor.user_id)
    if actor.agency_code:
        owned.append(sa.and_(col(Task.owner_agency_code) == actor.agency_code, col(Task.owner_user_id).is_(None)))
    if actor.unit_code and actor.role in ("caseworker", "supervisor"):
        owned.append(
            sa.and_(
                col(Task.owner_user_id).is_(None),
                col(Task.owner_role) == actor.role,
                subtree_condition(col(Task.owner_unit_code), actor.unit_code),
            )
        )
    return (
        sa.select(Task)
        .where(col(Task.closed_at).is_(None), sa.or_(sa.false(), *owned))
        .order_by(col(Task.due_at).is_(None), col(Task.due_at), col(Task.id))
    )


def my_tasks(session: Session, actor: Actor, limit: int = 200) -> list[Task]:
    return list(session.execute(my_tasks_query(actor).limit(limit)).scalars())
