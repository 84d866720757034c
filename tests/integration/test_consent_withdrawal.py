"""Withdrawing consent (Law 91/2025: the guardian, and the child, may withdraw at any time), as a case action, on
a real PostgreSQL and a real SQLite file: the consents revoked and the withdrawal on the timeline, the open
referrals it leaves without consent cancelled through the referral lifecycle (the agency told, its clocks and
tasks closed), the others untouched, new referrals refused until consent is recorded again, nothing withdrawn
that was never given, nothing left behind by a failure halfway, and a closure because the family withdrew."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.audit import timeline
from engine.cases import consent_facts
from engine.db import transaction
from engine.errors import TransitionRefused
from engine.models import Case, Consent, Deadline, DeadlineRung, Event, Outbox, Referral, Task
from notifications.render import render
from referrals.fhir import to_fhir_task
from tests.support.cases import World, case_in_care, case_step, refer
from tests.support.cases import referral_step as ref_step

SERVICES = ["rehabilitation", "inclusive_education", "health_care"]
DOMAINS = ["rehabilitation", "education", "health"]


def consents(db: Engine, case_id: int) -> list[tuple[str, list[str], bool]]:
    """(given by, domains, revoked) of every consent row of the case, oldest first."""
    with transaction(db) as s:
        rows = s.execute(sa.select(Consent).where(Consent.case_id == case_id).order_by(Consent.id)).scalars()
        return [(c.given_by, sorted(c.domains), c.revoked_at is not None) for c in rows]


def open_work(db: Engine, referral_id: int) -> tuple[int, int, int]:
    """Open tasks, open clocks and pending rungs of one referral."""
    with transaction(db) as s:
        count = sa.func.count()
        tasks = s.execute(sa.select(count).select_from(Task).where(Task.referral_id == referral_id,
                                                                   Task.closed_at.is_(None))).scalar_one()
        clocks = s.execute(sa.select(count).select_from(Deadline).where(Deadline.referral_id == referral_id,
                                                                         Deadline.closed_at.is_(None))).scalar_one()
        rungs = s.execute(sa.select(count).select_from(DeadlineRung).join(Deadline).where(
            Deadline.referral_id == referral_id)).scalar_one()
        return tasks, clocks, rungs


def everything(db: Engine, case_id: int) -> dict[str, Any]:
    """What a withdrawal may touch, to show that a refused or failed one changed nothing."""
    with transaction(db) as s:
        case = s.get(Case, case_id)
        assert case is not None
        return {
            "case": (case.step, case.version, dict(case.data)),
            "consents": s.execute(sa.select(Consent.id, Consent.domains, Consent.revoked_at)
                                  .where(Consent.case_id == case_id).order_by(Consent.id)).all(),
            "events": s.execute(sa.select(sa.func.count()).select_from(Event)
                                .where(Event.case_id == case_id)).scalar_one(),
            "referrals": s.execute(sa.select(Referral.id, Referral.state, Referral.version)
                                   .where(Referral.case_id == case_id).order_by(Referral.id)).all(),
            "tasks": s.execute(sa.select(Task.id, Task.closed_at).where(Task.case_id == case_id)
                               .order_by(Task.id)).all(),
            "clocks": s.execute(sa.select(Deadline.id, Deadline.closed_at).where(Deadline.case_id == case_id)
                                .order_by(Deadline.id)).all(),
            "outbox": s.execute(sa.select(sa.func.count()).select_from(Outbox)
                                .where(Outbox.case_id == case_id)).scalar_one(),
        }


def world_with_two_referrals(db: Engine) -> tuple[World, Referral, Referral]:
    """A case in care, the guardian consenting to rehabilitation, education and health (the child in general):
    a rehabilitation referral started at the health station and a school referral waiting on the school."""
    world = case_in_care(db, SERVICES, DOMAINS)
    rehab = refer(db, world)
    ref_step(db, rehab.id, "accept", world.hung)
    ref_step(db, rehab.id, "start", world.hung)
    school = refer(db, world, service="inclusive_education")
    return world, rehab, school


def test_a_withdrawal_revokes_the_consent_and_is_on_the_timeline(db: Engine) -> None:
    world, rehab, school = world_with_two_referrals(db)
    before = everything(db, world.case_id)
    case = case_step(db, world.case_id, "withdraw_consent", world.lan,
                     {"given_by": "guardian", "domains": ["rehabilitation"], "reason": "Gia đình tự đưa cháu đi tập"})
    assert (case.step, case.version) == ("in_care", before["case"][1] + 1)  # the case stays where it was

    # the guardian's consent is revoked and recorded again for what stays given: education and health
    assert consents(db, world.case_id) == [
        ("guardian", DOMAINS_SORTED, True), ("child", [], False), ("guardian", ["education", "health"], False)]
    with transaction(db) as s:
        old, new = s.execute(sa.select(Consent).where(Consent.case_id == world.case_id, Consent.given_by == "guardian")
                             .order_by(Consent.id)).scalars().all()
        assert (new.name, new.recorded_at, new.recorded_by) == (old.name, old.recorded_at, old.recorded_by)
        assert old.revoked_at is not None
        assert {g: sorted(d) for g, d in consent_facts(s, world.case_id)} == {
            "guardian": ["education", "health"], "child": []}
        events = timeline(s, world.case_id)
    withdrawal = next(e for e in events if e.action == "withdraw_consent")
    assert (withdrawal.entity, withdrawal.actor_id, withdrawal.from_state, withdrawal.to_state) == (
        "case", world.lan.user_id, "in_care", "in_care")
    assert withdrawal.reason == "Gia đình tự đưa cháu đi tập"
    assert withdrawal.payload["given_by"] == "guardian" and withdrawal.payload["domains"] == ["rehabilitation"]
    assert withdrawal.payload["revoked_consent_ids"] == [old.id]
    assert withdrawal.payload["withdrawn_domains"] == ["rehabilitation"]
    assert withdrawal.payload["cancelled_referral_ids"] == [rehab.id]
    # the cancellation follows it on the trail, as the referral lifecycle records it, by the same person
    cancel = events[-1]
    assert (cancel.referral_id, cancel.action, cancel.to_state, cancel.actor_id, cancel.reason) == (
        rehab.id, "cancel", "cancelled", world.lan.user_id, "consent_withdrawn")
    assert cancel.payload["withdrawal_event_id"] == withdrawal.id
    assert school.id not in [e.referral_id for e in events if e.id > withdrawal.id]


DOMAINS_SORTED = sorted(DOMAINS)


def test_open_referrals_in_the_domain_are_cancelled_the_agency_told_and_the_others_untouched(db: Engine) -> None:
    world, rehab, school = world_with_two_referrals(db)
    assert open_work(db, rehab.id)[:2] == (1, 1)  # the health station's task and its in-progress clock
    school_before = open_work(db, school.id)
    with transaction(db) as s:
        school_version = s.get(Referral, school.id).version
    case_step(db, world.case_id, "withdraw_consent", world.lan, {"given_by": "guardian", "domains": "rehabilitation"})

    with transaction(db) as s:
        ended = s.get(Referral, rehab.id)
        kept = s.get(Referral, school.id)
        assert (ended.state, ended.reason_code, ended.reason_text) == ("cancelled", "consent_withdrawn", None)
        assert ended.ended_at is not None
        assert (kept.state, kept.version) == ("requested", school_version)
        notices = s.execute(sa.select(Outbox).where(Outbox.referral_id == rehab.id,
                                                    Outbox.template == "referral_cancelled")).scalars().all()
        fhir = to_fhir_task(ended, "KN-000001")
    assert open_work(db, rehab.id) == (0, 0, 0)  # its deadlines (and their rungs) and tasks are closed
    assert open_work(db, school.id) == school_before
    assert fhir["status"] == "cancelled" and fhir["statusReason"]["coding"][0]["code"] == "consent_withdrawn"

    # the health station is told, at once (not held for a digest), without the family's own words
    assert [(n.recipient_kind, n.recipient_ref, n.status) for n in notices] == [("agency", "TYT-05443", "pending")]
    context = notices[0].context
    assert context["reason_code"] == "consent_withdrawn" and "reason_text" not in context
    _, vi = render("referral_cancelled", "vi", context, short=True)
    _, en = render("referral_cancelled", "en", context)
    assert "sự đồng ý đã được rút lại" in vi and "dừng cung cấp dịch vụ" in vi
    assert "consent withdrawn" in en and "stop the service" in en


def test_a_domain_still_covered_by_another_consent_keeps_its_referral(db: Engine) -> None:
    world = case_in_care(db, SERVICES, DOMAINS)
    case_step(db, world.case_id, "record_consent", world.lan,
              {"given_by": "child", "name": "Trần Văn Minh", "domains": ["rehabilitation"]})
    rehab = refer(db, world)
    case_step(db, world.case_id, "withdraw_consent", world.lan, {"given_by": "guardian"})  # all of the guardian's
    with transaction(db) as s:
        assert s.get(Referral, rehab.id).state == "requested"  # the child's consent still covers it
        withdrawal = [e for e in timeline(s, world.case_id) if e.action == "withdraw_consent"][-1]
    assert withdrawal.payload["domains_still_covered"] == ["rehabilitation"]
    assert withdrawal.payload["cancelled_referral_ids"] == []
    case_step(db, world.case_id, "withdraw_consent", world.lan, {"given_by": "child", "domains": ["rehabilitation"]})
    with transaction(db) as s:
        assert s.get(Referral, rehab.id).state == "cancelled"


def test_a_new_referral_in_the_domain_is_refused_until_consent_is_recorded_again(db: Engine) -> None:
    world, rehab, _ = world_with_two_referrals(db)
    case_step(db, world.case_id, "withdraw_consent", world.lan, {"given_by": "guardian", "domains": ["rehabilitation"]})
    before = everything(db, world.case_id)
    with pytest.raises(TransitionRefused) as refused:
        refer(db, world)
    assert refused.value.code == "referral.consent_missing"
    assert "Phục hồi chức năng" in refused.value.message("vi") and "Rehabilitation" in refused.value.message("en")
    assert everything(db, world.case_id) == before
    # a cancellation cannot claim a withdrawal that did not happen: education is still consented to
    with pytest.raises(TransitionRefused) as refused:
        ref_step(db, before["referrals"][1][0], "cancel", world.lan, {"reason": "consent_withdrawn"})
    assert refused.value.code == "referral.consent_still_given"

    case_step(db, world.case_id, "record_consent", world.lan,
              {"given_by": "guardian", "name": "Nguyễn Thị Hoa", "domains": ["rehabilitation"]})
    again = refer(db, world)
    assert again.state == "requested" and again.id != rehab.id


def test_withdrawing_what_was_never_given_is_refused_and_changes_nothing(db: Engine) -> None:
    world, _, _ = world_with_two_referrals(db)
    before = everything(db, world.case_id)
    # the guardian never consented to legal aid; the child's consent names no domain
    for payload, code in [
        ({"given_by": "guardian", "domains": ["rehabilitation", "legal"]}, "guard.consent_not_given_for"),
        ({"given_by": "child", "domains": ["health"]}, "guard.consent_not_given_for"),
        ({"given_by": "neighbour"}, "guard.payload_invalid"),
        ({"domains": ["health"]}, "guard.payload_missing"),
        ({"given_by": "guardian", "domains": {"health": True}}, "guard.payload_invalid"),
    ]:
        with pytest.raises(TransitionRefused) as refused:
            case_step(db, world.case_id, "withdraw_consent", world.lan, payload)
        assert refused.value.code == code, payload
        assert everything(db, world.case_id) == before
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, world.case_id, "withdraw_consent", world.lan,
                  {"given_by": "guardian", "domains": ["rehabilitation", "legal"]})
    vi, en = refused.value.message("vi"), refused.value.message("en")
    assert vi == ("Không thể rút lại điều chưa được đồng ý: cha mẹ, người chăm sóc chưa đồng ý (hoặc đã rút lại) "
                  "cho lĩnh vực Trợ giúp pháp lý. Hồ sơ không thay đổi.")
    assert en == ("What was never given cannot be withdrawn: the parent or carer has not consented (or has already "
                  "withdrawn) for Legal aid. Nothing was changed.")

    # withdrawn once, it cannot be withdrawn again
    case_step(db, world.case_id, "withdraw_consent", world.lan, {"given_by": "child"})
    before = everything(db, world.case_id)
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, world.case_id, "withdraw_consent", world.lan, {"given_by": "child"})
    assert refused.value.code == "guard.consent_not_given"
    assert refused.value.message("vi") == ("Không có sự đồng ý nào còn hiệu lực của trẻ để rút lại; "
                                           "hồ sơ không thay đổi.")
    assert refused.value.message("en") == "There is no consent of the child in force to withdraw; nothing was changed."
    assert everything(db, world.case_id) == before


REFUSE_CANCELLATION = {
    "postgresql": [
        "CREATE FUNCTION refuse_cancellation() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the store refuses'; END $$",
        "CREATE TRIGGER refuse_cancellation BEFORE UPDATE ON referral FOR EACH ROW "
        "WHEN (NEW.state = 'cancelled') EXECUTE FUNCTION refuse_cancellation()",
    ],
    "sqlite": [
        "CREATE TRIGGER refuse_cancellation BEFORE UPDATE ON referral WHEN NEW.state = 'cancelled' "
        "BEGIN SELECT RAISE(ABORT, 'the store refuses'); END",
    ],
}


def test_a_failure_halfway_leaves_nothing(db: Engine) -> None:
    """The store itself refuses the referral's cancellation (a trigger), after the consent was revoked and the
    withdrawal recorded in the same transaction: all of it is rolled back."""
    world, rehab, _ = world_with_two_referrals(db)
    with db.begin() as conn:
        for statement in REFUSE_CANCELLATION[db.dialect.name]:
            conn.exec_driver_sql(statement)
    before = everything(db, world.case_id)
    with pytest.raises(sa.exc.DBAPIError):
        case_step(db, world.case_id, "withdraw_consent", world.lan,
                  {"given_by": "guardian", "domains": ["rehabilitation"]})
    assert everything(db, world.case_id) == before
    assert consents(db, world.case_id)[0] == ("guardian", DOMAINS_SORTED, False)


def test_closing_because_the_family_withdrew_leaves_no_consent_in_force(db: Engine) -> None:
    world, rehab, school = world_with_two_referrals(db)
    case_step(db, world.case_id, "propose_closure", world.lan, {"reason": "family_withdrew"})
    with pytest.raises(TransitionRefused) as refused:  # the referrals still run: closure waits for them
        case_step(db, world.case_id, "approve_closure", world.binh)
    assert refused.value.code == "guard.open_items"
    # the family withdrew its consent: both referrals stop at once, and the closure can be approved
    case_step(db, world.case_id, "withdraw_consent", world.lan, {"given_by": "guardian", "reason": "Gia đình rút lui"})
    with transaction(db) as s:
        assert [s.get(Referral, r.id).state for r in (rehab, school)] == ["cancelled", "cancelled"]
    closed = case_step(db, world.case_id, "approve_closure", world.binh)
    assert closed.step == "closed"
    # what the guardian had not withdrawn by hand (the child's general consent) ends with the closure
    assert [revoked for _, _, revoked in consents(db, world.case_id)] == [True, True]
    with transaction(db) as s:
        approval = [e for e in timeline(s, world.case_id) if e.action == "approve_closure"][-1]
        assert approval.payload["revoked_consent_ids"] == [
            c for c in s.execute(sa.select(Consent.id).where(Consent.case_id == world.case_id,
                                                             Consent.given_by == "child")).scalars()]

    # coming back means consenting again before the case reopens
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, world.case_id, "reopen", world.lan, {"reason": "Gia đình quay lại"})
    assert refused.value.code == "guard.consent_missing"
    case_step(db, world.case_id, "record_consent", world.lan, {"given_by": "guardian", "name": "Nguyễn Thị Hoa"})
    case_step(db, world.case_id, "record_consent", world.lan, {"given_by": "child", "name": "Trần Văn Minh"})
    assert case_step(db, world.case_id, "reopen", world.lan, {"reason": "Gia đình quay lại"}).step == "needs_assessment"


def test_closing_for_another_reason_keeps_the_consents(db: Engine) -> None:
    world = case_in_care(db, SERVICES, DOMAINS)
    case_step(db, world.case_id, "propose_closure", world.lan, {"reason": "goals_met"})
    case_step(db, world.case_id, "approve_closure", world.binh)
    assert [revoked for _, _, revoked in consents(db, world.case_id)] == [False, False]
