"""Lost updates are impossible: the version check is in the UPDATE itself, not only in the read before it."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.cases import _apply, gather_facts, open_case, transition_case
from engine.db import transaction
from engine.errors import Conflict
from engine.models import Case, Event, Task
from engine.states import CASE_MACHINE
from tests.support.people import make_child, make_user

VERIFY = {"urgency": "normal", "assessment": "cần hỗ trợ vận động"}


def events_of(db: Engine, case_id: int) -> list[tuple[str, int]]:
    with transaction(db) as s:
        rows = s.execute(sa.select(Event.action, Event.entity_version).where(Event.case_id == case_id)
                         .order_by(Event.id)).all()
        return [(str(a), int(v)) for a, v in rows]


def test_a_writer_that_read_before_another_committed_gets_a_conflict_and_writes_nothing(pg_db: Engine) -> None:
    """PostgreSQL (READ COMMITTED): A reads version 1 and decides; B commits version 2; A's write must fail."""
    lan = make_user(pg_db, "lan", "caseworker")
    with transaction(pg_db) as s:
        case_id = open_case(s, child_id=make_child(pg_db, lan), actor=lan, source="school").id
    assert case_id is not None

    with pytest.raises(Conflict) as conflict, transaction(pg_db) as late:
        case = late.get(Case, case_id)
        assert case is not None and case.version == 1
        facts = gather_facts(late, case, lan, {"reason": "duplicate"}, case.updated_at)
        decided = CASE_MACHINE.decide(facts, "close_not_eligible")
        with transaction(pg_db) as early:  # another person, another connection, commits first
            transition_case(early, case_id, "verify", lan, 1, VERIFY)
        _apply(late, case, decided, facts, expected_version=1)
    assert conflict.value.params == {"current": 2, "expected": 1}

    assert events_of(pg_db, case_id) == [("report", 1), ("verify", 2)]
    with transaction(pg_db) as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.step, case.version, case.closed_at) == ("verified", 2, None)
        open_kinds = s.execute(sa.select(Task.kind).where(Task.case_id == case_id, Task.closed_at.is_(None)))
        assert list(open_kinds.scalars()) == ["verified"]


def test_many_writers_from_the_same_version_one_wins(db: Engine) -> None:
    lan = make_user(db, "lan", "caseworker")
    with transaction(db) as s:
        case_id = open_case(s, child_id=make_child(db, lan), actor=lan, source="school").id
    assert case_id is not None
    writers = 6
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(action: str, payload: dict[str, str]) -> None:
        barrier.wait()
        try:
            with transaction(db) as s:
                transition_case(s, case_id, action, lan, 1, payload)
            outcome = action
        except Conflict:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    plans = [("verify", VERIFY), ("close_not_eligible", {"reason": "duplicate"})] * (writers // 2)
    threads = [threading.Thread(target=attempt, args=plan) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [o for o in outcomes if o != "conflict"]
    assert len(outcomes) == writers and len(winners) == 1
    history = events_of(db, case_id)
    assert history == [("report", 1), (winners[0], 2)]
    with transaction(db) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.version == 2
        assert case.step == CASE_MACHINE.transitions[("reported", winners[0])].target
