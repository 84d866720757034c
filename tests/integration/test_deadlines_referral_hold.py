"""Referral clocks: the agency's ladder (supervising agency, unit above), and a hold as the policy says.

Referral rows are written directly through the models, calling the deadline hooks the way the referral
service does (the new state first, then leave / pause or resume / enter). Dates checked by hand on the 2027
calendar: no public holiday between 1 March and 15 April 2027.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from engine import deadlines
from engine.cases import open_case
from engine.db import transaction
from engine.models import Deadline, DeadlineRung, Outbox, Referral, Task
from engine.policy import Policy, parse_policy, use_policy
from engine.sweep import sweep
from tests.support.people import make_child, make_user

HANOI = timezone(timedelta(hours=7))
TEXT = """
ladders:
  standard: &standard
    - {working_days: -1, action: remind, audience: owner}
    - {working_days: 0, action: remind, audience: owner+caseworker}
    - {working_days: 2, action: escalate, audience: supervisor}
    - {working_days: 5, action: escalate, audience: unit_above}
deadlines:
  referral.requested: {working_days: 3, basis: local choice, ladder: *standard}
  referral.in_progress: {working_days: 10, basis: local choice, pause_on_hold: PAUSE, ladder: *standard}
  referral.on_hold: {working_days: 20, basis: local choice, ladder: *standard}
