"""A full case from report to closure, on a real PostgreSQL and a real SQLite file."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.audit import replay, timeline
from engine.cases import open_case, transition_case
from engine.db import transaction
from engine.errors import Conflict, TransitionRefused
from engine.models import Case, Event, Task
from engine.states import CASE_MACHINE
from engine.tasks import my_tasks
from tests.support.cases import case_step
from tests.support.people import DEMO_PROVINCE, make_child, make_user


def test_full_case_from_report_to_closure(db: Engine) -> None:
    lan = make_user(db, "lan", "caseworker")
    binh = make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="school").id

    case_step(db, case_id, "verify", lan, {"urgency": "normal", "assessment": "cannot walk unaided"})
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, case_id, "accept_for_intake", lan)
    assert refused.value.code == "guard.consent_missing"
    case_step(db, case_id, "record_consent", lan, {"given_by": "guardian", "name": "Nguyễn Thị Hoa",
                                               "domains": ["health", "education"]})
    # The boy is 7: his own consent is needed too.
    with pytest.raises(TransitionRefused):
        case_step(db, case_id, "accept_for_intake", lan)
    case_step(db, case_id, "record_consent", lan, {"given_by": "child", "name": "Trần Văn Minh"})
    case_step(db, case_id, "accept_for_intake", lan)
    case_step(db, case_id, "complete_assessment", lan, {"needs": ["rehabilitation", "inclusive_education"]})
    case_step(db, case_id, "submit_plan", lan, {"services": ["rehabilitation", "inclusive_education"]})
    assert [t.kind for t in _tasks(db, binh)] == ["plan_awaiting_approval"]
    case_step(db, case_id, "approve_plan", binh)
    case_step(db, case_id, "propose_closure", lan, {"reason": "goals_met"})
    case = case_step(db, case_id, "approve_closure", binh)
    assert (case.stage, case.step) == ("closure", "closed")
    assert case.closed_at is not None

    with transaction(db) as s:
        events = timeline(s, case_id)
        assert [e.action for e in events][:3] == ["report", "verify", "record_consent"]
        assert replay(events, CASE_MACHINE).state == "closed"
        assert replay(events, CASE_MACHINE).version == case.version
        open_tasks = s.execute(sa.select(Task).where(Task.case_id == case_id, Task.closed_at.is_(None))).all()
        assert open_tasks == []


def _tasks(db: Engine, actor) -> list[Task]:
    with transaction(db) as s:
        return my_tasks(s, actor)


def test_author_cannot_approve_own_plan(db: Engine) -> None:
    sup = make_user(db, "sup", "supervisor", unit=DEMO_PROVINCE)
    child_id = make_child(db, sup)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=sup, source="family").id
    case_step(db, case_id, "verify", sup, {"urgency": "urgent", "assessment": "x"})
    case_step(db, case_id, "record_consent", sup, {"given_by": "guardian", "name": "A"})
    case_step(db, case_id, "record_consent", sup, {"given_by": "child", "name": "B"})
    case_step(db, case_id, "accept_for_intake", sup)
    case_step(db, case_id, "complete_assessment", sup, {"needs": ["health"]})
    case_step(db, case_id, "submit_plan", sup, {"services": ["health_care"]})
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, case_id, "approve_plan", sup)
    assert refused.value.code == "guard.self_approval"
    with transaction(db) as s:
        assert s.get(Case, case_id).step == "plan_awaiting_approval"


def test_two_concurrent_transitions_one_wins(db: Engine) -> None:
    lan = make_user(db, "lan", "caseworker")
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="school").id
    barrier = threading.Barrier(2)
    results: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            with transaction(db) as s:
                transition_case(s, case_id, "verify", lan, 1, {"urgency": "normal", "assessment": "x"})
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["conflict", "ok"]
    with transaction(db) as s:
        assert s.get(Case, case_id).version == 2
        assert s.execute(sa.select(sa.func.count()).select_from(Event).where(Event.case_id == case_id)).scalar() == 2


def test_postgresql_refuses_to_alter_an_event(pg_db: Engine) -> None:
    lan = make_user(pg_db, "lan", "caseworker")
    child_id = make_child(pg_db, lan)
    with transaction(pg_db) as s:
        open_case(s, child_id=child_id, actor=lan, source="school")
    for statement in ("UPDATE event SET reason = 'forged'", "DELETE FROM event", "TRUNCATE event CASCADE"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with pg_db.begin() as conn:
                conn.exec_driver_sql(statement)
    with pg_db.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM event WHERE reason IS NULL").scalar() == 1
