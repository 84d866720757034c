"""The work queue: a task opens when a step waits on someone, closes when the step moves on; "my tasks"
shows each person what waits on them (their own, their agency's, their role's in their subtree), most urgent first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.cases import open_case
from engine.db import transaction
from engine.machine import Actor
from engine.models import Task
from engine.tasks import my_tasks, open_task
from tests.support.cases import case_step
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE, make_child, make_user


def tasks_of(db: Engine, case_id: int) -> list[Task]:
    with transaction(db) as s:
        return list(s.execute(sa.select(Task).where(Task.case_id == case_id).order_by(Task.id)).scalars())


def open_kinds(db: Engine, case_id: int) -> list[str]:
    return [t.kind for t in tasks_of(db, case_id) if t.closed_at is None]


def queue(db: Engine, actor: Actor) -> list[tuple[int, str]]:
    with transaction(db) as s:
        return [(t.case_id, t.kind) for t in my_tasks(s, actor)]


def test_a_task_opens_when_a_step_waits_and_closes_when_it_moves_on(db: Engine) -> None:
    lan = make_user(db, "lan", "caseworker")
    binh = make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="school").id
    assert case_id is not None

    [reported] = tasks_of(db, case_id)
    assert (reported.kind, reported.owner_user_id, reported.closed_at) == ("reported", lan.user_id, None)

    case_step(db, case_id, "verify", lan, {"urgency": "normal", "assessment": "x"})
    reported_after, verified = tasks_of(db, case_id)
    assert reported_after.id == reported.id and reported_after.closed_at is not None
    assert (verified.kind, verified.owner_user_id, verified.closed_at) == ("verified", lan.user_id, None)

    # Recording consent does not move the case: the same task stays open.
    case_step(db, case_id, "record_consent", lan, {"given_by": "guardian", "name": "Nguyễn Thị Hoa"})
    case_step(db, case_id, "record_consent", lan, {"given_by": "child", "name": "Trần Văn Minh"})
    assert [t.id for t in tasks_of(db, case_id) if t.closed_at is None] == [verified.id]

    case_step(db, case_id, "accept_for_intake", lan)
    case_step(db, case_id, "complete_assessment", lan, {"needs": ["rehabilitation"]})
    case_step(db, case_id, "submit_plan", lan, {"services": ["rehabilitation"]})
    [waiting] = [t for t in tasks_of(db, case_id) if t.closed_at is None]
    # Approval waits on the supervisors of the case's unit, not on one person.
    assert (waiting.kind, waiting.owner_user_id, waiting.owner_unit_code, waiting.owner_role) == (
        "plan_awaiting_approval", None, COMMUNE_A, "supervisor")
    assert queue(db, lan) == []
    assert queue(db, binh) == [(case_id, "plan_awaiting_approval")]

    case_step(db, case_id, "approve_plan", binh)
    assert open_kinds(db, case_id) == ["in_care"]
    assert queue(db, binh) == []
    assert queue(db, lan) == [(case_id, "in_care")]

    case_step(db, case_id, "propose_closure", lan, {"reason": "goals_met"})
    case_step(db, case_id, "approve_closure", binh)
    assert open_kinds(db, case_id) == []
    assert all(t.closed_at is not None for t in tasks_of(db, case_id))
    assert queue(db, lan) == [] and queue(db, binh) == []


def test_supervisors_see_the_tasks_of_units_in_their_subtree(db: Engine) -> None:
    worker = make_user(db, "lan", "caseworker")
    province = make_user(db, "tinh", "supervisor", unit=DEMO_PROVINCE)
    same_commune = make_user(db, "xa-a", "supervisor", unit=COMMUNE_A)
    other_commune = make_user(db, "xa-b", "supervisor", unit=COMMUNE_B)
    other_province = make_user(db, "ha-noi", "supervisor", unit="01")
    child_id = make_child(db, worker)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=worker, source="family").id
        assert case_id is not None
        open_task(s, case_id=case_id, kind="plan_awaiting_approval", now=datetime.now(UTC), due_at=None,
                  owner_unit_code=COMMUNE_A, owner_role="supervisor")
        open_task(s, case_id=case_id, kind="closure_proposed", now=datetime.now(UTC), due_at=None,
                  owner_unit_code=DEMO_PROVINCE, owner_role="supervisor")
    assert sorted(k for _, k in queue(db, province)) == ["closure_proposed", "plan_awaiting_approval"]
    assert queue(db, same_commune) == [(case_id, "plan_awaiting_approval")]
    assert queue(db, other_commune) == []
    assert queue(db, other_province) == []
    # No user id and no unit: nothing is "theirs" (not every task without a named owner).
    assert queue(db, Actor.system()) == []
    assert queue(db, Actor(user_id=None, role="supervisor", unit_code="no-such-unit")) == []
    # The caseworker's own queue holds the case's current step only, not the supervisors' work.
    assert queue(db, worker) == [(case_id, "reported")]


def test_agency_queues_belong_to_their_agency(db: Engine) -> None:
    worker = make_user(db, "lan", "caseworker")
    station = make_user(db, "tram", "agency_staff", agency="TYT-05443")
    school = make_user(db, "truong", "agency_staff", agency="TH-05443")
    child_id = make_child(db, worker)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=worker, source="family").id
        assert case_id is not None
        open_task(s, case_id=case_id, kind="requested", now=datetime.now(UTC), due_at=None,
                  owner_agency_code="TYT-05443")
    assert queue(db, station) == [(case_id, "requested")]
    assert queue(db, school) == []


def test_my_tasks_put_the_overdue_first_then_the_soonest_and_undated_last(db: Engine) -> None:
    lan = make_user(db, "lan", "caseworker")
    hung = make_user(db, "hung", "caseworker")
    child_id = make_child(db, lan)
    now = datetime.now(UTC)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=hung, source="family").id
        assert case_id is not None
        dues = [("later", now + timedelta(days=5)), ("undated", None), ("overdue_long", now - timedelta(days=9)),
                ("soon", now + timedelta(hours=2)), ("overdue", now - timedelta(hours=1))]
        for kind, due in dues:
            open_task(s, case_id=case_id, kind=kind, now=now, due_at=due, owner_user_id=lan.user_id)
        closed = open_task(s, case_id=case_id, kind="done", now=now, due_at=now - timedelta(days=30),
                           owner_user_id=lan.user_id)
        closed.closed_at = now
    assert [k for _, k in queue(db, lan)] == ["overdue_long", "overdue", "soon", "later", "undated"]
    assert "later" not in [k for _, k in queue(db, hung)]
