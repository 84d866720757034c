"""The case's transition tables, row by row, without a database.

Every allowed row is tried with each role it names; every forbidden kind (wrong step, wrong role, failing
guard) must raise ``TransitionRefused`` with its own code, readable in Vietnamese and English, and leave the
facts it was given untouched. The machine's definition checks are tried on small broken tables.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from engine.errors import TransitionRefused
from engine.machine import ROLES, Actor, Facts, Machine, MachineDefinitionError, Step, Transition, t
from engine.states import CASE_MACHINE, STAGE_LABELS, STAGE_NAMES, STAGES, STEP_LABELS
from engine.states.guards import CHILD_CONSENT_AGE

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
AUTHOR_ID = 11
APPROVER_ID = 22

# A payload that satisfies the guards of each action (the table decides which fields matter).
GOOD_PAYLOADS: dict[str, dict[str, Any]] = {
    "verify": {"urgency": "urgent", "assessment": "cannot walk unaided"},
    "record_consent": {"given_by": "guardian", "name": "Nguyễn Thị Hoa", "domains": ["health"]},
    "accept_for_intake": {},
    "close_not_eligible": {"reason": "duplicate"},
    "complete_assessment": {"needs": ["rehabilitation"]},
    "submit_plan": {"services": ["rehabilitation"], "goals": "walks with a frame"},
    "approve_plan": {"note": "ok"},
    "return_plan": {"reason": "add school support"},
    "record_review": {"summary": "progressing"},
    "replan": {"reason": "moved school"},
    "propose_closure": {"reason": "goals_met"},
    "approve_closure": {},
    "reject_closure": {"reason": "school support still running"},
    "record_follow_up": {"note": "doing well"},
    "reopen": {"reason": "new needs"},
    "withdraw_consent": {"given_by": "guardian", "domains": ["health"], "reason": "no longer wants the clinic"},
}
ROWS = sorted(CASE_MACHINE.transitions.values(), key=lambda tr: (tr.source, tr.action))


def row_id(tr: Transition) -> str:
    return f"{tr.source}-{tr.action}"


def facts_for(
    tr: Transition, role: str, *, payload: dict[str, Any] | None = None, step: str | None = None,
    consents: tuple[tuple[str, frozenset[str]], ...] | None = None, open_items: tuple[str, ...] = (),
    birth: date = date(2016, 1, 1), user_id: int = APPROVER_ID,
) -> Facts:
    """Facts under which ``tr`` is allowed, unless a keyword says otherwise."""
    if consents is None:
        consents = (("guardian", frozenset({"health"})), ("child", frozenset()))
    return Facts(
        step=step or tr.source,
        actor=Actor(user_id=user_id, role=role, unit_code="05443"),
        payload=copy.deepcopy(GOOD_PAYLOADS[tr.action]) if payload is None else payload,
        now=NOW,
        data={"care_plan": {"author_id": AUTHOR_ID, "services": ["rehabilitation"]}},
        child_birth_date=birth,
        consents=consents,
        open_items=open_items,
        owner_id=AUTHOR_ID,
    )


def refused(facts: Facts, action: str) -> TransitionRefused:
    """Ask the machine and return its refusal, checking that it read the facts without changing them."""
    before = copy.deepcopy(facts)
    with pytest.raises(TransitionRefused) as info:
        CASE_MACHINE.decide(facts, action)
    assert facts == before
    return info.value


def assert_readable(error: TransitionRefused) -> None:
    """The message exists in both languages, differs between them and has every placeholder filled."""
    vi, en = error.message("vi"), error.message("en")
    assert vi != error.code and en != error.code
    assert vi != en
    assert not re.search(r"{\w+}", vi) and not re.search(r"{\w+}", en)
    assert error.title("vi") == "Thao tác không được phép"
    assert error.title("en") == "Action not allowed"


def test_every_action_has_a_good_payload_in_this_test() -> None:
    assert CASE_MACHINE.actions == set(GOOD_PAYLOADS)


# --- allowed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tr", ROWS, ids=row_id)
def test_each_allowed_transition_for_each_of_its_roles(tr: Transition) -> None:
    for role in sorted(tr.roles):
        facts = facts_for(tr, role)
        chosen = CASE_MACHINE.decide(facts, tr.action)
        assert (chosen.source, chosen.action, chosen.target) == (tr.source, tr.action, tr.target)
        if chosen.effect is not None:
            updates = chosen.effect(facts)
            assert updates and all(isinstance(v, dict) for v in updates.values())
            for record in updates.values():
                assert record["at"] == NOW.isoformat()


@pytest.mark.parametrize("tr", ROWS, ids=row_id)
def test_every_row_is_labelled_in_both_languages(tr: Transition) -> None:
    assert tr.label_vi and tr.label_en and tr.label_vi != tr.label_en


def test_steps_and_stages_are_labelled_and_every_stage_has_its_module() -> None:
    assert set(STEP_LABELS) == set(CASE_MACHINE.steps)
    assert set(STAGE_LABELS) == set(STAGE_NAMES) == {"pre_intake", "intake", "care", "closure"}
    for module in STAGES:
        assert {s.stage for s in module.STEPS} == {module.STAGE}
        assert {tr.source for tr in module.TRANSITIONS} <= {s.name for s in module.STEPS}


def test_deadline_keys_name_the_step_they_open() -> None:
    for tr in ROWS:
        if tr.deadline_key is not None:
            assert tr.deadline_key == f"case.{tr.target}"


# --- forbidden: wrong step, wrong role, failing guard ----------------------------------------------


@pytest.mark.parametrize("action", sorted(CASE_MACHINE.actions))
def test_an_action_from_a_step_without_that_row_is_refused(action: str) -> None:
    tr = next(tr for tr in ROWS if tr.action == action)
    wrong_steps = [s for s in CASE_MACHINE.steps if (s, action) not in CASE_MACHINE.transitions]
    assert wrong_steps
    for step in wrong_steps:
        error = refused(facts_for(tr, "supervisor", step=step), action)
        assert error.code == "action_not_allowed"
        assert error.params == {"action": action, "step": step}
        assert_readable(error)


def test_an_unknown_action_is_refused() -> None:
    tr = ROWS[0]
    error = refused(facts_for(tr, "supervisor"), "teleport")
    assert error.code == "unknown_action"
    assert_readable(error)


@pytest.mark.parametrize("tr", ROWS, ids=row_id)
def test_each_role_not_named_by_a_row_is_refused(tr: Transition) -> None:
    wrong_roles = sorted(ROLES - tr.roles)
    assert wrong_roles
    for role in wrong_roles:
        error = refused(facts_for(tr, role), tr.action)
        assert error.code == "role_not_allowed"
        assert error.params == {"role": role, "action": tr.action}
        assert_readable(error)


GUARDED_BY_PAYLOAD = [tr for tr in ROWS if GOOD_PAYLOADS[tr.action]
                      and any(g.__name__.startswith("requires_") for g in tr.guards)]


@pytest.mark.parametrize("tr", GUARDED_BY_PAYLOAD, ids=row_id)
def test_each_required_field_missing_or_blank_is_refused(tr: Transition) -> None:
    role = sorted(tr.roles)[0]
    required = [g.__name__.removeprefix("requires_") for g in tr.guards if g.__name__.startswith("requires_")]
    for field in required:
        for blank in (None, "", "   ", []):
            payload = copy.deepcopy(GOOD_PAYLOADS[tr.action])
            if blank is None:
                payload.pop(field)
            else:
                payload[field] = blank
            error = refused(facts_for(tr, role, payload=payload), tr.action)
            assert error.code == "guard.payload_missing"
            assert error.params == {"field": field}
            assert_readable(error)


CHOICES = {"verify": ("urgency", "whenever"), "record_consent": ("given_by", "neighbour"),
           "withdraw_consent": ("given_by", "neighbour"),
           "close_not_eligible": ("reason", "bored"), "propose_closure": ("reason", "tired")}


@pytest.mark.parametrize("tr", [tr for tr in ROWS if tr.action in CHOICES], ids=row_id)
def test_a_value_outside_the_allowed_list_is_refused(tr: Transition) -> None:
    field, bad = CHOICES[tr.action]
    payload = {**GOOD_PAYLOADS[tr.action], field: bad}
    error = refused(facts_for(tr, sorted(tr.roles)[0], payload=payload), tr.action)
    assert error.code == "guard.payload_invalid"
    assert error.params == {"field": field, "value": bad}
    assert_readable(error)


CONSENT_ROWS = [tr for tr in ROWS if tr.action in ("accept_for_intake", "reopen")]


@pytest.mark.parametrize("tr", CONSENT_ROWS, ids=row_id)
def test_no_intake_without_the_guardians_consent(tr: Transition) -> None:
    error = refused(facts_for(tr, "caseworker", consents=()), tr.action)
    assert error.code == "guard.consent_missing"
    assert error.params == {"who": "guardian"}
    assert_readable(error)
    only_child = (("child", frozenset[str]()),)
    assert refused(facts_for(tr, "caseworker", consents=only_child), tr.action).params == {"who": "guardian"}


@pytest.mark.parametrize("tr", CONSENT_ROWS, ids=row_id)
def test_the_childs_own_consent_is_needed_from_age_seven(tr: Transition) -> None:
    guardian_only = (("guardian", frozenset({"health"})),)
    seventh_birthday = date(NOW.year - CHILD_CONSENT_AGE, NOW.month, NOW.day)
    error = refused(facts_for(tr, "caseworker", consents=guardian_only, birth=seventh_birthday), tr.action)
    assert (error.code, error.params) == ("guard.consent_missing", {"who": "child"})
    day_before_seventh_birthday = date(NOW.year - CHILD_CONSENT_AGE, NOW.month, NOW.day + 1)
    facts = facts_for(tr, "caseworker", consents=guardian_only, birth=day_before_seventh_birthday)
    assert CASE_MACHINE.decide(facts, tr.action).target == "needs_assessment"


def test_the_care_plan_author_cannot_approve_it() -> None:
    tr = CASE_MACHINE.transitions[("plan_awaiting_approval", "approve_plan")]
    error = refused(facts_for(tr, "supervisor", user_id=AUTHOR_ID), "approve_plan")
    assert error.code == "guard.self_approval"
    assert_readable(error)
    assert CASE_MACHINE.decide(facts_for(tr, "supervisor", user_id=APPROVER_ID), "approve_plan").target == "in_care"


def test_closure_is_refused_while_anything_the_case_started_is_open() -> None:
    tr = CASE_MACHINE.transitions[("closure_proposed", "approve_closure")]
    items = ("REF-7 rehabilitation (requested)", "REF-9 inclusive_education (on_hold)")
    error = refused(facts_for(tr, "supervisor", open_items=items), "approve_closure")
    assert error.code == "guard.open_items"
    assert "REF-7" in error.message("vi") and "REF-9" in error.message("en")
    assert_readable(error)


def test_reopening_a_closed_case_returns_it_to_intake() -> None:
    tr = CASE_MACHINE.transitions[("closed", "reopen")]
    assert CASE_MACHINE.stage_of(tr.target) == "intake"


def test_role_is_checked_before_the_guards() -> None:
    tr = CASE_MACHINE.transitions[("reported", "verify")]
    assert refused(facts_for(tr, "agency_staff", payload={}), "verify").code == "role_not_allowed"


# --- the machine's own definition checks -------------------------------------------------------------


def _steps(*names: str, final: str = "end") -> list[Step]:
    return [Step(n, "s") for n in names] + [Step(final, "s", final=True)]


def test_a_small_well_formed_machine_is_accepted() -> None:
    machine = Machine("ok", _steps("a", "b"), [*t("a", "go", "b", ["caseworker"]), *t("b", "end", "end", ["admin"])],
                      initial="a")
    assert machine.available("a", "caseworker")[0].target == "b"
    assert machine.available("a", "admin") == []


@pytest.mark.parametrize(
    ("steps", "rows", "initial", "complaint"),
    [
        pytest.param(_steps("a"), [*t("a", "go", "nowhere", ["caseworker"])], "a", "unknown step 'nowhere'",
                     id="unknown-target"),
        pytest.param(_steps("a"), [*t("ghost", "go", "end", ["caseworker"]), *t("a", "go", "end", ["caseworker"])],
                     "a", "unknown step 'ghost'", id="unknown-source"),
        pytest.param(_steps("a", "island"), [*t("a", "go", "end", ["caseworker"]),
                                             *t("island", "go", "end", ["caseworker"])],
                     "a", "unreachable steps ['island']", id="unreachable-step"),
        pytest.param(_steps("a", "trap"), [*t("a", "go", "end", ["caseworker"]),
                                           *t("a", "fall", "trap", ["caseworker"])],
                     "a", "cannot reach the end ['trap']", id="cannot-reach-the-end"),
        pytest.param(_steps("a"), [*t("a", "go", "end", ["caseworker"]), *t("a", "go", "a", ["supervisor"])],
                     "a", "'go' declared twice from 'a'", id="duplicate-action"),
        pytest.param([*_steps("a"), Step("a", "s")], [*t("a", "go", "end", ["caseworker"])], "a",
                     "step 'a' declared twice", id="duplicate-step"),
        pytest.param(_steps("a"), [*t("a", "go", "end", ["caseworker"])], "zzz", "initial step 'zzz'",
                     id="unknown-initial"),
        pytest.param(_steps("a"), [*t("a", "go", "end", ["wizard"])], "a", "bad roles ['wizard']",
                     id="unknown-role"),
        pytest.param(_steps("a"), [*t("a", "go", "end", [])], "a", "bad roles", id="no-role"),
        pytest.param([Step("a", "s"), Step("b", "s")], [*t("a", "go", "b", ["caseworker"])], "a", "no final step",
                     id="no-final-step"),
    ],
)
def test_a_broken_table_is_refused_when_built(
    steps: list[Step], rows: list[Transition], initial: str, complaint: str
) -> None:
    with pytest.raises(MachineDefinitionError) as info:
        Machine("broken", steps, rows, initial=initial)
    assert complaint in str(info.value)


def test_the_childs_age_turns_at_midnight_in_vietnam() -> None:
    """17:30 UTC on 1 March is already 2 March in Hà Nội: a child born 2 March turns seven then."""
    evening_utc = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
    facts = Facts(step="verified", actor=Actor(user_id=1, role="caseworker"), payload={}, now=evening_utc,
                  child_birth_date=date(2019, 3, 2))
    assert facts.child_age == 7
    assert Facts(step="verified", actor=Actor(user_id=1, role="caseworker"), payload={},
                 now=datetime(2026, 3, 1, 16, 59, tzinfo=UTC), child_birth_date=date(2019, 3, 2)).child_age == 6
