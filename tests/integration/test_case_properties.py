"""Random action sequences through the real ``engine.cases.transition_case`` on real databases.

Hypothesis drives cases with random actors (every role), random payloads (good ones, junk, values the
stores cannot keep) and stale versions. After every step the invariants must hold:

- the case's step is a declared step, its stage the step's stage, ``closed_at`` set exactly when closed;
- replaying the case's events gives its current step and version, and event versions strictly increase;
- an accepted action moves the case exactly as the table says and bumps the version by one;
- a refused action changes nothing: same version, data, events, consents, tasks and outbox;
- a step that waits on someone has exactly one open task; any other step has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy.engine import Engine

from engine.audit import replay, timeline
from engine.cases import open_case, transition_case
from engine.db import transaction
from engine.errors import Conflict, DomainError, InvalidInput, TransitionRefused
from engine.machine import Actor
from engine.models import Case, Consent, Event, Outbox, Task
from engine.states import CASE_MACHINE
from tests.support.people import DEMO_PROVINCE, make_child, make_user

GOOD_PAYLOADS: dict[str, dict[str, Any]] = {
    "verify": {"urgency": "normal", "assessment": "cần hỗ trợ vận động"},
    "record_consent": {"given_by": "guardian", "name": "Nguyễn Thị Hoa"},
    "accept_for_intake": {},
    "close_not_eligible": {"reason": "not_eligible"},
    "complete_assessment": {"needs": ["rehabilitation"]},
    "submit_plan": {"services": ["rehabilitation"]},
    "approve_plan": {},
    "return_plan": {"reason": "thiếu mục tiêu"},
    "record_review": {"summary": "tiến bộ"},
    "replan": {"reason": "chuyển trường"},
    "propose_closure": {"reason": "goals_met"},
    "approve_closure": {},
    "reject_closure": {"reason": "chưa xong"},
    "record_follow_up": {"note": "ổn định"},
    "reopen": {"reason": "nhu cầu mới"},
    "withdraw_consent": {"given_by": "child", "reason": "trẻ không muốn tiếp tục"},
}
ACTIONS = sorted(CASE_MACHINE.actions) + ["teleport"]
PAYLOAD_KEYS = ("urgency", "assessment", "given_by", "name", "reason", "needs", "services", "summary", "note")
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.just(""), st.just("   "),
    st.sampled_from(["urgent", "normal", "guardian", "child", "duplicate", "goals_met", "deceased"]),
    st.lists(st.text(max_size=4), max_size=2), st.just("nul\x00char"), st.just(float("nan")),
)
JUNK_PAYLOADS = st.dictionaries(st.sampled_from(PAYLOAD_KEYS), JUNK, max_size=4)
CHILD_CONSENT = {"given_by": "child", "name": "Trần Văn Minh"}


@dataclass(frozen=True)
class Snapshot:
    step: str
    stage: str
    version: int
    data: dict[str, Any]
    urgency: str
    closed: bool
    events: int
    consents: int
    outbox: int
    open_tasks: tuple[str, ...]
    replayed: tuple[str | None, int] = field(compare=False)
    event_versions: tuple[int, ...] = field(compare=False)


def _count(model: Any, case_id: int) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(model).where(model.case_id == case_id).scalar_subquery()


def snapshot(db: Engine, case_id: int) -> Snapshot:
    """Everything a transition may touch, read in one transaction (few round trips: PostgreSQL is remote)."""
    with transaction(db) as s:
        row = s.execute(
            sa.select(Case.step, Case.stage, Case.version, Case.data, Case.urgency, Case.closed_at,
                      _count(Event, case_id), _count(Consent, case_id), _count(Outbox, case_id))
            .where(Case.id == case_id)
        ).one()
        tasks = s.execute(
            sa.select(Task.kind).where(Task.case_id == case_id, Task.closed_at.is_(None)).order_by(Task.id)
        ).scalars().all()
        events = timeline(s, case_id)
    replayed = replay(events, CASE_MACHINE)
    return Snapshot(row[0], row[1], row[2], dict(row[3]), row[4], row[5] is not None, row[6], row[7], row[8],
                    tuple(tasks), (replayed.state, replayed.version),
                    tuple(e.entity_version for e in events if e.entity == "case"))


class CaseMachineRun(RuleBasedStateMachine):
    """One case per example, on the database and actors the test function hands over."""

    db: Engine
    actors: list[Actor]
    children: list[int]

    def __init__(self) -> None:
        super().__init__()
        self.case_id = 0
        self.versions: list[int] = []
        self.last: Snapshot | None = None

    @initialize(child=st.sampled_from([0, 1]), owner=st.sampled_from([0, 1]))
    def open(self, child: int, owner: int) -> None:
        with transaction(self.db) as s:
            case = open_case(s, child_id=self.children[child], actor=self.actors[owner], source="collaborator")
            assert case.id is not None
            self.case_id = case.id
        self.versions = [1]
        self.last = snapshot(self.db, self.case_id)

    @rule(data=st.data(), guided=st.integers(0, 3), good=st.integers(0, 3), stale=st.integers(0, 9))
    def act(self, data: st.DataObject, guided: int, good: int, stale: int) -> None:
        """One action: mostly one the table offers at this step by a role it names (so walks go deep),
        sometimes anything by anyone; mostly with a good payload, sometimes junk; sometimes a stale version."""
        assert self.last is not None
        offered = sorted(CASE_MACHINE.transitions[key].action for key in CASE_MACHINE.transitions
                         if key[0] == self.last.step)
        if guided and offered:
            action = data.draw(st.sampled_from(offered), label="action")
            roles = CASE_MACHINE.transitions[(self.last.step, action)].roles
            who = data.draw(st.sampled_from([a for a in self.actors if a.role in roles]), label="actor")
        else:
            action = data.draw(st.sampled_from(ACTIONS), label="action")
            who = data.draw(st.sampled_from(self.actors), label="actor")
        if good == 0:
            payload: dict[str, Any] = data.draw(JUNK_PAYLOADS, label="junk payload")
        elif action == "record_consent" and good == 1:
            payload = dict(CHILD_CONSENT)
        else:
            payload = dict(GOOD_PAYLOADS.get(action, {}))
        assert self.last is not None
        before = self.last
        expected_version = before.version - 1 if stale == 0 else before.version
        try:
            with transaction(self.db) as s:
                transition_case(s, self.case_id, action, who, expected_version, payload)
        except DomainError as error:
            self.last = snapshot(self.db, self.case_id)
            assert self.last == before
            assert isinstance(error, Conflict | TransitionRefused | InvalidInput), error
            if stale == 0:  # a stale version is never judged by the table (bad input may be refused first)
                assert isinstance(error, Conflict | InvalidInput)
            assert error.message("vi") != error.code and error.message("en") != error.code
            return
        assert stale != 0, "a stale version was accepted"
        after = self.last = snapshot(self.db, self.case_id)
        tr = CASE_MACHINE.transitions[(before.step, action)]
        assert who.role in tr.roles
        assert after.step == tr.target
        assert after.version == before.version + 1
        assert after.events == before.events + 1
        assert after.consents == before.consents + (action == "record_consent")
        self.versions.append(after.version)
        event(f"reached {after.step}")  # shows with --hypothesis-show-statistics: how deep the walks go

    @invariant()
    def state_is_declared_and_replays(self) -> None:
        now = self.last
        if now is None:
            return
        assert now.step in CASE_MACHINE.steps
        assert now.stage == CASE_MACHINE.stage_of(now.step)
        assert now.closed == CASE_MACHINE.steps[now.step].final
        assert now.replayed == (now.step, now.version)
        assert list(now.event_versions) == sorted(set(now.event_versions)) == self.versions
        waits = CASE_MACHINE.steps[now.step].waits_on is not None
        assert list(now.open_tasks) == ([now.step] if waits else [])


# Each step is a few transactions; PostgreSQL's round trips make its examples dearer, so it runs fewer.
EXAMPLES = {"sqlite": 30, "postgresql": 10}


def test_random_action_sequences_keep_the_invariants(db: Engine) -> None:
    caseworker = make_user(db, "lan", "caseworker")
    other_caseworker = make_user(db, "hung", "caseworker")
    supervisor = make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    other_supervisor = make_user(db, "mai", "supervisor", unit=DEMO_PROVINCE)
    # Roles that no row names never get as far as writing, so they need no user row (hashing is slow).
    agency_staff = Actor(user_id=None, role="agency_staff", unit_code="05443", agency_code="TYT-05443")
    admin = Actor(user_id=None, role="admin", unit_code=DEMO_PROVINCE)
    today = date.today()
    young = make_child(db, caseworker, full_name="Lê Thị Na", date_of_birth=date(today.year - 4, 1, 1))
    older = make_child(db, caseworker, full_name="Trần Văn Minh", date_of_birth=date(today.year - 10, 1, 1))

    CaseMachineRun.db = db
    CaseMachineRun.actors = [caseworker, other_caseworker, supervisor, other_supervisor, agency_staff, admin,
                             Actor.system()]
    CaseMachineRun.children = [young, older]
    run_state_machine_as_test(
        CaseMachineRun,
        # Shrinking replays whole sequences against the database and can outlast the test timeout; an
        # unshrunk failure still prints its (at most 25) steps.
        settings=settings(max_examples=EXAMPLES[db.dialect.name], stateful_step_count=25, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate],
                          suppress_health_check=[HealthCheck.too_slow]),
    )
