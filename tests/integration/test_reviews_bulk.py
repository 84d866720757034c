"""Review clocks for cases that reached care without a transition (bulk loads, migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.cases import open_case
from engine.db import transaction
from engine.models import Case, Deadline, DeadlineRung, Task
from engine.policy import current_policy
from engine.reviews import open_missing_reviews
from tests.support.people import make_child, make_user

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def _cases_in_care(
    db: Engine, count: int, *, urgent: frozenset[int] = frozenset(), ownerless: frozenset[int] = frozenset()
) -> list[int]:
    caseworker = make_user(db, "lan", "caseworker")
    ids: list[int] = []
    for i in range(count):
        child_id = make_child(db, caseworker, full_name=f"Nguyễn Văn Số {i}")
        with transaction(db) as s:
            case = open_case(s, child_id=child_id, actor=caseworker, source="survey", now=NOW - timedelta(days=30))
            assert case.id is not None
            ids.append(case.id)
    with transaction(db) as s:  # loaded straight into care: no clock, no task
        s.execute(sa.update(Case).where(Case.id.in_(ids)).values(stage="care", step="in_care"))  # type: ignore[union-attr]
        s.execute(sa.update(Case).where(Case.id.in_([ids[i] for i in urgent])).values(urgency="urgent"))  # type: ignore[union-attr]
        s.execute(sa.update(Case).where(Case.id.in_([ids[i] for i in ownerless])).values(owner_id=None))  # type: ignore[union-attr]
        s.execute(sa.update(Deadline).where(Deadline.case_id.in_(ids)).values(closed_at=NOW))  # type: ignore[attr-defined]
        s.execute(sa.update(Task).where(Task.case_id.in_(ids)).values(closed_at=NOW))  # type: ignore[attr-defined]
    return ids


def test_every_case_in_care_gets_the_policy_clock_once(db: Engine) -> None:
    ids = _cases_in_care(db, 4, urgent=frozenset({3}), ownerless=frozenset({2}))
    with transaction(db) as s:
        assert open_missing_reviews(s, NOW) == 4
    with transaction(db) as s:
        assert open_missing_reviews(s, NOW + timedelta(days=1)) == 0

    rule = current_policy().rule("case.in_care")
    assert rule is not None
    with transaction(db) as s:
        clocks = s.execute(
            sa.select(Deadline).where(Deadline.case_id.in_(ids), Deadline.closed_at.is_(None))  # type: ignore[attr-defined,union-attr]
            .order_by(Deadline.case_id)
        ).scalars().all()
        assert [c.case_id for c in clocks] == ids
        normal = [c for c in clocks if c.case_id != ids[3]]
        # Opened at the same moment, so the same due time, computed by the policy on the calendar.
        assert {c.due_at for c in normal} == {rule.due_at(current_policy().calendar(), NOW)}
        assert all(c.policy_key.startswith("case.in_care") for c in clocks)
        ladders = {
            c.case_id: [(r.rung, r.action, r.audience, r.fire_at) for r in s.execute(
                sa.select(DeadlineRung).where(DeadlineRung.deadline_id == c.id).order_by(DeadlineRung.rung)
            ).scalars()]
            for c in clocks
        }
        assert len(ladders[ids[0]]) == len(rule.ladder) > 0
        assert ladders[ids[0]] == ladders[ids[1]] == ladders[ids[2]]
        owners = {c.case_id: (c.owner_user_id, c.owner_unit_code, c.owner_role) for c in clocks}
        assert owners[ids[2]][0] is None and owners[ids[2]][2] == "caseworker" and owners[ids[2]][1] is not None
        assert owners[ids[0]][0] is not None
        tasks = s.execute(
            sa.select(Task.case_id, Task.due_at).where(Task.case_id.in_(ids), Task.closed_at.is_(None))  # type: ignore[attr-defined,union-attr]
            .order_by(Task.case_id)
        ).all()
        assert [t.case_id for t in tasks] == ids
        assert {t.case_id: t.due_at for t in tasks} == {c.case_id: c.due_at for c in clocks}


def test_cases_outside_care_or_already_clocked_are_left_alone(db: Engine) -> None:
    ids = _cases_in_care(db, 2)
    with transaction(db) as s:
        s.execute(sa.update(Case).where(Case.id == ids[1]).values(step="closure_proposed", stage="closure"))
        assert open_missing_reviews(s, NOW) == 1
    with transaction(db) as s:
        open_count = s.execute(
            sa.select(Deadline.case_id, sa.func.count()).where(Deadline.closed_at.is_(None))  # type: ignore[union-attr]
            .group_by(Deadline.case_id)
        ).all()
    assert dict(open_count) == {ids[0]: 1}