"""


def policy_with(pause: bool) -> Policy:
    return parse_policy(yaml.safe_load(TEXT.replace("PAUSE", "true" if pause else "false")))


def at(day: int, hour: int = 9, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=HANOI)


@pytest.fixture(autouse=True)
def pausing_policy() -> Iterator[None]:
    with use_policy(policy_with(pause=True)):
        yield


def make_referral(db: Engine, state: str, agency: str = "TYT-05443", now: datetime = at(1)) -> tuple[int, int, int]:
    """A case (the policy gives its steps no clock) and a referral entering ``state`` at ``now``."""
    worker = make_user(db, "cb.xa", "caseworker")
    child_id = make_child(db, worker)
    with transaction(db) as s:
        case = open_case(s, child_id=child_id, actor=worker, source="school", now=now)
        assert case.id is not None
        referral = Referral(case_id=case.id, service_code="health_care", domain="health", agency_code=agency,
                            state=state, created_by=worker.user_id, created_at=now, updated_at=now)
        s.add(referral)
        s.flush()
        assert referral.id is not None and worker.user_id is not None
        deadlines.on_enter(s, policy_key=f"referral.{state}", case_id=case.id, referral_id=referral.id, now=now,
                           owner_agency_code=agency)
        return case.id, referral.id, worker.user_id


def move(db: Engine, case_id: int, referral_id: int, action: str, now: datetime) -> datetime | None:
    """hold / resume / cancel, as the referral service does them."""
    target = {"hold": "on_hold", "resume": "in_progress", "cancel": "cancelled"}[action]
    with transaction(db) as s:
        s.execute(sa.update(Referral).where(Referral.id == referral_id).values(state=target))
        deadlines.on_leave(s, case_id=case_id, referral_id=referral_id, now=now)
        if action == "hold":
            deadlines.on_pause(s, referral_id=referral_id, now=now)
        if action == "resume":
            deadlines.on_resume(s, referral_id=referral_id, now=now)
        if target in ("on_hold", "in_progress"):
            return deadlines.on_enter(s, policy_key=f"referral.{target}", case_id=case_id, referral_id=referral_id,
                                      now=now, owner_agency_code="TYT-05443")
        return None


def run_sweep(db: Engine, now: datetime) -> dict[str, int]:
    with transaction(db) as s:
        return sweep(s, now)


def clock(db: Engine, referral_id: int, key: str) -> Deadline:
    with transaction(db) as s:
        return s.execute(
            sa.select(Deadline).where(Deadline.referral_id == referral_id, Deadline.policy_key == key)
        ).scalar_one()


def test_agency_ladder_reaches_the_supervising_agency_then_the_unit_above(db: Engine) -> None:
    case_id, referral_id, worker_id = make_referral(db, "requested")
    assert clock(db, referral_id, "referral.requested").due_at == at(4)
    assert run_sweep(db, at(3))["reminder_before_due"] == 1
    assert run_sweep(db, at(4)) == {"reminder_before_due": 0, "due_today": 1, "overdue": 0, "escalation": 0,
                                    "rungs_fired": 1, "superseded": 0, "outbox": 2, "tasks": 0}
    assert run_sweep(db, at(8))["escalation"] == 1
    assert run_sweep(db, at(11))["escalation"] == 1
    assert run_sweep(db, at(11))["rungs_fired"] == 0
    with transaction(db) as s:
        sent = s.execute(
            sa.select(Outbox.template, Outbox.recipient_kind, Outbox.recipient_ref, Outbox.agency_code,
                      Outbox.referral_id).order_by(Outbox.id)
        ).all()
        tasks = s.execute(
            sa.select(Task.owner_agency_code, Task.owner_unit_code, Task.owner_role, Task.referral_id)
            .where(Task.kind == "escalation").order_by(Task.id)
        ).all()
    assert [tuple(row) for row in sent] == [
        ("reminder_before_due", "agency", "TYT-05443", "TYT-05443", referral_id),
        ("due_today", "agency", "TYT-05443", "TYT-05443", referral_id),
        ("due_today", "user", str(worker_id), None, referral_id),
        ("escalation", "agency", "SYT-19", "SYT-19", referral_id),  # the health station's supervising department
        ("escalation", "unit_role", "19:supervisor", None, referral_id),  # the province above the commune
    ]
    assert [tuple(row) for row in tasks] == [
        ("SYT-19", None, None, referral_id), (None, "19", "supervisor", referral_id)]


def test_an_agency_without_a_supervisor_escalates_to_its_units_supervisors(db: Engine) -> None:
    make_referral(db, "requested", agency="UBND-05443")
    assert run_sweep(db, at(8))["escalation"] == 1
    with transaction(db) as s:
        escalated = s.execute(
            sa.select(Outbox.recipient_kind, Outbox.recipient_ref).where(Outbox.template == "escalation")
        ).one()
    assert tuple(escalated) == ("unit_role", "05443:supervisor")


def test_a_hold_stops_the_clock_when_the_policy_says_so(db: Engine) -> None:
    case_id, referral_id, _ = make_referral(db, "in_progress")
    assert clock(db, referral_id, "referral.in_progress").due_at == at(15)  # 10 working days

    move(db, case_id, referral_id, "hold", at(2))
    held = clock(db, referral_id, "referral.in_progress")
    assert held.closed_at is None and held.paused_at == at(2)
    assert clock(db, referral_id, "referral.on_hold").due_at == at(30)  # 20 working days from 2 March
    # every in_progress rung but the last would have fired by now; the on_hold clock is not due yet
    assert run_sweep(db, at(19, 12))["rungs_fired"] == 0

    # back after 14 working days (3 to 19 March and 22 March): everything moves 14 working days later
    due = move(db, case_id, referral_id, "resume", at(22))
    resumed = clock(db, referral_id, "referral.in_progress")
    assert due == resumed.due_at == at(2, month=4)
    assert resumed.paused_at is None and resumed.closed_at is None
    assert clock(db, referral_id, "referral.on_hold").closed_at == at(22)
    with transaction(db) as s:
        count = s.execute(sa.select(sa.func.count()).select_from(Deadline)).scalar_one()
        fire_at = s.execute(
            sa.select(DeadlineRung.fire_at).where(DeadlineRung.deadline_id == resumed.id).order_by(DeadlineRung.rung)
        ).scalars().all()
    assert count == 2  # resuming reused the clock rather than opening a second one
    assert fire_at == [at(1, month=4), at(2, month=4), at(6, month=4), at(9, month=4)]
    assert run_sweep(db, at(31, 17))["rungs_fired"] == 0
    assert run_sweep(db, at(1, month=4))["reminder_before_due"] == 1


def test_a_hold_does_not_stop_the_clock_when_the_policy_says_not(db: Engine) -> None:
    with use_policy(policy_with(pause=False)):
        case_id, referral_id, _ = make_referral(db, "in_progress")
        move(db, case_id, referral_id, "hold", at(2))
        running = clock(db, referral_id, "referral.in_progress")
        assert running.closed_at is None and running.paused_at is None
        assert run_sweep(db, at(12)) == {"reminder_before_due": 1, "due_today": 0, "overdue": 0, "escalation": 0,
                                         "rungs_fired": 1, "superseded": 0, "outbox": 1, "tasks": 0}
        due = move(db, case_id, referral_id, "resume", at(16))
        assert due == at(15)  # unchanged: the hold did not stop it
        assert clock(db, referral_id, "referral.in_progress").due_at == at(15)


def test_cancelling_a_held_referral_closes_all_its_clocks(db: Engine) -> None:
    case_id, referral_id, _ = make_referral(db, "in_progress")
    move(db, case_id, referral_id, "hold", at(2))
    move(db, case_id, referral_id, "cancel", at(3))
    with transaction(db) as s:
        still_open = s.execute(
            sa.select(sa.func.count()).select_from(Deadline).where(Deadline.closed_at.is_(None))
        ).scalar_one()
    assert still_open == 0
    assert run_sweep(db, at(30, month=4))["rungs_fired"] == 0


def test_deadline_views_show_the_time_left(db: Engine) -> None:
    case_id, referral_id, _ = make_referral(db, "in_progress")
    with transaction(db) as s:
        (view,) = deadlines.deadlines_of_referral(s, referral_id, at(11, 9))
        assert view.status == "open" and view.time_left == timedelta(days=4)
        assert view.working_days_left == 2 and view.next_rung_at == at(12) and view.fired_rungs == 0
        (late,) = deadlines.deadlines_of_referral(s, referral_id, at(16, 9))
        assert late.status == "overdue" and late.time_left == -timedelta(days=1) and late.working_days_left == -1
        assert deadlines.deadlines_of_case(s, case_id, at(11)) == []
        assert [v.referral_id for v in deadlines.deadlines_of_case(s, case_id, at(11), include_referrals=True)] == [
            referral_id]
    move(db, case_id, referral_id, "hold", at(2))
    with transaction(db) as s:
        views = deadlines.deadlines_of_referral(s, referral_id, at(20))
    assert [(v.policy_key, v.status) for v in views] == [
        ("referral.in_progress", "paused"), ("referral.on_hold", "open")]
    assert views[0].time_left == at(15) - at(2)  # frozen while paused
