"""The referral lifecycle table on its own: every allowed transition, every forbidden one, and why."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.errors import TransitionRefused
from engine.i18n import translate
from engine.machine import Actor, Facts
from referrals.lifecycle import (
    ENDED_STATES,
    FHIR_STATUS,
    OPEN_STATES,
    OUTCOME_LABELS,
    OUTCOMES,
    REASON_LABELS,
    REASONS,
    REFERRAL_MACHINE,
    STATE_LABELS,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CASEWORKER = Actor(user_id=1, role="caseworker", unit_code="05443")
SUPERVISOR = Actor(user_id=2, role="supervisor", unit_code="19")
STAFF = Actor(user_id=3, role="agency_staff", unit_code="05443", agency_code="TYT-05443")
OTHER_STAFF = Actor(user_id=4, role="agency_staff", unit_code="19", agency_code="PHCN-19")
ADMIN = Actor(user_id=5, role="admin", unit_code="19")

GOOD_PAYLOAD: dict[str, dict[str, Any]] = {
    "reject": {"reason": "no_capacity"},
    "fail": {"reason": "could_not_contact_family"},
    "complete": {"outcome": "delivered_partly", "note": "đã tập 10 buổi"},
    "cancel": {"reason": "gia đình chuyển đi"},
}

# (from, action, to, who may): the issue's lifecycle written out by hand, to compare with the table.
EXPECTED = {
    ("draft", "request", "requested", "sender"),
    ("requested", "accept", "accepted", "agency"),
    ("requested", "reject", "rejected", "agency"),
    ("accepted", "start", "in_progress", "agency"),
    ("in_progress", "hold", "on_hold", "agency"),
    ("on_hold", "resume", "in_progress", "agency"),
    ("in_progress", "complete", "completed", "agency"),
    ("on_hold", "complete", "completed", "agency"),
    ("in_progress", "fail", "failed", "agency"),
    ("on_hold", "fail", "failed", "agency"),
    *{(state, "cancel", "cancelled", "sender") for state in OPEN_STATES},
}


def facts(state: str, actor: Actor, payload: dict[str, Any] | None = None, **data: Any) -> Facts:
    snapshot: dict[str, Any] = {
        "agency_code": "TYT-05443", "assignee_id": None, "service_code": "rehabilitation",
        "domain": "rehabilitation", "case_stage": "care", "case_urgency": "normal",
        "plan_services": ["rehabilitation"],
    }
    snapshot.update(data)
    return Facts(step=state, actor=actor, payload=payload or {}, now=NOW, data=snapshot,
                 consents=(("guardian", frozenset({"rehabilitation", "health"})),))


def side_actors(side: str) -> list[Actor]:
    return [CASEWORKER, SUPERVISOR] if side == "sender" else [STAFF]


def wrong_side_actors(side: str) -> list[Actor]:
    return [STAFF, OTHER_STAFF, ADMIN] if side == "sender" else [CASEWORKER, SUPERVISOR, ADMIN]


def test_the_table_is_exactly_the_issues_lifecycle() -> None:
    table = set()
    for (source, action), tr in REFERRAL_MACHINE.transitions.items():
        sides = {frozenset({"agency_staff"}): "agency", frozenset({"caseworker", "supervisor"}): "sender"}
        side = sides.get(tr.roles, "?")
        table.add((source, action, tr.target, side))
    assert table == EXPECTED
    assert REFERRAL_MACHINE.initial == "draft"
    assert {s for s, st in REFERRAL_MACHINE.steps.items() if st.final} == set(ENDED_STATES)


@pytest.mark.parametrize("source,action,target,side", sorted(EXPECTED))
def test_every_allowed_transition(source: str, action: str, target: str, side: str) -> None:
    for actor in side_actors(side):
        tr = REFERRAL_MACHINE.decide(facts(source, actor, GOOD_PAYLOAD.get(action)), action)
        assert (tr.source, tr.target) == (source, target)


@pytest.mark.parametrize("source,action,target,side", sorted(EXPECTED))
def test_every_wrong_side_is_refused(source: str, action: str, target: str, side: str) -> None:
    for actor in wrong_side_actors(side):
        payload = copy.deepcopy(GOOD_PAYLOAD.get(action, {}))
        f = facts(source, actor, payload)
        with pytest.raises(TransitionRefused) as refused:
            REFERRAL_MACHINE.decide(f, action)
        assert refused.value.code == "role_not_allowed"
        assert f.payload == GOOD_PAYLOAD.get(action, {})  # the refusal changed nothing it was given


def test_an_agency_cannot_cancel_and_a_caseworker_cannot_accept() -> None:
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("requested", STAFF, {"reason": "x"}), "cancel")
    assert refused.value.params == {"role": "agency_staff", "action": "cancel"}
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("requested", CASEWORKER), "accept")
    assert refused.value.params == {"role": "caseworker", "action": "accept"}


def _forbidden_pairs() -> list[tuple[str, str]]:
    return [(state, action) for state in REFERRAL_MACHINE.steps for action in sorted(REFERRAL_MACHINE.actions)
            if (state, action) not in REFERRAL_MACHINE.transitions]


@pytest.mark.parametrize("state,action", _forbidden_pairs())
def test_every_action_from_a_wrong_state_is_refused(state: str, action: str) -> None:
    for actor in (CASEWORKER, STAFF):
        with pytest.raises(TransitionRefused) as refused:
            REFERRAL_MACHINE.decide(facts(state, actor, GOOD_PAYLOAD.get(action)), action)
        assert refused.value.code == "action_not_allowed"
        assert refused.value.params == {"action": action, "step": state}


def test_ended_states_allow_nothing() -> None:
    for state in ENDED_STATES:
        assert REFERRAL_MACHINE.available(state, "caseworker") == []
        assert REFERRAL_MACHINE.available(state, "agency_staff") == []


def test_staff_of_another_agency_is_refused_but_the_named_assignee_may_act() -> None:
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("requested", OTHER_STAFF), "accept")
    assert refused.value.code == "referral.not_your_agency"
    tr = REFERRAL_MACHINE.decide(facts("requested", OTHER_STAFF, assignee_id=OTHER_STAFF.user_id), "accept")
    assert tr.target == "accepted"


@pytest.mark.parametrize("action,state", [("reject", "requested"), ("fail", "in_progress"), ("fail", "on_hold")])
def test_reject_and_fail_need_a_reason_from_the_list(action: str, state: str) -> None:
    for payload, code in [({}, "guard.payload_missing"), ({"reason": "too_busy"}, "guard.payload_invalid"),
                          ({"reason": "other"}, "referral.reason_text_missing"),
                          ({"reason": "other", "reason_text": "  "}, "referral.reason_text_missing")]:
        with pytest.raises(TransitionRefused) as refused:
            REFERRAL_MACHINE.decide(facts(state, STAFF, payload), action)
        assert refused.value.code == code
    for reason in REASONS:
        payload = {"reason": reason, "reason_text": "xe hỏng" if reason == "other" else ""}
        assert REFERRAL_MACHINE.decide(facts(state, STAFF, payload), action).action == action


def test_complete_needs_an_outcome_from_the_list_and_a_note() -> None:
    for payload, field in [({"note": "x"}, "outcome"), ({"outcome": "delivered_fully"}, "note"),
                           ({"outcome": "delivered_fully", "note": ""}, "note")]:
        with pytest.raises(TransitionRefused) as refused:
            REFERRAL_MACHINE.decide(facts("in_progress", STAFF, payload), "complete")
        assert (refused.value.code, refused.value.params["field"]) == ("guard.payload_missing", field)
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("in_progress", STAFF, {"outcome": "great", "note": "x"}), "complete")
    assert refused.value.code == "guard.payload_invalid"
    for outcome in OUTCOMES:
        REFERRAL_MACHINE.decide(facts("on_hold", STAFF, {"outcome": outcome, "note": "x"}), "complete")


def test_cancel_needs_a_reason() -> None:
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("accepted", CASEWORKER), "cancel")
    assert refused.value.params == {"field": "reason"}


def test_sending_needs_consent_for_the_domain_and_a_planned_service_during_care() -> None:
    no_consent = Facts(step="draft", actor=CASEWORKER, payload={}, now=NOW,
                       data=facts("draft", CASEWORKER).data, consents=(("guardian", frozenset({"health"})),))
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(no_consent, "request")
    assert refused.value.code == "referral.consent_missing"
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("draft", CASEWORKER, plan_services=["nutrition"]), "request")
    assert refused.value.code == "referral.not_in_care_plan"
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("draft", CASEWORKER, case_stage="intake"), "request")
    assert refused.value.code == "referral.not_allowed_at_stage"


def test_urgent_protection_may_be_sent_during_pre_intake_and_nothing_else() -> None:
    urgent = {"case_stage": "pre_intake", "case_urgency": "urgent", "plan_services": []}
    protection = facts("draft", CASEWORKER, domain="protection", service_code="emergency_protection", **urgent)
    protection = Facts(step="draft", actor=CASEWORKER, payload={}, now=NOW, data=protection.data,
                       consents=(("guardian", frozenset({"protection"})),))
    assert REFERRAL_MACHINE.decide(protection, "request").target == "requested"
    with pytest.raises(TransitionRefused) as refused:
        REFERRAL_MACHINE.decide(facts("draft", CASEWORKER, **urgent), "request")
    assert refused.value.code == "referral.not_allowed_at_stage"
    normal = Facts(step="draft", actor=CASEWORKER, payload={}, now=NOW,
                   data={**protection.data, "case_urgency": "normal"}, consents=protection.consents)
    with pytest.raises(TransitionRefused):
        REFERRAL_MACHINE.decide(normal, "request")


def test_fhir_status_and_labels_cover_every_state() -> None:
    fhir_task_status = {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
                        "in-progress", "on-hold", "failed", "completed", "entered-in-error"}
    assert set(FHIR_STATUS) == set(REFERRAL_MACHINE.steps)
    assert set(FHIR_STATUS.values()) <= fhir_task_status
    assert len(set(FHIR_STATUS.values())) == len(FHIR_STATUS)  # one to one
    assert set(STATE_LABELS) == set(REFERRAL_MACHINE.steps)
    assert set(REASON_LABELS) == set(REASONS) and set(OUTCOME_LABELS) == set(OUTCOMES)
    for tr in REFERRAL_MACHINE.transitions.values():
        assert tr.label_vi and tr.label_en


def test_messages_exist_in_vietnamese_and_english() -> None:
    for key in ("referral.not_your_agency", "referral.reason_text_missing", "referral.consent_missing",
                "referral.not_in_care_plan", "referral.not_allowed_at_stage"):
        params = {"domain": "d", "service": "s", "stage": "x"}
        vi, en = translate(key, "vi", **params), translate(key, "en", **params)
        assert vi != key and en != key and vi != en
    assert "đồng ý" in translate("referral.consent_missing", "vi", domain="rehabilitation")
