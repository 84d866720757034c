"""Test helpers that take a case through its steps with the real service functions, one transaction each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from engine.cases import open_case, transition_case
from engine.db import transaction
from engine.machine import Actor
from engine.models import Case, Referral
from referrals.services import create_referral, transition_referral
from tests.support.people import DEMO_PROVINCE, make_child, make_user


def case_step(db: Engine, case_id: int, action: str, actor: Actor, payload: dict[str, Any] | None = None) -> Case:
    """One transition of the case at its current version."""
    with transaction(db) as s:
        case = s.get(Case, case_id)
        assert case is not None
        return transition_case(s, case_id, action, actor, case.version, payload or {})


def referral_step(db: Engine, referral_id: int, action: str, actor: Actor, payload: dict[str, Any] | None = None,
                  now: datetime | None = None) -> Referral:
    """One transition of the referral at its current version."""
    with transaction(db) as s:
        referral = s.get(Referral, referral_id)
        assert referral is not None
        return transition_referral(s, referral_id, action, actor, referral.version, payload or {}, now=now)


def case_up_to_plan(db: Engine, services: list[str] | None = None,
                    consent_domains: list[str] | None = None) -> tuple[Actor, Actor, int]:
    """Caseworker lan and supervisor binh, and a child's case taken through intake to a plan awaiting approval: the
    guardian consents for ``consent_domains`` (rehabilitation and education), the child too, and the assessment's
    needs and the plan's services are ``services`` (rehabilitation)."""
    services = ["rehabilitation"] if services is None else services
    lan = make_user(db, "lan", "caseworker")
    binh = make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="school").id
    assert case_id is not None
    case_step(db, case_id, "verify", lan, {"urgency": "normal", "assessment": "cannot walk unaided"})
    case_step(db, case_id, "record_consent", lan,
              {"given_by": "guardian", "name": "Nguyễn Thị Hoa",
               "domains": ["rehabilitation", "education"] if consent_domains is None else consent_domains})
    case_step(db, case_id, "record_consent", lan, {"given_by": "child", "name": "Trần Văn Minh"})
    case_step(db, case_id, "accept_for_intake", lan)
    case_step(db, case_id, "complete_assessment", lan, {"needs": services})
    case_step(db, case_id, "submit_plan", lan, {"services": services})
    return lan, binh, case_id


def referred_case(db: Engine, now: datetime | None = None) -> tuple[Actor, Actor, int, int]:
    """``case_up_to_plan``, the plan approved, and the case referred for rehabilitation (to TYT-05443):
    (caseworker, supervisor, case id, referral id)."""
    lan, binh, case_id = case_up_to_plan(db)
    case_step(db, case_id, "approve_plan", binh)
    with transaction(db) as s:
        referral = create_referral(s, case_id=case_id, service_code="rehabilitation", actor=lan, now=now)
        assert referral.id is not None and referral.agency_code == "TYT-05443"
        return lan, binh, case_id, referral.id


@dataclass
class World:
    lan: Actor  # caseworker, owns the case
    binh: Actor  # province supervisor
    hung: Actor  # staff of the commune health station TYT-05443
    centre: Actor  # staff of the province rehabilitation centre PHCN-19
    case_id: int


def case_in_care(db: Engine, services: list[str], consent_domains: list[str]) -> World:
    """``case_up_to_plan`` for these services and consents, the plan approved; with the staff of two agencies."""
    lan, binh, case_id = case_up_to_plan(db, services, consent_domains)
    case_step(db, case_id, "approve_plan", binh)
    hung = make_user(db, "hung", "agency_staff", agency="TYT-05443")
    centre = make_user(db, "mai", "agency_staff", unit=DEMO_PROVINCE, agency="PHCN-19")
    return World(lan, binh, hung, centre, case_id)


def refer(db: Engine, world: World, service: str = "rehabilitation", **kwargs: Any) -> Referral:
    with transaction(db) as s:
        return create_referral(s, case_id=world.case_id, service_code=service, actor=world.lan, **kwargs)


def urgent_verified_case(db: Engine) -> tuple[int, Actor]:
    """An urgent report (violence at home) verified, with the guardian's consent for protection: (case id, lan)."""
    lan = make_user(db, "lan", "caseworker")
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="helpline_111", urgency="urgent").id
    assert case_id is not None
    case_step(db, case_id, "verify", lan, {"urgency": "urgent", "assessment": "bị bạo hành"})
    case_step(db, case_id, "record_consent", lan,
              {"given_by": "guardian", "name": "Bà ngoại", "domains": ["protection"]})
    return case_id, lan
