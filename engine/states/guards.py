"""Guards and effects shared by the stage tables: small named functions over ``Facts``."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from engine.errors import TransitionRefused
from engine.i18n import Listing, register, term
from engine.machine import Effect, Facts, Guard

CHILD_CONSENT_AGE = 7  # the child's own consent is needed from age 7 (Law on Children 2016, Art. 6)

URGENCY_LEVELS = ("normal", "urgent")
NOT_ELIGIBLE_REASONS = ("not_eligible", "duplicate", "unreachable")
CLOSURE_REASONS = ("goals_met", "turned_16", "moved_away", "family_withdrew", "deceased")

# What a refusal calls a payload field (``guard.field.<field>``) and who gives consent
# (``guard.consent_giver.<given_by>``), as they read inside a sentence. Every field that ``requires`` is
# given in a transition table has a name here (tests/unit/test_refusal_wording.py checks the tables).
register({
    "guard.field.given_by": {"vi": "người đồng ý", "en": "who gives consent"},
    "guard.field.name": {"vi": "họ tên người đồng ý", "en": "the name of the person consenting"},
    "guard.field.needs": {"vi": "nhu cầu dịch vụ", "en": "the services needed"},
    "guard.field.services": {"vi": "dịch vụ trong kế hoạch", "en": "the services in the plan"},
    "guard.field.reason": {"vi": "lý do", "en": "the reason"},
    "guard.field.note": {"vi": "ghi chú", "en": "the note"},
    "guard.field.summary": {"vi": "tóm tắt", "en": "the summary"},
    "guard.field.urgency": {"vi": "mức khẩn cấp", "en": "the urgency"},
    "guard.field.assessment": {"vi": "đánh giá ban đầu", "en": "the first assessment"},
    "guard.field.outcome": {"vi": "kết quả", "en": "the outcome"},
    "guard.consent_giver.guardian": {"vi": "cha mẹ, người chăm sóc", "en": "the parent or carer"},
    "guard.consent_giver.child": {"vi": "trẻ", "en": "the child"},
})


# Fields that name several things at once (a list); every other field is one value: text, a code or a number.
MANY_VALUED = frozenset({"needs", "services", "domains"})


def requires(field: str, allowed: Collection[str] | None = None) -> Guard:
    """The payload must carry ``field`` (non-empty), optionally from a list of allowed values."""

    def guard(facts: Facts) -> None:
        value = facts.payload.get(field)
        if value is None or value == [] or value == {} or (isinstance(value, str) and not value.strip()):
            raise TransitionRefused("guard.payload_missing", field=term("guard.field", field))
        if isinstance(value, dict) or (isinstance(value, list) and field not in MANY_VALUED):
            # one value expected: a list or an object here would reach the store as something else
            raise TransitionRefused("guard.payload_invalid", field=term("guard.field", field), value=str(value)[:100])
        if allowed is not None:
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if v not in allowed]
            if bad:
                raise TransitionRefused(
                    "guard.payload_invalid", field=term("guard.field", field), value=", ".join(map(str, bad))
                )

    guard.__name__ = f"requires_{field}"
    return guard


def consent_of_guardian_and_child(facts: Facts) -> None:
    """No intake without a guardian's recorded consent, and the child's own from age 7."""
    givers = {given_by for given_by, _ in facts.consents}
    if "guardian" not in givers:
        raise TransitionRefused("guard.consent_missing", who=term("guard.consent_giver", "guardian"))
    age = facts.child_age
    if age is not None and age >= CHILD_CONSENT_AGE and "child" not in givers:
        raise TransitionRefused("guard.consent_missing", who=term("guard.consent_giver", "child"))


def approver_is_not_plan_author(facts: Facts) -> None:
    """The care plan is approved by a different person than its author."""
    author = (facts.data.get("care_plan") or {}).get("author_id")
    if author is not None and author == facts.actor.user_id:
        raise TransitionRefused("guard.self_approval")


def nothing_left_open(facts: Facts) -> None:
    """Closure is refused while anything the case started (referrals...) is still open.

    The items are plain or ``Localized`` text (``engine.cases.open_items`` names each in both languages).
    """
    if facts.open_items:
        raise TransitionRefused("guard.open_items", items=Listing(facts.open_items, "; "))


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
