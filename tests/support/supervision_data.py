"""A small hand-built data set for the supervision tests (indicators and reports).

The hand counts are written out in tests/integration/test_indicators_hand_built.py.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.cases import open_case
from engine.children import ChildCreate, register_child
from engine.db import transaction
from engine.machine import Actor
from engine.models import Agency, Deadline, Referral
from supervision.training import ParticipantIn, add_participants, add_roster_person, add_training_session
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE, make_user

VN = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNES_IN_PROVINCE = 92


def local(y: int, m: int, d: int, hh: int = 9) -> datetime:
    return datetime(y, m, d, hh, tzinfo=VN)


def _child(
    s: Session, actor: Actor, name: str, commune: str, registered: datetime, born: date = date(2019, 5, 2)
) -> int:
    data = ChildCreate(full_name=name, date_of_birth=born, sex="female", commune_code=commune,
                       disability_types=["intellectual"], severity="severe")
    child = register_child(s, data, actor, confirm_duplicate=True, now=registered)
    assert child.id is not None
    return child.id


def build(db: Engine) -> dict[str, int]:
    worker = make_user(db, "cw-tinh", "caseworker", DEMO_PROVINCE)
    with transaction(db) as s:
        kids = {
            "c1": _child(s, worker, "Lò Văn Một", COMMUNE_A, local(2025, 10, 1)),
            "c2": _child(s, worker, "Lò Văn Hai", COMMUNE_A, local(2026, 4, 20)),
            "c3": _child(s, worker, "Hà Thị Ba", COMMUNE_B, local(2025, 6, 1)),
            "c4": _child(s, worker, "Hà Thị Bốn", COMMUNE_B, local(2026, 8, 1)),
            "c5": _child(s, worker, "Lò Văn Năm", COMMUNE_A, local(2025, 1, 5), born=date(2009, 6, 1)),
            "c6": _child(s, worker, "Hà Thị Sáu", COMMUNE_B, local(2026, 1, 10)),
        }
        cases = {
            key: open_case(s, child_id=child_id, actor=worker, source="survey", now=local(2025, 12, 1)).id
            for key, child_id in kids.items()
        }

        def referral(child: str, service: str, domain: str, agency: str, state: str, requested: datetime,
                     accepted: datetime | None, started: datetime | None = None, ended: datetime | None = None) -> int:
            case_id = cases[child]
            assert case_id is not None
            r = Referral(case_id=case_id, service_code=service, domain=domain, agency_code=agency, state=state,
                         created_at=requested, requested_at=requested, accepted_at=accepted, started_at=started,
                         ended_at=ended)
            s.add(r)
            s.flush()
            assert r.id is not None
            return r.id

        r1 = referral("c1", "health_care", "health", "TYT-05443", "completed", local(2026, 1, 5), local(2026, 1, 7, 10),
                      local(2026, 1, 8), local(2026, 2, 10))
        r2 = referral("c2", "inclusive_education", "education", "TH-05443", "completed", local(2026, 5, 4),
                      local(2026, 5, 7), local(2026, 6, 20), local(2026, 7, 10))
        r3 = referral("c3", "counselling", "social", "CTXH-19", "accepted", local(2026, 2, 12), local(2026, 2, 23, 15))
        referral("c6", "rehabilitation", "rehabilitation", "PHCN-19", "failed", local(2026, 1, 12), local(2026, 1, 13),
                 local(2026, 1, 14), local(2026, 3, 1))
        referral("c4", "rehabilitation", "rehabilitation", "PHCN-19", "in_progress", local(2026, 8, 3),
                 local(2026, 8, 4), local(2026, 8, 5))
        case_c1, case_c2, case_c3 = cases["c1"], cases["c2"], cases["c3"]
        assert case_c1 is not None and case_c2 is not None and case_c3 is not None
        s.add_all([
            # R1 met its clock; R2's is due after H1; R3's passed its due time before it closed
            Deadline(case_id=case_c1, referral_id=r1, policy_key="referral.requested", opened_at=local(2026, 1, 5),
                     due_at=local(2026, 1, 9, 17), closed_at=local(2026, 1, 7, 10)),
            Deadline(case_id=case_c2, referral_id=r2, policy_key="referral.in_progress", opened_at=local(2026, 6, 20),
                     due_at=local(2026, 7, 5)),
            Deadline(case_id=case_c3, referral_id=r3, policy_key="referral.requested", opened_at=local(2026, 2, 12),
                     due_at=local(2026, 2, 13, 17), closed_at=local(2026, 2, 23, 15)),
        ])
        agency = s.get(Agency, "PHCN-19")
        assert agency is not None
        agency.status = "temporarily_closed"

    supervisor = make_user(db, "gs-tinh", "supervisor", DEMO_PROVINCE)
    with transaction(db) as s:
        roster = [(COMMUNE_A, "Nguyễn Văn An", "official"), (COMMUNE_A, "Lê Thị Bình", "collaborator"),
                  (COMMUNE_B, "Phạm Văn Cường", "official"), (DEMO_PROVINCE, "Hoàng Thị Dung", "official")]
        for unit, name, kind in roster:
            add_roster_person(s, actor=supervisor, unit_code=unit, person_name=name, kind=kind)
        april = add_training_session(s, actor=supervisor, unit_code=DEMO_PROVINCE, topic="Quản lý trường hợp",
                                     audience="officials", held_on=date(2026, 4, 10))
        september = add_training_session(s, actor=supervisor, unit_code=DEMO_PROVINCE, topic="Chuyển gửi",
                                         audience="officials", held_on=date(2026, 9, 1))
        add_participants(s, actor=supervisor, session_id=april.id or 0, participants=[
            ParticipantIn("Nguyễn  Văn An", "official", COMMUNE_A),  # two spaces: stored normalised, still matches
            ParticipantIn("Hoàng Thị Dung", "official", DEMO_PROVINCE),
            ParticipantIn("Lê Thị Bình", "official", COMMUNE_A),
            ParticipantIn("Trần Văn Em", "collaborator", COMMUNE_A),
        ])
        add_participants(s, actor=supervisor, session_id=september.id or 0,
                         participants=[ParticipantIn("Phạm Văn Cường", "official", COMMUNE_B)])
        march = add_training_session(s, actor=supervisor, unit_code=COMMUNE_A, topic="Chăm sóc trẻ tại nhà",
                                     audience="caregivers", held_on=date(2026, 3, 1))
        july = add_training_session(s, actor=supervisor, unit_code=COMMUNE_B, topic="Phục hồi chức năng tại nhà",
                                    audience="caregivers", held_on=date(2026, 7, 15))
        add_participants(s, actor=supervisor, session_id=march.id or 0,
                         participants=[ParticipantIn("Nguyễn Thị Hoa", "caregiver", COMMUNE_A, kids["c1"])])
        add_participants(s, actor=supervisor, session_id=july.id or 0,
                         participants=[ParticipantIn("Đinh Thị Lan", "caregiver", COMMUNE_B, kids["c6"])])
    return kids
