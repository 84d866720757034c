"""The sweep on real PostgreSQL and SQLite: each rung fires once at its time, and never twice.

The policy here is the test's own (the shipped defaults may change); dates are checked by hand on the
2027 calendar: March 2027 has no public holiday, so working days are Monday to Friday.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from engine.cases import open_case, transition_case
from engine.db import transaction
from engine.models import Deadline, DeadlineRung, Escalation, Outbox, Task
from engine.policy import parse_policy, use_policy
from engine.sweep import sweep, sweep_sharded
from tests.support.people import make_child, make_user

HANOI = timezone(timedelta(hours=7))
LADDERS = """
ladders:
  standard: &standard
    - {working_days: -1, action: remind, audience: owner}
    - {working_days: 0, action: remind, audience: owner+caseworker}
    - {working_days: 2, action: escalate, audience: supervisor}
    - {working_days: 5, action: escalate, audience: unit_above}
  urgent: &urgent
    - {hours: -4, action: remind, audience: owner}
    - {hours: 0, action: remind, audience: owner+caseworker}
    - {hours: 4, action: escalate, audience: supervisor}
"""
POLICY = parse_policy(yaml.safe_load(LADDERS + """
deadlines:
  case.reported: {working_days: 2, basis: local choice, ladder: *standard}
  case.reported.urgent: {hours: 12, basis: "Decree 56/2017/ND-CP, Art. 26", ladder: *urgent}
  case.verified: {working_days: 5, basis: local choice, ladder: *standard}
