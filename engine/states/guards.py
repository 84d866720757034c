"""Guards and effects shared by the stage tables: small named functions over ``Facts``."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from engine.errors import TransitionRefused
from engine.i18n import Listing, Localized, register, term
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
    "guard.field.domains": {"vi": "lĩnh vực", "en": "the domains"},
    "guard.consent_giver.guardian": {"vi": "cha mẹ, người chăm sóc", "en": "the parent or carer"},
    "guard.consent_giver.child": {"vi": "trẻ", "en": "the child"},
})


register({
    "guard.consent_not_given": {
        "vi": "Không có sự đồng ý nào còn hiệu lực của {who} để rút lại; hồ sơ không thay đổi.",
        "en": "There is no consent of {who} in force to withdraw; nothing was changed.",
    },
    "guard.consent_not_given_for": {
        "vi": "Không thể rút lại điều chưa được đồng ý: {who} chưa đồng ý (hoặc đã rút lại) cho lĩnh vực {domains}. "
        "Hồ sơ không thay đổi.",
        "en": "What was never given cannot be withdrawn: {who} has not consented (or has already withdrawn) for "
        "{domains}. Nothing was changed.",
    },
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


def withdrawn_domains(payload: Mapping[str, Any]) -> list[str] | None:
    """The domains a withdrawal names, or None for all of them (``domains`` left out or empty).

    One code is taken as a list of one; anything else than text codes is ``guard.payload_invalid``.
    """
    value = payload.get("domains")
    if value is None or value == "" or value == []:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise TransitionRefused("guard.payload_invalid", field=term("guard.field", "domains"), value=str(value)[:100])
    return sorted({v.strip() for v in values})


def consent_to_withdraw(facts: Facts) -> None:
    """Only a consent in force can be withdrawn: the giver's, covering every domain named (or any, for all)."""
    given_by = str(facts.payload.get("given_by"))
    who = term("guard.consent_giver", given_by)
    wanted = withdrawn_domains(facts.payload)
    held = [domains for giver, domains in facts.consents if giver == given_by]
    if not held:
        raise TransitionRefused("guard.consent_not_given", who=who)
    if wanted is None:
        return
    covered = frozenset().union(*held)
    missing = [code for code in wanted if code not in covered]
    if missing:
        names = [Localized(code, facts.names.get(code)) for code in missing]
        raise TransitionRefused("guard.consent_not_given_for", who=who, domains=Listing(names, "; "))


# Withdrawing consent (Law 91/2025 on personal data: the guardian, and the child from age 7, may withdraw at any
# time): allowed wherever consent may have been recorded. The case stays at its step; the service revokes the
# matching consents and ends the referrals that no consent covers any longer (``engine.cases``).

def withdraw_consent_guards() -> tuple[Guard, ...]:
    return (requires("given_by", ("guardian", "child")), consent_to_withdraw)


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
