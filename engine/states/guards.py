"""Guards and effects shared by the stage tables: small named functions over ``Facts``."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from engine.errors import TransitionRefused
from engine.machine import Effect, Facts, Guard

CHILD_CONSENT_AGE = 7  # the child's own consent is needed from age 7 (Law on Children 2016, Art. 6)

URGENCY_LEVELS = ("normal", "urgent")
NOT_ELIGIBLE_REASONS = ("not_eligible", "duplicate", "unreachable")
CLOSURE_REASONS = ("goals_met", "turned_16", "moved_away", "family_withdrew", "deceased")


def requires(field: str, allowed: Collection[str] | None = None) -> Guard:
    """The payload must carry ``field`` (non-empty), optionally from a list of allowed values."""

    def guard(facts: Facts) -> None:
        value = facts.payload.get(field)
        if value is None or value == [] or value == {} or (isinstance(value, str) and not value.strip()):
            raise TransitionRefused("guard.payload_missing", field=field)
        if allowed is not None:
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if v not in allowed]
            if bad:
                raise TransitionRefused("guard.payload_invalid", field=field, value=", ".join(map(str, bad)))

    guard.__name__ = f"requires_{field}"
    return guard


def consent_of_guardian_and_child(facts: Facts) -> None:
    """No intake without a guardian's recorded consent, and the child's own from age 7."""
    givers = {given_by for given_by, _ in facts.consents}
    if "guardian" not in givers:
        raise TransitionRefused("guard.consent_missing", who="guardian")
    age = facts.child_age
    if age is not None and age >= CHILD_CONSENT_AGE and "child" not in givers:
        raise TransitionRefused("guard.consent_missing", who="child")


def approver_is_not_plan_author(facts: Facts) -> None:
    """The care plan is approved by a different person than its author."""
    author = (facts.data.get("care_plan") or {}).get("author_id")
    if author is not None and author == facts.actor.user_id:
        raise TransitionRefused("guard.self_approval")


def nothing_left_open(facts: Facts) -> None:
    """Closure is refused while anything the case started (referrals...) is still open."""
    if facts.open_items:
        raise TransitionRefused("guard.open_items", items=", ".join(facts.open_items))


def store(key: str, *fields: str, author: bool = False) -> Effect:
    """Effect: keep the named payload fields under ``data[key]`` (with who and when)."""

    def effect(facts: Facts) -> dict[str, Any]:
        record: dict[str, Any] = {f: facts.payload.get(f) for f in fields if f in facts.payload}
        record["at"] = facts.now.isoformat()
        if author:
            record["author_id"] = facts.actor.user_id
        return {key: record}

    effect.__name__ = f"store_{key}"
    return effect


def merge(*effects: Effect) -> Effect:
    def effect(facts: Facts) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for e in effects:
            out.update(e(facts))
        return out

    return effect


def set_field(key: str, value_of: Callable[[Facts], Any]) -> Effect:
    def effect(facts: Facts) -> dict[str, Any]:
        return {key: value_of(facts)}

    effect.__name__ = f"set_{key}"
    return effect