"""))


def at(day: int, hour: int = 9, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=HANOI)


NOTHING = {"reminder_before_due": 0, "due_today": 0, "overdue": 0, "escalation": 0, "rungs_fired": 0,
           "superseded": 0, "outbox": 0, "tasks": 0}


@pytest.fixture(autouse=True)
def policy() -> Iterator[None]:
    with use_policy(POLICY):
        yield


def run_sweep(db: Engine, now: datetime) -> dict[str, int]:
    with transaction(db) as s:
        return sweep(s, now)


def open_report(db: Engine, *, urgency: str = "normal", now: datetime = at(1)) -> tuple[int, int]:
    worker = make_user(db, "cb.xa", "caseworker")
    child_id = make_child(db, worker)
    with transaction(db) as s:
        case = open_case(s, child_id=child_id, actor=worker, source="helpline_111", urgency=urgency, now=now)
        assert case.id is not None and worker.user_id is not None
        return case.id, worker.user_id


def outbox_rows(db: Engine) -> list[Outbox]:
    with transaction(db) as s:
        return list(s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars())


def test_clock_and_rungs_are_computed_on_the_calendar(db: Engine) -> None:
    case_id, _ = open_report(db)
    with transaction(db) as s:
        deadline = s.execute(sa.select(Deadline).where(Deadline.case_id == case_id)).scalar_one()
        rungs = s.execute(sa.select(DeadlineRung).order_by(DeadlineRung.rung)).scalars().all()
        task = s.execute(sa.select(Task).where(Task.case_id == case_id)).scalar_one()
    assert deadline.policy_key == "case.reported"
    assert deadline.due_at == at(3)  # Monday 09:00 + 2 working days
    assert task.due_at == deadline.due_at
    assert [r.fire_at for r in rungs] == [at(2), at(3), at(5), at(10)]
    assert [(r.action, r.audience) for r in rungs] == [
        ("remind", "owner"), ("remind", "owner+caseworker"), ("escalate", "supervisor"), ("escalate", "unit_above")]


def test_each_rung_fires_once_at_its_time(db: Engine) -> None:
    case_id, worker_id = open_report(db)

    assert run_sweep(db, at(2, 8, 59)) == NOTHING
    assert run_sweep(db, at(2)) == {**NOTHING, "reminder_before_due": 1, "rungs_fired": 1, "outbox": 1}
    assert run_sweep(db, at(2)) == NOTHING
    assert run_sweep(db, at(2, 17)) == NOTHING
    (reminder,) = outbox_rows(db)
    with transaction(db) as s:
        deadline_id = s.execute(sa.select(Deadline.id).where(Deadline.case_id == case_id)).scalar_one()
    assert reminder.template == "reminder_before_due"
    assert (reminder.recipient_kind, reminder.recipient_ref) == ("user", str(worker_id))
    assert reminder.dedupe_key == f"esc:{deadline_id}:1:user:{worker_id}"
    assert reminder.status == "pending" and reminder.case_id == case_id and reminder.referral_id is None
    assert reminder.context["deadline_id"] == deadline_id and reminder.context["case_id"] == case_id
    assert reminder.context["policy_key"] == "case.reported" and reminder.context["rung"] == 1
    assert reminder.context["action"] == "remind" and reminder.context["due_at"] == "2027-03-03T02:00:00+00:00"

    # when due: owner and caseworker are the same person here, so one message
    assert run_sweep(db, at(3)) == {**NOTHING, "due_today": 1, "rungs_fired": 1, "outbox": 1}
    # two working days late: the supervisors of the commune, who get a task
    assert run_sweep(db, at(5)) == {**NOTHING, "escalation": 1, "rungs_fired": 1, "outbox": 1, "tasks": 1}
    assert run_sweep(db, at(9, 17)) == NOTHING
    # five working days late: the supervisors of the province
    assert run_sweep(db, at(10)) == {**NOTHING, "escalation": 1, "rungs_fired": 1, "outbox": 1, "tasks": 1}
    assert run_sweep(db, at(30)) == NOTHING

    rows = outbox_rows(db)
    assert [(o.template, o.recipient_kind, o.recipient_ref) for o in rows] == [
        ("reminder_before_due", "user", str(worker_id)),
        ("due_today", "user", str(worker_id)),
        ("escalation", "unit_role", "05443:supervisor"),
        ("escalation", "unit_role", "19:supervisor"),
    ]
    with transaction(db) as s:
        escalations = s.execute(sa.select(Escalation).order_by(Escalation.rung)).scalars().all()
        tasks = s.execute(
            sa.select(Task.owner_unit_code, Task.owner_role).where(Task.kind == "escalation").order_by(Task.id)
        ).all()
        left = s.execute(sa.select(sa.func.count()).select_from(DeadlineRung)).scalar_one()
    assert [(e.rung, e.fired_at) for e in escalations] == [(1, at(2)), (2, at(3)), (3, at(5)), (4, at(10))]
    assert left == 0  # every rung fired: the ladder is empty, the escalations are the record
    assert [tuple(t) for t in tasks] == [("05443", "supervisor"), ("19", "supervisor")]


def test_a_late_first_sweep_fires_every_crossed_rung_once_and_sends_only_the_latest_reminder(db: Engine) -> None:
    _, worker_id = open_report(db)
    # Friday noon, after downtime: "due tomorrow" (Tuesday), "due today" (Wednesday) and the escalation (Friday)
    # have all crossed. Each is recorded once; "due tomorrow" is overtaken by "due today" and sends nothing.
    assert run_sweep(db, at(5, 12)) == {
        **NOTHING, "reminder_before_due": 1, "due_today": 1, "escalation": 1, "rungs_fired": 3, "superseded": 1,
        "outbox": 2, "tasks": 1}
    assert run_sweep(db, at(5, 12)) == NOTHING
    assert [(o.template, o.recipient_kind, o.recipient_ref) for o in outbox_rows(db)] == [
        ("due_today", "user", str(worker_id)),
        ("escalation", "unit_role", "05443:supervisor"),
    ]
    with transaction(db) as s:
        recorded = s.execute(sa.select(Escalation.rung).order_by(Escalation.rung)).scalars().all()
        pending = s.execute(sa.select(DeadlineRung.rung)).scalars().all()
    assert recorded == [1, 2, 3] and pending == [4]


def test_shards_split_the_deadlines_between_them_and_together_sweep_them_all(db: Engine) -> None:
    worker = make_user(db, "cb.xa", "caseworker")
    children = [make_child(db, worker) for _ in range(5)]
    with transaction(db) as s:
        for child_id in children:
            open_case(s, child_id=child_id, actor=worker, source="helpline_111", now=at(1))
    # as the late first sweep above, once per case, shard by shard (in turn: this also runs on SQLite)
    totals = dict(NOTHING)
    for index in range(3):
        with transaction(db) as s:
            counts = sweep(s, at(5, 12), (index, 3))
            deadlines = s.execute(sa.select(Escalation.deadline_id).distinct()).scalars().all()
            in_this_shard = s.execute(
                sa.select(sa.func.count()).select_from(Escalation).where(Escalation.deadline_id % 3 == index)
            ).scalar_one()
        assert in_this_shard == counts["rungs_fired"]  # this shard fired its own deadlines' rungs only
        totals = {name: totals[name] + counts[name] for name in totals}
    assert len(deadlines) == 5
    assert totals == {**NOTHING, "reminder_before_due": 5, "due_today": 5, "escalation": 5, "rungs_fired": 15,
                      "superseded": 5, "outbox": 10, "tasks": 5}
    assert sweep_sharded(db, at(5, 12), 3) == NOTHING
    # the shards at once (PostgreSQL; one transaction on SQLite): the last rung of every clock
    assert sweep_sharded(db, at(10), 3) == {**NOTHING, "escalation": 5, "rungs_fired": 5, "outbox": 5, "tasks": 5}
    assert sweep_sharded(db, at(10), 3) == NOTHING
    with transaction(db) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(DeadlineRung)).scalar_one() == 0


@pytest.mark.parametrize("shard", [(3, 3), (-1, 2), (0, 0)])
def test_a_shard_outside_its_count_is_refused(db: Engine, shard: tuple[int, int]) -> None:
    with transaction(db) as s, pytest.raises(ValueError):
        sweep(s, at(10), shard)
    with pytest.raises(ValueError):
        sweep_sharded(db, at(10), 0)


def test_a_step_that_moves_on_before_its_deadline_produces_nothing(db: Engine) -> None:
    case_id, worker_id = open_report(db)
    worker = make_user(db, "cb.xa2", "caseworker")
    with transaction(db) as s:
        case = transition_case(s, case_id, "verify", worker, 1,
                               {"urgency": "normal", "assessment": "đã gặp gia đình"}, now=at(1, 15))
        assert case.step == "verified"
    # every rung of case.reported would have fired by now; case.verified's first one fires at 15:00 on the 5th
    assert run_sweep(db, at(5, 14)) == NOTHING
    assert outbox_rows(db) == []
    with transaction(db) as s:
        reported = s.execute(
            sa.select(Deadline).where(Deadline.case_id == case_id, Deadline.policy_key == "case.reported")
        ).scalar_one()
        verified = s.execute(
            sa.select(Deadline).where(Deadline.case_id == case_id, Deadline.policy_key == "case.verified")
        ).scalar_one()
        pending = s.execute(
            sa.select(sa.func.count()).select_from(DeadlineRung).where(DeadlineRung.deadline_id == reported.id)
        ).scalar_one()
    assert reported.closed_at == at(1, 15) and pending == 0
    assert verified.closed_at is None and verified.due_at == at(8, 15)
    assert run_sweep(db, at(5, 15))["reminder_before_due"] == 1


def test_an_urgent_report_uses_the_twelve_hour_clock(db: Engine) -> None:
    case_id, _ = open_report(db, urgency="urgent", now=at(5, 20))  # Friday evening: the clock runs all night
    with transaction(db) as s:
        deadline = s.execute(sa.select(Deadline).where(Deadline.case_id == case_id)).scalar_one()
    assert deadline.policy_key == "case.reported.urgent"
    assert deadline.due_at == at(6, 8)
    assert run_sweep(db, at(6, 3, 59)) == NOTHING
    assert run_sweep(db, at(6, 4))["reminder_before_due"] == 1
    assert run_sweep(db, at(6, 12)) == {**NOTHING, "due_today": 1, "escalation": 1, "rungs_fired": 2, "outbox": 2,
                                        "tasks": 1}


def test_a_reminder_that_would_precede_the_clock_is_left_out(db: Engine) -> None:
    short = parse_policy(yaml.safe_load(LADDERS + """
