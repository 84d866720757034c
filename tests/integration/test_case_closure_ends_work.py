"""Closing a case ends the work it left behind, and no closing path skips the open-referral rule."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.db import transaction
from engine.errors import TransitionRefused
from engine.models import Case, Task
from referrals.services import create_referral
from tests.support.cases import case_in_care, case_step, refer, urgent_verified_case
from tests.support.cases import referral_step as ref_step


def _open_task_kinds(db: Engine, case_id: int) -> list[str]:
    with transaction(db) as s:
        return sorted(s.execute(
            sa.select(Task.kind).where(Task.case_id == case_id, Task.closed_at.is_(None))
        ).scalars())


def test_closing_a_case_closes_its_refer_again_task(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation"], ["rehabilitation"])
    first = refer(db, world)
    ref_step(db, first.id, "reject", world.hung, {"reason": "no_capacity"})
    assert "refer_again" in _open_task_kinds(db, world.case_id)
    case_step(db, world.case_id, "propose_closure", world.lan, {"reason": "family_withdrew"})
    case_step(db, world.case_id, "approve_closure", world.binh)
    assert _open_task_kinds(db, world.case_id) == []


def test_not_eligible_closure_refused_while_an_urgent_referral_is_open(db: Engine) -> None:
    case_id, lan = urgent_verified_case(db)
    with transaction(db) as s:
        referral = create_referral(s, case_id=case_id, service_code="emergency_protection", actor=lan)
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, case_id, "close_not_eligible", lan, {"reason": "not_eligible"})
    assert refused.value.code == "guard.open_items"
    assert f"REF-{referral.id}" in refused.value.message("en")
    with transaction(db) as s:
        assert s.get(Case, case_id).step == "verified"
