"""The deadline sweep and review flows, end to end under a temporary Prefect server, on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.cases import open_case
from engine.db import transaction
from engine.models import Case, Deadline, DeadlineRung, Escalation, Outbox
from tests.support.people import make_child, make_user

OPENED = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam


def _reported_case(db: Engine) -> int:
    caseworker = make_user(db, "lan", "caseworker")
    child_id = make_child(db, caseworker)
    with transaction(db) as s:
        case = open_case(s, child_id=child_id, actor=caseworker, source="school", now=OPENED)
        assert case.id is not None
        return case.id


def _rungs(db: Engine, case_id: int) -> list[DeadlineRung]:
    with transaction(db) as s:
        return list(s.execute(
            sa.select(DeadlineRung).join(Deadline, Deadline.id == DeadlineRung.deadline_id)
            .where(Deadline.case_id == case_id).order_by(DeadlineRung.rung)
        ).scalars())


def _escalated_rungs(db: Engine, case_id: int) -> list[int]:
    with transaction(db) as s:
        return sorted(s.execute(
            sa.select(Escalation.rung).join(Deadline, Deadline.id == Escalation.deadline_id)
            .where(Deadline.case_id == case_id)
        ).scalars())


def test_sweep_flow_fires_crossed_rungs_once(prefect_harness: None, ketnoi_env: str, db: Engine) -> None:
    from flows.sweep import sweep_deadlines

    case_id = _reported_case(db)
    rungs = _rungs(db, case_id)
    assert len(rungs) >= 2, "the shipped policy gives a reported case a ladder"
    # Just after the second rung's time: the first two have crossed, the later ones have not.
    now = rungs[1].fire_at + timedelta(minutes=1)
    crossed = sorted(r.rung for r in rungs if r.fire_at <= now)

    counts = sweep_deadlines(now=now)

    assert sum(counts.values()) > 0
    assert _escalated_rungs(db, case_id) == crossed
    assert len(crossed) < len(rungs)
    with transaction(db) as s:
        notified = s.execute(sa.select(sa.func.count()).select_from(Outbox).where(Outbox.case_id == case_id)).scalar()
    # the fired rungs left the ladder (their escalations are the record); the others still wait
    assert [r.rung for r in _rungs(db, case_id)] == [r.rung for r in rungs if r.rung not in crossed]
    assert notified and notified >= 1

    again = sweep_deadlines(now=now)  # a re-run at the same time finds nothing new
    assert sum(again.values()) == 0
    assert _escalated_rungs(db, case_id) == crossed


def test_review_flow_gives_bulk_loaded_cases_in_care_a_clock(
    prefect_harness: None, ketnoi_env: str, db: Engine
) -> None:
    from flows.reviews import schedule_reviews

    case_id = _reported_case(db)
    with transaction(db) as s:  # a case loaded straight into care, as a migration would
        s.execute(sa.update(Case).where(Case.id == case_id).values(stage="care", step="in_care"))
        s.execute(sa.update(Deadline).where(Deadline.case_id == case_id).values(closed_at=OPENED))

    assert schedule_reviews(now=OPENED) == 1
    with transaction(db) as s:
        keys = list(s.execute(
            sa.select(Deadline.policy_key).where(Deadline.case_id == case_id, Deadline.closed_at.is_(None))  # type: ignore[union-attr]
        ).scalars())
    assert keys == ["case.in_care"]
    assert schedule_reviews(now=OPENED + timedelta(days=1)) == 0


def test_a_large_sweep_is_followed_by_a_vacuum_of_the_rungs_on_postgresql_only(db: Engine) -> None:
    from flows.sweep import VACUUM_AFTER_RUNGS, tidy_after_sweep

    assert tidy_after_sweep(db, {"rungs_fired": VACUUM_AFTER_RUNGS - 1}) is False
    assert tidy_after_sweep(db, {"rungs_fired": VACUUM_AFTER_RUNGS}) is (db.dialect.name == "postgresql")
