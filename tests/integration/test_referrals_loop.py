"""Closed-loop referrals on a real PostgreSQL and a real SQLite file: the loop, re-referral, closure, races."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.audit import replay, timeline
from engine.db import transaction
from engine.errors import Conflict, DomainError, InvalidInput, NotFound, TransitionRefused
from engine.machine import Actor
from engine.models import Case, Deadline, Event, Outbox, Referral, Task
from engine.tasks import my_tasks
from referrals.lifecycle import REFERRAL_MACHINE, STATE_LABELS
from referrals.services import agency_inbox, create_referral, referrals_of_case, transition_referral
from tests.support.cases import case_in_care, case_step, refer, urgent_verified_case
from tests.support.cases import referral_step as ref_step
from tests.support.people import make_user


def open_tasks(db: Engine, referral_id: int) -> list[tuple[str, int | None, str | None]]:
    with transaction(db) as s:
        rows = s.execute(
            sa.select(Task.kind, Task.owner_user_id, Task.owner_agency_code)
            .where(Task.referral_id == referral_id, Task.closed_at.is_(None))
        ).all()
        return [tuple(r) for r in rows]


def open_clocks(db: Engine, referral_id: int) -> list[tuple[int, str, datetime, bool]]:
    with transaction(db) as s:
        rows = s.execute(
            sa.select(Deadline.id, Deadline.policy_key, Deadline.due_at, Deadline.paused_at.is_not(None))
            .where(Deadline.referral_id == referral_id, Deadline.closed_at.is_(None)).order_by(Deadline.id)
        ).all()
        return [(r[0], r[1], r[2], bool(r[3])) for r in rows]


def test_full_closed_loop_requested_accepted_in_progress_completed(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation", "inclusive_education"], ["rehabilitation", "education"])
    ref = refer(db, world)
    assert (ref.state, ref.agency_code, ref.version) == ("requested", "TYT-05443", 2)
    assert "Trạm Y tế phường Phan Đình Phùng" in (ref.routing_reason or "")
    assert ref.override_reason is None
    assert open_tasks(db, ref.id) == [("requested", None, "TYT-05443")]
    with transaction(db) as s:
        assert [r.id for r in agency_inbox(s, "TYT-05443")] == [ref.id]
        assert [t.referral_id for t in my_tasks(s, world.hung)] == [ref.id]

    ref_step(db, ref.id, "accept", world.hung)
    ref_step(db, ref.id, "start", world.hung)
    in_progress_clock = open_clocks(db, ref.id)
    assert [(key, paused) for _, key, _, paused in in_progress_clock] == [("referral.in_progress", False)]
    ref_step(db, ref.id, "hold", world.hung, {"reason": "gia đình về quê ăn Tết"})
    assert open_tasks(db, ref.id) == [("on_hold", None, "TYT-05443")]
    # The in-progress clock is kept (paused, as the default policy says) beside the on-hold clock.
    held = open_clocks(db, ref.id)
    assert [(key, paused) for _, key, _, paused in held] == [
        ("referral.in_progress", True), ("referral.on_hold", False)]
    assert held[0][0] == in_progress_clock[0][0]
    ref_step(db, ref.id, "resume", world.hung)
    resumed = open_clocks(db, ref.id)
    assert [(clock_id, key, paused) for clock_id, key, _, paused in resumed] == [
        (in_progress_clock[0][0], "referral.in_progress", False)]
    assert resumed[0][2] >= in_progress_clock[0][2]
    with transaction(db) as s:
        task_due = s.execute(
            sa.select(Task.due_at).where(Task.referral_id == ref.id, Task.closed_at.is_(None))).scalar()
    assert task_due == resumed[0][2]
    with pytest.raises(TransitionRefused) as refused:
        ref_step(db, ref.id, "complete", world.hung, {"outcome": "delivered_fully"})
    assert refused.value.params == {"field": "note"}
    done = ref_step(db, ref.id, "complete", world.hung, {"outcome": "delivered_fully", "note": "đi lại được"})

    assert (done.state, done.outcome, done.outcome_note, done.version) == (
        "completed", "delivered_fully", "đi lại được", 7)
    assert done.requested_at and done.accepted_at and done.started_at and done.ended_at
    assert open_tasks(db, ref.id) == []
    assert open_clocks(db, ref.id) == []
    with transaction(db) as s:
        assert agency_inbox(s, "TYT-05443") == []
        events = [e for e in timeline(s, world.case_id) if e.entity == "referral"]
        assert [e.action for e in events] == ["create", "request", "accept", "start", "hold", "resume", "complete"]
        assert [e.entity_version for e in events] == [1, 2, 3, 4, 5, 6, 7]
        assert {e.referral_id for e in events} == {ref.id}
        replayed = replay(events, REFERRAL_MACHINE, entity="referral", referral_id=ref.id)
        assert (replayed.state, replayed.version) == ("completed", 7)
        # The agency is told when the referral arrives, the caseworker when it ends (written in the same
        # transactions; sent later by the delivery flow).
        notices = s.execute(sa.select(Outbox.template, Outbox.recipient_kind, Outbox.recipient_ref)
                            .where(Outbox.referral_id == ref.id).order_by(Outbox.id)).all()
        assert [tuple(n) for n in notices] == [
            ("referral_requested", "agency", "TYT-05443"), ("referral_completed", "user", str(world.lan.user_id))]


def test_rejection_then_referral_to_the_next_candidate(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation"], ["rehabilitation"])
    first = refer(db, world)
    assert first.agency_code == "TYT-05443"
    with pytest.raises(TransitionRefused) as refused:
        ref_step(db, first.id, "reject", world.hung, {"reason": "other"})
    assert refused.value.code == "referral.reason_text_missing"
    rejected = ref_step(db, first.id, "reject", world.hung, {"reason": "no_capacity"})
    assert (rejected.state, rejected.reason_code) == ("rejected", "no_capacity")
    lan_id = world.lan.user_id
    assert open_tasks(db, first.id) == [("refer_again", lan_id, None)]
    with transaction(db) as s:
        assert [t.kind for t in my_tasks(s, world.lan) if t.referral_id] == ["refer_again"]

    # The station that said no now comes last: the province centre is proposed, without an override.
    second = refer(db, world)
    assert (second.agency_code, second.state, second.previous_referral_id) == ("PHCN-19", "requested", first.id)
    assert second.override_reason is None
    assert "toàn địa bàn Thái Nguyên" in (second.routing_reason or "")
    assert open_tasks(db, first.id) == []
    with transaction(db) as s:
        assert [t.kind for t in my_tasks(s, world.lan) if t.referral_id] == []
        assert [r.id for r in agency_inbox(s, "PHCN-19")] == [second.id]

    ref_step(db, second.id, "accept", world.centre)
    ref_step(db, second.id, "start", world.centre)
    failed = ref_step(db, second.id, "fail", world.centre, {"reason": "family_declined"})
    assert (failed.state, failed.reason_code, failed.ended_at is not None) == ("failed", "family_declined", True)
    assert open_tasks(db, second.id) == [("refer_again", lan_id, None)]
    with transaction(db) as s:
        told = s.execute(sa.select(Outbox.referral_id, Outbox.template, Outbox.recipient_ref)
                         .where(Outbox.recipient_kind == "user").order_by(Outbox.id)).all()
    assert [tuple(t) for t in told] == [(first.id, "referral_rejected", str(lan_id)),
                                        (second.id, "referral_rejected", str(lan_id))]


def test_override_of_the_proposal_needs_and_records_a_reason(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation"], ["rehabilitation"])
    with pytest.raises(TransitionRefused) as refused:
        refer(db, world, agency_code="PHCN-19")
    assert refused.value.code == "referral.override_reason_missing"
    with pytest.raises(TransitionRefused) as refused:
        refer(db, world, agency_code="TYT-05710", override_reason="gần nhà")  # temporarily closed
    assert refused.value.code == "referral.not_a_candidate"
    with transaction(db) as s:
        assert referrals_of_case(s, world.case_id) == []

    ref = refer(db, world, agency_code="PHCN-19", override_reason="trẻ cần dụng cụ chỉnh hình")
    assert (ref.agency_code, ref.override_reason) == ("PHCN-19", "trẻ cần dụng cụ chỉnh hình")
    assert "Trung tâm Phục hồi chức năng" in (ref.routing_reason or "")
    with transaction(db) as s:
        created = s.execute(sa.select(Event).where(Event.referral_id == ref.id, Event.action == "create")).scalar_one()
        assert created.reason == "trẻ cần dụng cụ chỉnh hình"
        assert created.payload["override_reason"] == "trẻ cần dụng cụ chỉnh hình"


def test_referral_needs_consent_covering_the_domain_and_a_planned_service(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation", "inclusive_education"], ["education"])
    with pytest.raises(TransitionRefused) as refused:
        refer(db, world)
    assert refused.value.code == "referral.consent_missing"
    assert "rehabilitation" in refused.value.params["domain"]  # the code, named in words in the message
    assert "Phục hồi chức năng" in refused.value.message("vi") and "rehabilitation" not in refused.value.message("vi")
    with pytest.raises(TransitionRefused) as refused:
        refer(db, world, service="legal_aid")
    assert refused.value.code == "referral.not_in_care_plan"
    with transaction(db) as s:
        assert referrals_of_case(s, world.case_id) == []
        assert s.execute(sa.select(sa.func.count()).select_from(Event).where(Event.entity == "referral")).scalar() == 0

    school = refer(db, world, service="inclusive_education")
    assert (school.agency_code, school.state) == ("TH-05443", "requested")
    # A draft shares nothing yet; sending it does, so the consent rule applies then.
    draft = refer(db, world, send=False)
    assert draft.state == "draft"
    with pytest.raises(TransitionRefused) as refused:
        ref_step(db, draft.id, "request", world.lan)
    assert refused.value.code == "referral.consent_missing"
    case_step(db, world.case_id, "record_consent", world.lan,
              {"given_by": "guardian", "name": "Nguyễn Thị Hoa", "domains": ["rehabilitation"]})
    assert ref_step(db, draft.id, "request", world.lan).state == "requested"
    with pytest.raises(TransitionRefused) as refused:
        refer(db, world)
    assert refused.value.code == "referral.already_open"


def test_urgent_protection_is_referred_already_during_pre_intake(db: Engine) -> None:
    case_id, lan = urgent_verified_case(db)
    with transaction(db) as s:
        with pytest.raises(TransitionRefused) as refused:
            create_referral(s, case_id=case_id, service_code="rehabilitation", actor=lan)
        assert refused.value.code == "referral.not_allowed_at_stage"
        ref = create_referral(s, case_id=case_id, service_code="emergency_protection", actor=lan)
    assert (ref.agency_code, ref.state) == ("CTXH-19", "requested")


def test_closure_refused_while_a_referral_is_open_and_allowed_once_it_ends(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation", "inclusive_education"], ["rehabilitation", "education"])
    rehab = refer(db, world)
    school = refer(db, world, service="inclusive_education")
    case_step(db, world.case_id, "propose_closure", world.lan, {"reason": "moved_away"})
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, world.case_id, "approve_closure", world.binh)
    assert refused.value.code == "guard.open_items"
    message = refused.value.message("vi")
    requested = {lang: STATE_LABELS["requested"][index] for index, lang in enumerate(("vi", "en"))}
    assert f"REF-{rehab.id} «Phục hồi chức năng dựa vào cộng đồng»: {requested['vi']}" in message
    assert f"REF-{school.id} «Giáo dục hòa nhập»: {requested['vi']}" in message
    with transaction(db) as s:
        assert s.get(Case, world.case_id).step == "closure_proposed"

    ref_step(db, rehab.id, "reject", world.hung, {"reason": "not_eligible"})
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, world.case_id, "approve_closure", world.binh)
    assert f"REF-{rehab.id}" not in refused.value.message("en")
    assert f"REF-{school.id} 'Inclusive education': {requested['en']}" in refused.value.message("en")

    ref_step(db, school.id, "cancel", world.lan, {"reason": "gia đình chuyển đi nơi khác"})
    closed = case_step(db, world.case_id, "approve_closure", world.binh)
    assert closed.step == "closed"


def test_twenty_concurrent_accepts_give_exactly_one_success(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation"], ["rehabilitation"])
    ref = refer(db, world)
    staff = [make_user(db, f"tyt{i}", "agency_staff", agency="TYT-05443") for i in range(20)]
    barrier = threading.Barrier(len(staff))
    outcomes: list[str] = []
    lock = threading.Lock()

    def accept(actor: Actor) -> None:
        barrier.wait()
        try:
            with transaction(db) as s:
                transition_referral(s, ref.id, "accept", actor, ref.version, {})
            result = "ok"
        except Conflict:
            result = "conflict"
        except DomainError as exc:  # anything else is a failure of the test
            result = f"error {exc.code}"
        except Exception as exc:  # noqa: BLE001 - record, then fail the test below
            result = f"crash {exc!r}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=accept, args=(a,)) for a in staff]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert sorted(outcomes) == ["conflict"] * 19 + ["ok"]
    with transaction(db) as s:
        stored = s.get(Referral, ref.id)
        assert (stored.state, stored.version) == ("accepted", ref.version + 1)
        accepts = s.execute(
            sa.select(sa.func.count()).select_from(Event).where(Event.referral_id == ref.id, Event.action == "accept")
        ).scalar()
        assert accepts == 1
    assert open_tasks(db, ref.id) == [("accepted", None, "TYT-05443")]


def snapshot(db: Engine, referral_id: int) -> dict[str, Any]:
    """Everything a referral transition may write."""
    with transaction(db) as s:
        count = lambda model, *where: s.execute(  # noqa: E731
            sa.select(sa.func.count()).select_from(model).where(*where)).scalar()
        return {
            "referral": s.get(Referral, referral_id).model_dump(),
            "events": count(Event),
            "tasks": sorted(tuple(r) for r in s.execute(sa.select(Task.id, Task.closed_at)).all()),
            "clocks": sorted(tuple(r) for r in s.execute(sa.select(Deadline.id, Deadline.closed_at)).all()),
            "outbox": count(Outbox),
        }


def test_every_refusal_changes_nothing(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation"], ["rehabilitation"])
    ref = refer(db, world)
    before = snapshot(db, ref.id)
    attempts: list[tuple[Actor, str, dict[str, Any], int, type[DomainError], str]] = [
        (world.hung, "cancel", {"reason": "x"}, 0, TransitionRefused, "role_not_allowed"),  # an agency cannot cancel
        (world.lan, "accept", {}, 0, TransitionRefused, "role_not_allowed"),  # a caseworker cannot accept
        (world.binh, "reject", {"reason": "no_capacity"}, 0, TransitionRefused, "role_not_allowed"),
        (world.centre, "accept", {}, 0, TransitionRefused, "referral.not_your_agency"),  # another agency
        (world.hung, "start", {}, 0, TransitionRefused, "action_not_allowed"),  # wrong state
        (world.hung, "complete", {"outcome": "delivered_fully", "note": "x"}, 0, TransitionRefused,
         "action_not_allowed"),
        (world.hung, "reject", {"reason": "bận"}, 0, TransitionRefused, "guard.payload_invalid"),
        (world.hung, "reject", {"reason": "other", "reason_text": ""}, 0, TransitionRefused,
         "referral.reason_text_missing"),
        (world.hung, "explode", {}, 0, TransitionRefused, "unknown_action"),
        (world.hung, "accept", {}, -1, Conflict, "stale_version"),  # stale version
        (world.hung, "reject", {"reason": "other", "reason_text": "a\x00b"}, 0, InvalidInput, "invalid_input"),
    ]
    for actor, action, payload, version_shift, error, code in attempts:
        with pytest.raises(error) as refused, transaction(db) as s:
            transition_referral(s, ref.id, action, actor, ref.version + version_shift, payload)
        assert refused.value.code == code, (action, actor.login)
        assert snapshot(db, ref.id) == before, (action, actor.login)
    with pytest.raises(NotFound), transaction(db) as s:
        transition_referral(s, ref.id + 1000, "accept", world.hung, 1, {})
    assert ref_step(db, ref.id, "accept", world.hung).state == "accepted"


def test_a_referral_to_a_named_person_goes_to_their_queue(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation"], ["rehabilitation"])
    with pytest.raises(InvalidInput) as refused:
        refer(db, world, assignee_id=world.centre.user_id)  # not staff of the proposed station
    assert refused.value.code == "referral.assignee_invalid"
    ref = refer(db, world, assignee_id=world.hung.user_id)
    assert open_tasks(db, ref.id) == [("requested", world.hung.user_id, None)]
    colleague = make_user(db, "tyt-dong-nghiep", "agency_staff", agency="TYT-05443")
    with transaction(db) as s:
        assert [t.referral_id for t in my_tasks(s, world.hung)] == [ref.id]
        assert my_tasks(s, colleague) == []  # not in the station's shared queue...
        assert [r.id for r in agency_inbox(s, "TYT-05443")] == [ref.id]  # ...but addressed to the station
    assert ref_step(db, ref.id, "accept", colleague).state == "accepted"  # any of its staff may act
    assert open_tasks(db, ref.id) == [("accepted", world.hung.user_id, None)]


def test_concurrent_referrals_for_the_same_service_open_only_one(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation"], ["rehabilitation"])
    senders = [world.lan] + [make_user(db, f"ctv{i}", "caseworker") for i in range(7)]
    barrier = threading.Barrier(len(senders))
    outcomes: list[str] = []
    lock = threading.Lock()

    def send(actor: Actor) -> None:
        barrier.wait()
        try:
            with transaction(db) as s:
                create_referral(s, case_id=world.case_id, service_code="rehabilitation", actor=actor)
            result = "ok"
        except DomainError as exc:
            result = exc.code
        except Exception as exc:  # noqa: BLE001 - record, then fail the test below
            result = f"crash {exc!r}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=send, args=(a,)) for a in senders]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert sorted(outcomes) == ["ok"] + ["referral.already_open"] * (len(senders) - 1)
    with transaction(db) as s:
        assert [r.state for r in referrals_of_case(s, world.case_id)] == ["requested"]
