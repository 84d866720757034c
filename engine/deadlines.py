"""Deadlines: a clock opened when a case step or a referral state is entered and closed when it is left.

Entering opens a ``Deadline`` row whose due time is computed on the working-day calendar from the policy,
with one ``DeadlineRung`` row per rung of its ladder; the sweep (``engine.sweep``) fires the rungs (recording
an ``Escalation`` and deleting the rung). Leaving closes the clock and drops its rungs that never fired (a
closed clock has nothing pending, which keeps the sweep's index of pending rungs small).

Holding a referral: ``on_pause`` / ``on_resume`` are called when a referral goes on hold and comes back.
The ``referral.in_progress`` clock survives the hold whatever order the caller uses (it is not closed by
``on_leave`` while the referral is on hold or in progress); the policy's ``pause_on_hold`` says whether it
stops meanwhile. On resume, its due time and unfired rungs move later by the working time spent on hold,
and entering ``referral.in_progress`` again reuses that clock instead of opening a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from engine.calendar import WorkingCalendar
from engine.models import Case, Deadline, DeadlineRung, Escalation, Referral
from engine.policy import PAUSABLE_KEY, URGENT_SUFFIX, DeadlineRule, Policy, current_policy

# While a referral is in one of these states its in_progress clock is kept (held, not left).
_HOLD_STATES = ("in_progress", "on_hold")


def _resolve_key(session: Session, policy: Policy, policy_key: str, case_id: int) -> str:
    """An urgent case uses the ``.urgent`` variant of a case key when the policy has one."""
    urgent_key = policy_key + URGENT_SUFFIX
    if policy_key.startswith("case.") and policy.rule(urgent_key) is not None:
        urgency = session.execute(sa.select(col(Case.urgency)).where(col(Case.id) == case_id)).scalar()
        if urgency == "urgent":
            return urgent_key
    return policy_key


def _open_clock(session: Session, *, case_id: int, referral_id: int | None, keys: tuple[str, ...]) -> Deadline | None:
    stmt = sa.select(Deadline).where(
        col(Deadline.case_id) == case_id,
        col(Deadline.closed_at).is_(None),
        col(Deadline.policy_key).in_(keys),
    )
    if referral_id is None:
        stmt = stmt.where(col(Deadline.referral_id).is_(None))
    else:
        stmt = stmt.where(col(Deadline.referral_id) == referral_id)
    return session.execute(stmt.order_by(col(Deadline.id).desc()).limit(1)).scalars().first()


def on_enter(
    session: Session,
    *,
    policy_key: str,
    case_id: int,
    now: datetime,
    referral_id: int | None = None,
    owner_user_id: int | None = None,
    owner_agency_code: str | None = None,
    owner_unit_code: str | None = None,
    owner_role: str | None = None,
) -> datetime | None:
    """Open the clock for ``policy_key`` and return its due time (for the task); None if the policy has none.

    Entering a key whose clock is still open (a referral back from hold) reuses that clock.
    """
    policy = current_policy()
    key = _resolve_key(session, policy, policy_key, case_id)
    rule = policy.rule(key)
    if rule is None:
        return None
    existing = _open_clock(session, case_id=case_id, referral_id=referral_id, keys=(key,))
    if existing is not None:
        if existing.paused_at is not None and referral_id is not None:
            on_resume(session, referral_id=referral_id, now=now)
            session.refresh(existing)
        return existing.due_at
    calendar = policy.calendar()
    due = rule.due_at(calendar, now)
    deadline = Deadline(
        case_id=case_id, referral_id=referral_id, policy_key=key, owner_user_id=owner_user_id,
        owner_agency_code=owner_agency_code, owner_unit_code=owner_unit_code, owner_role=owner_role,
        opened_at=now, due_at=due,
    )
    session.add(deadline)
    session.flush()
    assert deadline.id is not None
    # A rung that would fire before the clock opened (a reminder longer before due than the whole duration)
    # has nothing to say: it is left out, and the other rungs keep their policy numbers.
    fire_times = [(number, rung, DeadlineRule.fire_at(calendar, due, rung)) for number, rung in
                  enumerate(rule.ladder, start=1)]
    session.add_all(
        DeadlineRung(deadline_id=deadline.id, rung=number, action=rung.action, audience=rung.audience, fire_at=fire_at)
        for number, rung, fire_at in fire_times
        if fire_at >= now
    )
    session.flush()
    return due


def on_leave(session: Session, *, case_id: int, now: datetime, referral_id: int | None = None) -> None:
    """Close the open clocks of a case step (``referral_id`` None: the case-level ones) or of one referral."""
    conditions: list[sa.ColumnElement[bool]] = [col(Deadline.case_id) == case_id, col(Deadline.closed_at).is_(None)]
    if referral_id is None:
        conditions.append(col(Deadline.referral_id).is_(None))
    else:
        conditions.append(col(Deadline.referral_id) == referral_id)
        state = session.execute(sa.select(col(Referral.state)).where(col(Referral.id) == referral_id)).scalar()
        if state in _HOLD_STATES:
            conditions.append(col(Deadline.policy_key) != PAUSABLE_KEY)
    closing = sa.select(col(Deadline.id)).where(*conditions)
    session.execute(sa.delete(DeadlineRung).where(col(DeadlineRung.deadline_id).in_(closing)))
    session.execute(sa.update(Deadline).where(*conditions).values(closed_at=now))


def on_pause(session: Session, *, referral_id: int, now: datetime) -> None:
    """A referral goes on hold: stop its in_progress clock if the policy says so (else it keeps running)."""
    if not current_policy().pause_on_hold:
        return
    session.execute(
        sa.update(Deadline)
        .where(
            col(Deadline.referral_id) == referral_id,
            col(Deadline.policy_key) == PAUSABLE_KEY,
            col(Deadline.closed_at).is_(None),
            col(Deadline.paused_at).is_(None),
        )
        .values(paused_at=now)
    )


def _shift(calendar: WorkingCalendar, rule: DeadlineRule | None, moment: datetime, paused_at: datetime,
           now: datetime) -> datetime:
    """``moment`` moved later by the time spent paused: elapsed hours for an hour clock, else working days."""
    if rule is not None and rule.unit == "hours":
        return moment + (now - paused_at)
    return calendar.add_working_days(moment, max(calendar.working_days_between(paused_at, now), 0))


def on_resume(session: Session, *, referral_id: int, now: datetime) -> None:
    """A referral comes back from hold: restart its paused clock, later by the working time spent paused."""
    policy = current_policy()
    calendar = policy.calendar()
    paused = session.execute(
        sa.select(Deadline).where(
            col(Deadline.referral_id) == referral_id,
            col(Deadline.closed_at).is_(None),
            col(Deadline.paused_at).is_not(None),
        )
    ).scalars().all()
    for deadline in paused:  # one clock per referral at most: not a loop over the table
        assert deadline.paused_at is not None
        paused_at = deadline.paused_at
        rule = policy.rule(deadline.policy_key)
        rungs = session.execute(
            sa.select(DeadlineRung).where(col(DeadlineRung.deadline_id) == deadline.id)
        ).scalars().all()
        for rung in rungs:
            rung.fire_at = _shift(calendar, rule, rung.fire_at, paused_at, now)
        deadline.due_at = _shift(calendar, rule, deadline.due_at, paused_at, now)
        deadline.paused_at = None
    session.flush()


# --- reading: each deadline with the time left, for the case's and the referral's pages --------------------


@dataclass(frozen=True)
class DeadlineView:
    id: int
    case_id: int
    referral_id: int | None
    policy_key: str
    basis: str | None
    opened_at: datetime
    due_at: datetime
    paused_at: datetime | None
    closed_at: datetime | None
    time_left: timedelta | None  # None once closed; negative when overdue; frozen while paused
    working_days_left: int | None
    next_rung_at: datetime | None
    fired_rungs: int

    @property
    def status(self) -> str:
        if self.closed_at is not None:
            return "closed"
        if self.paused_at is not None:
            return "paused"
        if self.time_left is not None and self.time_left < timedelta(0):
            return "overdue"
        return "open"


def _views(session: Session, condition: sa.ColumnElement[bool], now: datetime) -> list[DeadlineView]:
    policy = current_policy()
    calendar = policy.calendar()
    pending = (
        sa.select(sa.func.min(col(DeadlineRung.fire_at)))
        .where(col(DeadlineRung.deadline_id) == col(Deadline.id))
        .scalar_subquery()
    )
    fired = (  # a fired rung is its escalation (the sweep deletes the rung)
        sa.select(sa.func.count())
        .where(col(Escalation.deadline_id) == col(Deadline.id))
        .scalar_subquery()
    )
    rows = session.execute(
        sa.select(Deadline, pending, fired).where(condition).order_by(col(Deadline.opened_at), col(Deadline.id))
    ).all()
    views = []
    for deadline, next_at, fired_count in rows:
        clock_at = deadline.paused_at or now
        open_ = deadline.closed_at is None
        rule = policy.rule(deadline.policy_key)
        views.append(DeadlineView(
            id=deadline.id, case_id=deadline.case_id, referral_id=deadline.referral_id,
            policy_key=deadline.policy_key, basis=rule.basis if rule else None, opened_at=deadline.opened_at,
            due_at=deadline.due_at, paused_at=deadline.paused_at, closed_at=deadline.closed_at,
            time_left=deadline.due_at - clock_at if open_ else None,
            working_days_left=calendar.working_days_between(clock_at, deadline.due_at) if open_ else None,
            next_rung_at=next_at if open_ else None, fired_rungs=int(fired_count or 0),
        ))
    return views


def deadlines_of_case(session: Session, case_id: int, now: datetime, *, include_referrals: bool = False,
                      open_only: bool = False) -> list[DeadlineView]:
    """The case's own clocks (and its referrals' when asked), oldest first, with the time left at ``now``."""
    condition: sa.ColumnElement[bool] = col(Deadline.case_id) == case_id
    if not include_referrals:
        condition = sa.and_(condition, col(Deadline.referral_id).is_(None))
    if open_only:
        condition = sa.and_(condition, col(Deadline.closed_at).is_(None))
    return _views(session, condition, now)


def deadlines_of_referral(session: Session, referral_id: int, now: datetime, *,
                          open_only: bool = False) -> list[DeadlineView]:
    """A referral's clocks, oldest first, with the time left at ``now``."""
    condition: sa.ColumnElement[bool] = col(Deadline.referral_id) == referral_id
    if open_only:
        condition = sa.and_(condition, col(Deadline.closed_at).is_(None))
    return _views(session, condition, now)
