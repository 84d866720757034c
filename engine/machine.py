"""Declarative state machines: steps and transitions as tables, checked when the table is built.

Pure Python: no database and no I/O, so every table is unit-testable on its own.
A guard is a small named function that raises ``TransitionRefused`` when its rule does not hold;
an effect is a small pure function returning the updates it makes to the record's ``data``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import TransitionRefused
from engine.i18n import Localized, register, term

COUNTRY_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
ROLES = frozenset({"caseworker", "agency_staff", "supervisor", "admin", "system"})


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: str
    unit_code: str | None = None
    agency_code: str | None = None
    login: str = ""

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, role="system", login="system")


@dataclass(frozen=True)
class Facts:
    """What guards may know about the record, gathered by the service before the check."""

    step: str
    actor: Actor
    payload: Mapping[str, Any]
    now: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    child_birth_date: date | None = None
    consents: tuple[tuple[str, frozenset[str]], ...] = ()  # (given_by, domains)
    open_items: tuple[str, ...] = ()
    owner_id: int | None = None
    urgency: str = "normal"
    # the names, as loaded, of codes the payload mentions (service domains: {"health": {"vi": ..., "en": ...}}),
    # so that a refusal reads in words without the guard touching the database
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def child_age(self) -> int | None:
        if self.child_birth_date is None:
            return None
        today = self.now.astimezone(COUNTRY_TIME).date()  # a birthday starts at midnight in Vietnam, not in UTC
        born = self.child_birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


# the roles by name in refusals ("the role ... may not ...")
register({
    "role.caseworker": {"vi": "cán bộ quản lý trường hợp", "en": "caseworker"},
    "role.agency_staff": {"vi": "cán bộ cơ quan", "en": "agency staff"},
    "role.supervisor": {"vi": "giám sát viên", "en": "supervisor"},
    "role.admin": {"vi": "quản trị", "en": "administrator"},
})

Guard = Callable[[Facts], None]
Effect = Callable[[Facts], dict[str, Any]]


@dataclass(frozen=True)
class Step:
    name: str
    stage: str
    waits_on: str | None = None  # who must act next: "owner" (the caseworker), "supervisor", "agency", None
    final: bool = False


@dataclass(frozen=True)
class Transition:
    source: str
    action: str
    target: str
    roles: frozenset[str]
    guards: tuple[Guard, ...] = ()
    deadline_key: str | None = None  # the clock opened on entering ``target``
    effect: Effect | None = None
    label_vi: str = ""
    label_en: str = ""

    def check(self, facts: Facts) -> None:
        if facts.actor.role not in self.roles:
            raise TransitionRefused("role_not_allowed", role=term("role", facts.actor.role),
                                    action=Localized(self.action, {"vi": self.label_vi, "en": self.label_en}))
        for guard in self.guards:
            guard(facts)


def t(
    source: str | Iterable[str],
    action: str,
    target: str,
    roles: Iterable[str],
    *guards: Guard,
    deadline: str | None = None,
    effect: Effect | None = None,
    vi: str = "",
    en: str = "",
) -> list[Transition]:
    """One row of a transition table (several rows when ``source`` lists several steps)."""
    sources = [source] if isinstance(source, str) else list(source)
    return [
        Transition(s, action, target, frozenset(roles), tuple(guards), deadline, effect, vi, en) for s in sources
    ]


class MachineDefinitionError(ValueError):
    pass


class Machine:
    """A checked transition table: every target known, every step reachable and able to reach the end."""

    def __init__(self, name: str, steps: Iterable[Step], transitions: Iterable[Transition], initial: str) -> None:
        self.name = name
        self.steps: dict[str, Step] = {}
        for step in steps:
            if step.name in self.steps:
                raise MachineDefinitionError(f"{name}: step {step.name!r} declared twice")
            self.steps[step.name] = step
        self.initial = initial
        self.transitions: dict[tuple[str, str], Transition] = {}
        for tr in transitions:
            key = (tr.source, tr.action)
            if key in self.transitions:
                raise MachineDefinitionError(f"{name}: {tr.action!r} declared twice from {tr.source!r}")
            self.transitions[key] = tr
        self._check()

    def _check(self) -> None:
        known = set(self.steps)
        if self.initial not in known:
            raise MachineDefinitionError(f"{self.name}: initial step {self.initial!r} is not declared")
        for tr in self.transitions.values():
            for end in (tr.source, tr.target):
                if end not in known:
                    raise MachineDefinitionError(f"{self.name}: transition {tr.action!r} names unknown step {end!r}")
            unknown_roles = tr.roles - ROLES
            if unknown_roles or not tr.roles:
                raise MachineDefinitionError(f"{self.name}: {tr.action!r} has bad roles {sorted(unknown_roles)}")
        finals = {s.name for s in self.steps.values() if s.final}
        if not finals:
            raise MachineDefinitionError(f"{self.name}: no final step")
        reachable = self._closure([self.initial], forward=True)
        unreachable = known - reachable
        if unreachable:
            raise MachineDefinitionError(f"{self.name}: unreachable steps {sorted(unreachable)}")
        can_finish = self._closure(finals, forward=False)
        stuck = known - can_finish
        if stuck:
            raise MachineDefinitionError(f"{self.name}: steps that cannot reach the end {sorted(stuck)}")

    def _closure(self, start: Iterable[str], forward: bool) -> set[str]:
        edges: dict[str, set[str]] = {}
        for tr in self.transitions.values():
            a, b = (tr.source, tr.target) if forward else (tr.target, tr.source)
            edges.setdefault(a, set()).add(b)
        seen = set(start)
        queue = deque(seen)
        while queue:
            for nxt in edges.get(queue.popleft(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    @property
    def actions(self) -> set[str]:
        return {action for _, action in self.transitions}

    def action_name(self, action: str) -> Localized:
        """An action as its transitions label it, for messages (the code when none does)."""
        for tr in self.transitions.values():
            if tr.action == action and tr.label_vi:
                return Localized(action, {"vi": tr.label_vi, "en": tr.label_en})
        return Localized(action)

    def find(self, step: str, action: str) -> Transition:
        tr = self.transitions.get((step, action))
        if tr is None:
            if action not in self.actions:
                raise TransitionRefused("unknown_action", action=action)
            raise TransitionRefused("action_not_allowed", action=self.action_name(action),
                                    step=term(f"{self.name}.state", step))
        return tr

    def decide(self, facts: Facts, action: str) -> Transition:
        """The transition to apply, or ``TransitionRefused`` saying why not."""
        tr = self.find(facts.step, action)
        tr.check(facts)
        return tr

    def available(self, step: str, role: str) -> list[Transition]:
        return [tr for (src, _), tr in self.transitions.items() if src == step and role in tr.roles]

    def stage_of(self, step: str) -> str:
        return self.steps[step].stage
