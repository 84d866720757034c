"""Periodic reviews in care: every case in care has a review clock (the ``case.in_care`` deadline).

Entering care and recording a review open that clock through the case transitions. Cases that reach care
without a transition (migrated from another system, loaded in bulk) have none: ``open_missing_reviews``
gives each of them one, set-based, with the caseworker's task beside it, as entering the step would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from engine import deadlines
from engine.db import UTCDateTime
from engine.models import Case, Deadline, DeadlineRung, Task

REVIEW_STEP = "in_care"
REVIEW_POLICY_KEY = "case.in_care"

case_t: sa.Table = Case.__table__  # type: ignore[attr-defined]
deadline_t: sa.Table = Deadline.__table__  # type: ignore[attr-defined]
rung_t: sa.Table = DeadlineRung.__table__  # type: ignore[attr-defined]
task_t: sa.Table = Task.__table__  # type: ignore[attr-defined]


def _missing(urgency: str) -> sa.Select[Any]:
    """Cases in care of this urgency with no open review clock (the plain key or its ``.urgent`` variant)."""
    has_clock = sa.exists().where(
        deadline_t.c.case_id == case_t.c.id,
        deadline_t.c.referral_id.is_(None),
        deadline_t.c.policy_key.in_((REVIEW_POLICY_KEY, REVIEW_POLICY_KEY + ".urgent")),
        deadline_t.c.closed_at.is_(None),
    )
    return (
        sa.select(case_t.c.id)
        .where(case_t.c.step == REVIEW_STEP, case_t.c.closed_at.is_(None), case_t.c.urgency == urgency, ~has_clock)
        .order_by(case_t.c.id)
    )


def _owner_columns() -> tuple[sa.ColumnElement[Any], ...]:
    # The same owner rule as a case entering the step: its caseworker, else the caseworkers of its unit.
    no_owner = case_t.c.owner_id.is_(None)
    return (
        case_t.c.owner_id,
        sa.case((no_owner, case_t.c.unit_code), else_=sa.null()),
        sa.case((no_owner, sa.literal("caseworker")), else_=sa.null()),
    )


def open_missing_reviews(session: Session, now: datetime) -> int:
    """Open the review clock (and task) of every case in care that has none; return how many were opened.

    The policy is applied once per urgency, through ``deadlines.on_enter`` for the first such case: every
    clock opened at the same ``now`` has the same due time and rungs, so the others are copied in SQL.
    """
    opened = 0
    for urgency in ("normal", "urgent"):
        first = session.execute(_missing(urgency).limit(1)).scalar()
        if first is None:
            continue
        # Counted first: drivers differ on the row count of INSERT ... SELECT (psycopg reports -1).
        missing = session.execute(sa.select(sa.func.count()).select_from(_missing(urgency).subquery())).scalar_one()
        owner_id, unit_code = session.execute(
            sa.select(case_t.c.owner_id, case_t.c.unit_code).where(case_t.c.id == first)
        ).one()
        owner: dict[str, Any] = (
            {"owner_user_id": owner_id} if owner_id is not None
            else {"owner_unit_code": unit_code, "owner_role": "caseworker"}
        )
        due = deadlines.on_enter(session, policy_key=REVIEW_POLICY_KEY, case_id=first, now=now, **owner)
        if due is None:  # the policy gives care no clock
            return opened
        session.flush()
        template_id, key = session.execute(
            sa.select(deadline_t.c.id, deadline_t.c.policy_key)
            .where(deadline_t.c.case_id == first, deadline_t.c.referral_id.is_(None),
                   deadline_t.c.closed_at.is_(None), deadline_t.c.policy_key.like(REVIEW_POLICY_KEY + "%"))
            .order_by(deadline_t.c.id.desc()).limit(1)
        ).one()
        session.execute(
            sa.insert(deadline_t).from_select(
                ["case_id", "policy_key", "owner_user_id", "owner_unit_code", "owner_role", "opened_at", "due_at"],
                sa.select(case_t.c.id, sa.literal(key), *_owner_columns(),
                          sa.literal(now, UTCDateTime()), sa.literal(due, UTCDateTime()))
                .where(case_t.c.id.in_(_missing(urgency).subquery().select())),
            )
        )
        opened += missing
        template_rung = rung_t.alias("template_rung")
        has_rungs = sa.exists().where(rung_t.c.deadline_id == deadline_t.c.id)
        session.execute(
            sa.insert(rung_t).from_select(
                ["deadline_id", "rung", "action", "audience", "fire_at"],
                sa.select(deadline_t.c.id, template_rung.c.rung, template_rung.c.action, template_rung.c.audience,
                          template_rung.c.fire_at)
                .join(template_rung, template_rung.c.deadline_id == template_id)
                .where(deadline_t.c.policy_key == key, deadline_t.c.opened_at == sa.literal(now, UTCDateTime()),
                       deadline_t.c.closed_at.is_(None), deadline_t.c.id != template_id, ~has_rungs),
            )
        )
    _open_missing_tasks(session, now)
    return opened


def _open_missing_tasks(session: Session, now: datetime) -> None:
    """The review task, due with its clock, for every case in care without an open case-level task."""
    has_task = sa.exists().where(
        task_t.c.case_id == case_t.c.id, task_t.c.referral_id.is_(None), task_t.c.closed_at.is_(None)
    )
    clock_due = (
        sa.select(sa.func.max(deadline_t.c.due_at))
        .where(deadline_t.c.case_id == case_t.c.id, deadline_t.c.referral_id.is_(None),
               deadline_t.c.closed_at.is_(None))
        .scalar_subquery()
    )
    session.execute(
        sa.insert(task_t).from_select(
            ["case_id", "kind", "owner_user_id", "owner_unit_code", "owner_role", "due_at", "opened_at"],
            sa.select(case_t.c.id, sa.literal(REVIEW_STEP), *_owner_columns(), clock_due,
                      sa.literal(now, UTCDateTime()))
            .where(case_t.c.step == REVIEW_STEP, case_t.c.closed_at.is_(None), ~has_task),
        )
    )
