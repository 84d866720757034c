"""Clocks by name: what each deadline policy key waits for, in Vietnamese and English.

Here, not in ``engine.policy``: a clock is named by a case step (``engine.states``) or by a referral state
(``referrals.lifecycle``), and the engine does not import the referrals.
"""

from __future__ import annotations

from engine.policy import URGENT_SUFFIX
from engine.states import STEP_LABELS
from referrals.lifecycle import STATE_LABELS

# what a clock that is not a step's own waits for (the others are named by their step or referral state)
CLOCK_LABELS = {
    "case.disability_level": ("Hội đồng xác định mức độ khuyết tật",
                              "The council's decision on the level of disability"),
}
URGENT_LABEL = (" (khẩn cấp)", " (urgent)")


def clock_label(policy_key: str) -> tuple[str, str]:
    """A clock's name in Vietnamese and English, from its policy key: ``case.reported.urgent`` is the step
    "reported", urgent; ``referral.on_hold`` the referral state "on hold". An unknown key reads as itself."""
    base, urgent = (policy_key[: -len(URGENT_SUFFIX)], True) if policy_key.endswith(URGENT_SUFFIX) else (
        policy_key, False)
    kind, _, state = base.partition(".")
    labels = CLOCK_LABELS.get(base) or (STEP_LABELS if kind == "case" else STATE_LABELS).get(state)
    if labels is None:
        return policy_key, policy_key
    vi, en = labels
    return (vi + URGENT_LABEL[0], en + URGENT_LABEL[1]) if urgent else (vi, en)