deadlines:
  case.reported: {hours: 2, basis: local choice, ladder: *urgent}
"""))
    with use_policy(short):
        case_id, _ = open_report(db, now=at(1, 9))
        with transaction(db) as s:
            rungs = s.execute(sa.select(DeadlineRung.rung, DeadlineRung.fire_at).order_by(DeadlineRung.rung)).all()
        # the 4-hours-before reminder would fire at 07:00, before the report came in at 09:00
        assert [tuple(r) for r in rungs] == [(2, at(1, 11)), (3, at(1, 15))]
        assert run_sweep(db, at(1, 11)) == {**NOTHING, "due_today": 1, "rungs_fired": 1, "outbox": 1}


def test_a_clock_waiting_on_supervisors_escalates_to_the_unit_above(db: Engine) -> None:
    approval = parse_policy(yaml.safe_load(LADDERS + """
deadlines:
  case.plan_awaiting_approval: {working_days: 3, basis: local choice, ladder: *standard}
"""))
    with use_policy(approval):
        case_id, worker_id = open_report(db)  # this policy gives the report no clock
        with transaction(db) as s:
            from engine import deadlines

            due = deadlines.on_enter(s, policy_key="case.plan_awaiting_approval", case_id=case_id, now=at(1),
                                     owner_unit_code="05443", owner_role="supervisor")
        assert due == at(4)
        assert run_sweep(db, at(11))["rungs_fired"] == 4
    with transaction(db) as s:
        sent = s.execute(sa.select(Outbox.template, Outbox.recipient_kind, Outbox.recipient_ref)
                         .order_by(Outbox.id)).all()
        tasks = s.execute(sa.select(Task.owner_unit_code, Task.owner_role).where(Task.kind == "escalation")).all()
    # the supervisors' supervisor and the unit above are both the province: one message per rung
    # (the reminder before the due day is overtaken by the due-day one in this late sweep: it sends nothing)
    assert sorted(tuple(row) for row in sent) == sorted([
        ("due_today", "unit_role", "05443:supervisor"),
        ("due_today", "user", str(worker_id)),
        ("escalation", "unit_role", "19:supervisor"),
        ("escalation", "unit_role", "19:supervisor"),
    ])
    assert [tuple(t) for t in tasks] == [("19", "supervisor"), ("19", "supervisor")]


def test_two_workers_sweeping_at_once_record_everything_once(pg_db: Engine) -> None:
    """Two workers against one PostgreSQL (scaling out): the unique key lets only one of them fire each rung."""
    import threading

    open_report(pg_db)
    start = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def worker() -> None:
        start.wait()
        results.append(run_sweep(pg_db, at(10)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r["rungs_fired"] for r in results) == 4
    assert sum(r["tasks"] for r in results) == 2
    assert sum(r["superseded"] for r in results) == 1  # the day-before reminder, overtaken by the due-day one
    with transaction(pg_db) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Escalation)).scalar_one() == 4
        assert s.execute(sa.select(sa.func.count()).select_from(Outbox)).scalar_one() == 3
        assert s.execute(
            sa.select(sa.func.count()).select_from(Task).where(Task.kind == "escalation")
        ).scalar_one() == 2
