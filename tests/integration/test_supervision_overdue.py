"""The overdue audit on past days, its roll-ups, the drill-down and audit notes (PostgreSQL and SQLite).

Clocks are written directly as Deadline / Escalation rows so each is exactly where the test needs it.
Times are local (UTC+7). Working days follow Vietnam's calendar: Tết 2026 is 16–20 February.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from engine.audit import replay, timeline
from engine.calendar import working_days_between
from engine.cases import open_case
from engine.db import transaction
from engine.errors import InvalidInput, NotFound, TransitionRefused
from engine.machine import Actor
from engine.models import Deadline, Escalation, Referral, Task
from engine.states import CASE_MACHINE
from supervision.overdue import overdue_audit, overdue_items, record_audit_note
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE, make_child, make_user

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def local(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


def build(db: Engine) -> dict[str, int]:
    """Five clocks:

    D1 case A step case.verified, opened 5 Jan, due 9 Jan 10:00, closed 20 Jan.
    D2 referral R1 (A, TYT-05443, health) requested, opened 2 Feb, due 13 Feb 17:00, still open;
       escalations fired 16 Feb (rung 1) and 25 Feb (rung 2).
    D3 referral R2 (case B in 05710, TH-05710, education) accepted, opened 2 Jan, due 5 Jan 17:00, closed 2 Mar.
    D4 open, due 10 Mar.   D5 due 1 Feb, paused since 10 Feb.
    """
    worker = make_user(db, "cw", "caseworker", COMMUNE_A)
    worker_b = make_user(db, "cw-b", "caseworker", COMMUNE_B)
    child_a = make_child(db, worker, full_name="Lò Văn Tú")
    child_b = make_child(db, worker_b, full_name="Hà Thị Mai", commune_code=COMMUNE_B)
    with transaction(db) as s:
        case_a = open_case(s, child_id=child_a, actor=worker, source="family", now=local(2026, 1, 2)).id
        case_b = open_case(s, child_id=child_b, actor=worker_b, source="school", now=local(2026, 1, 2)).id
        assert case_a is not None and case_b is not None
        # the reports' own clocks (opened by the engine's policy) are not part of this story: close them at once
        s.execute(sa.update(Deadline).values(closed_at=Deadline.opened_at))
        r1 = Referral(case_id=case_a, service_code="health_care", domain="health", agency_code="TYT-05443",
                      state="requested", requested_at=local(2026, 2, 2), created_at=local(2026, 2, 2))
        r2 = Referral(case_id=case_b, service_code="inclusive_education", domain="education",
                      agency_code="TH-05710", state="in_progress", requested_at=local(2026, 1, 2),
                      created_at=local(2026, 1, 2))
        s.add_all([r1, r2])
        s.flush()
        clocks = [
            Deadline(case_id=case_a, policy_key="case.verified", owner_unit_code=COMMUNE_A, owner_role="caseworker",
                     opened_at=local(2026, 1, 5), due_at=local(2026, 1, 9, 10), closed_at=local(2026, 1, 20, 10)),
            Deadline(case_id=case_a, referral_id=r1.id, policy_key="referral.requested", owner_agency_code="TYT-05443",
                     opened_at=local(2026, 2, 2), due_at=local(2026, 2, 13, 17)),
            Deadline(case_id=case_b, referral_id=r2.id, policy_key="referral.accepted", owner_agency_code="TH-05710",
                     opened_at=local(2026, 1, 2), due_at=local(2026, 1, 5, 17), closed_at=local(2026, 3, 2)),
            Deadline(case_id=case_b, policy_key="case.in_care", opened_at=local(2026, 2, 1), due_at=local(2026, 3, 10)),
            Deadline(case_id=case_b, policy_key="case.care_plan_drafting", opened_at=local(2026, 1, 20),
                     due_at=local(2026, 2, 1), paused_at=local(2026, 2, 10)),
        ]
        s.add_all(clocks)
        s.flush()
        d2 = clocks[1].id
        assert d2 is not None
        s.add_all([
            Escalation(deadline_id=d2, rung=1, action="remind", audience="owner", fired_at=local(2026, 2, 16)),
            Escalation(deadline_id=d2, rung=2, action="escalate", audience="supervisor", fired_at=local(2026, 2, 25)),
        ])
        ids = {f"D{i + 1}": c.id for i, c in enumerate(clocks)}
    return {**{k: v for k, v in ids.items() if v is not None}, "case_a": case_a, "case_b": case_b,
            "r1": r1.id or 0, "r2": r2.id or 0}


def test_audit_on_past_days_matches_what_was_overdue_then(db: Engine) -> None:
    ids = build(db)
    with transaction(db) as s:
        # 15 Jan: D1 (due 9 Jan: 12–15 Jan = 4 working days) and D3 (due 5 Jan: 6–9, 12–15 Jan = 8).
        jan = overdue_audit(s, within_unit=DEMO_PROVINCE, as_of=local(2026, 1, 15))
        jan_items = overdue_items(s, within_unit=DEMO_PROVINCE, as_of=local(2026, 1, 15))
        # 23 Feb: D2 (due Fri 13 Feb; 16–20 Feb is Tết; only Mon 23 Feb counts = 1) and
        # D3 (6 Jan – 23 Feb: 4 + 5 + 5 + 5 in January, 5 + 5 + 0 + 1 in February = 30). D1 closed, D5 paused.
        feb = overdue_audit(s, within_unit=DEMO_PROVINCE, as_of=local(2026, 2, 23))
        feb_items = overdue_items(s, within_unit=DEMO_PROVINCE, as_of=local(2026, 2, 23))
        # 5 Mar: only D2 (23–27 Feb and 2–5 Mar = 9); D3 closed on 2 Mar, D4 not yet due.
        mar_items = overdue_items(s, within_unit=DEMO_PROVINCE, as_of=local(2026, 3, 5))

    jan_late = {(i.deadline_id, i.days_late, i.bucket) for i in jan_items}
    assert jan_late == {(ids["D1"], 4, "4-10"), (ids["D3"], 8, "4-10")}
    assert jan.total == 2 and jan.buckets == {"1-3": 0, "4-10": 2, "11-30": 0, "31+": 0}
    assert {g.key: g.total for g in jan.groups["agency"]} == {None: 1, "TH-05710": 1}

    feb_late = [(i.deadline_id, i.days_late, i.bucket) for i in feb_items]
    assert feb_late == [(ids["D3"], 30, "11-30"), (ids["D2"], 1, "1-3")]
    # the SQL aging agrees with the project calendar's own count
    assert all(i.days_late == working_days_between(i.due_at, local(2026, 2, 23)) for i in feb_items)
    assert feb.total == 2 and feb.buckets == {"1-3": 1, "4-10": 0, "11-30": 1, "31+": 0}
    assert feb.escalations == 1  # rung 2 fired on 25 Feb, after the day looked at
    assert {i.deadline_id: i.escalations for i in feb_items} == {ids["D2"]: 1, ids["D3"]: 0}
    units = {g.key: g.total for g in feb.groups["unit"]}
    assert units == {DEMO_PROVINCE: 2, COMMUNE_A: 1, COMMUNE_B: 1}
    assert {g.key: g.total for g in feb.groups["domain"]} == {"health": 1, "education": 1}
    assert {g.key: g.total for g in feb.groups["step"]} == {"referral.requested": 1, "referral.accepted": 1}
    # each clock is named by what it waits for, in both languages (not by its policy key)
    assert {g.key: (g.name_vi, g.name_en) for g in feb.groups["step"]} == {
        "referral.requested": ("Đã gửi, chờ tiếp nhận", "Requested"), "referral.accepted": ("Đã tiếp nhận", "Accepted")}
    agency_names = {g.key: g.name_vi for g in feb.groups["agency"]}
    assert agency_names["TYT-05443"] == "Trạm Y tế phường Phan Đình Phùng"

    assert [(i.deadline_id, i.days_late, i.escalations) for i in mar_items] == [(ids["D2"], 9, 2)]
    assert mar_items[0].case_reference == f"KN-{ids['case_a']:06d}"
    assert mar_items[0].due_at == local(2026, 2, 13, 17)


def test_audit_is_scoped_and_drill_down_filters(db: Engine) -> None:
    ids = build(db)
    when = local(2026, 2, 23)
    with transaction(db) as s:
        commune_a = overdue_audit(s, within_unit=COMMUNE_A, as_of=when)
        by_agency = overdue_items(s, within_unit=DEMO_PROVINCE, as_of=when, agency="TH-05710")
        by_bucket = overdue_items(s, within_unit=DEMO_PROVINCE, as_of=when, bucket="1-3")
        by_unit = overdue_items(s, within_unit=DEMO_PROVINCE, as_of=when, unit=COMMUNE_B)
        case_steps = overdue_items(s, within_unit=DEMO_PROVINCE, as_of=local(2026, 1, 15), agency="-")
        with pytest.raises(InvalidInput):
            overdue_audit(s, within_unit="no-such-unit", as_of=when)
    assert commune_a.total == 1 and {g.key for g in commune_a.groups["unit"]} == {COMMUNE_A}
    assert [i.deadline_id for i in by_agency] == [ids["D3"]]
    assert [i.deadline_id for i in by_bucket] == [ids["D2"]]
    assert [i.deadline_id for i in by_unit] == [ids["D3"]]
    assert [i.deadline_id for i in case_steps] == [ids["D1"]]


def test_audit_note_is_kept_in_the_trail_and_followed_up(db: Engine) -> None:
    ids = build(db)
    supervisor = make_user(db, "gs-tinh", "supervisor", DEMO_PROVINCE)
    other_supervisor = make_user(db, "gs-xa-b", "supervisor", COMMUNE_B)
    worker = Actor(user_id=None, role="caseworker", unit_code=COMMUNE_A)
    now = local(2026, 2, 23, 10)
    with transaction(db) as s:
        event = record_audit_note(
            s, actor=supervisor, deadline_id=ids["D2"], reason_found="Trạm y tế thiếu bác sĩ",
            action_taken="Đã gọi điện cho trưởng trạm", follow_up_date=date(2026, 2, 27), now=now,
        )
        event_id = event.id
    with transaction(db) as s:
        trail = timeline(s, ids["case_a"])
        note = next(e for e in trail if e.id == event_id)
        follow_up = s.exec(select(Task).where(Task.kind == "audit_follow_up")).one()
        replayed = replay(trail, CASE_MACHINE)
    assert (note.entity, note.action, note.referral_id) == ("audit", "audit_note", ids["r1"])
    assert note.payload["action_taken"] == "Đã gọi điện cho trưởng trạm"
    assert note.payload["follow_up_date"] == "2026-02-27" and note.actor_id == supervisor.user_id
    assert follow_up.owner_user_id == supervisor.user_id and follow_up.due_at == local(2026, 2, 27)
    assert replayed.state == "reported"  # the note does not disturb the case's own stream

    bad_calls = [
        (worker, {"deadline_id": ids["D2"]}, TransitionRefused),
        (other_supervisor, {"deadline_id": ids["D2"]}, NotFound),  # case A lies outside commune B
        (supervisor, {"deadline_id": ids["D2"], "follow_up_date": date(2026, 2, 1)}, InvalidInput),
        (supervisor, {"deadline_id": ids["D2"], "reason_found": "  "}, InvalidInput),
        (supervisor, {"deadline_id": ids["D2"], "case_id": ids["case_a"]}, InvalidInput),
    ]
    for actor, extra, error in bad_calls:
        args = {"reason_found": "lý do", "action_taken": "biện pháp", "follow_up_date": date(2026, 3, 2), **extra}
        with pytest.raises(error), transaction(db) as s:
            record_audit_note(s, actor=actor, now=now, **args)
    with transaction(db) as s:
        assert len([e for e in timeline(s, ids["case_a"]) if e.entity == "audit"]) == 1
