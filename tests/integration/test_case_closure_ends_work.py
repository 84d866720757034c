"""Closing a case ends the work it left behind, and no closing path skips the open-referral rule."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.cases import open_case
from engine.db import transaction
from engine.errors import TransitionRefused
from engine.models import Case, Task
from referrals.services import create_referral
from tests.integration.test_referrals_loop import case_in_care, case_step, ref_step, refer
from tests.support.people import make_child, make_user


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
    lan = make_user(db, "lan", "caseworker")
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="helpline_111", urgency="urgent").id
    case_step(db, case_id, "verify", lan, {"urgency": "urgent", "assessment": "bị bạo hành"})
    case_step(db, case_id, "record_consent", lan,
              {"given_by": "guardian", "name": "Bà ngoại", "domains": ["protection"]})
    with transaction(db) as s:
        referral = create_referral(s, case_id=case_id, service_code="emergency_protection", actor=lan)
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, case_id, "close_not_eligible", lan, {"reason": "not_eligible"})
    assert refused.value.code == "guard.open_items"
    assert f"REF-{referral.id}" in refused.value.message("en")
    with transaction(db) as s:
        assert s.get(Case, case_id).step == "verified"
