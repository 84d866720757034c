"""Stage 1 — Trước khi tiếp nhận (pre-intake): report received, verified with a first assessment,
consent recorded, then accepted for intake or found not eligible."""

from engine.machine import Step, t
from engine.states.guards import (
    NOT_ELIGIBLE_REASONS,
    URGENCY_LEVELS,
    consent_of_guardian_and_child,
    nothing_left_open,
    requires,
    store,
    withdraw_consent_guards,
)

STAGE = "pre_intake"
CASEWORKERS = ("caseworker", "supervisor")

STEPS = [
    Step("reported", STAGE, waits_on="owner"),
    Step("verified", STAGE, waits_on="owner"),
]

TRANSITIONS = [
    *t("reported", "verify", "verified", CASEWORKERS,
       requires("urgency", URGENCY_LEVELS), requires("assessment"),
       deadline="case.verified", effect=store("first_assessment", "assessment", "urgency"),
       vi="Xác minh, đánh giá ban đầu", en="Verify and assess"),
    *t("verified", "record_consent", "verified", CASEWORKERS,
       requires("given_by", ("guardian", "child")), requires("name"),
       vi="Ghi nhận sự đồng ý", en="Record consent"),
    *t("verified", "accept_for_intake", "needs_assessment", CASEWORKERS,
       consent_of_guardian_and_child, deadline="case.needs_assessment",
       vi="Tiếp nhận trường hợp", en="Accept for intake"),
    *t(["reported", "verified"], "close_not_eligible", "closed", CASEWORKERS,
       requires("reason", NOT_ELIGIBLE_REASONS), nothing_left_open, effect=store("closure", "reason", "note"),
       vi="Không đủ điều kiện / trùng", en="Not eligible / duplicate"),
    *t("verified", "withdraw_consent", "verified", CASEWORKERS, *withdraw_consent_guards(),
       vi="Rút lại sự đồng ý", en="Withdraw consent"),
]
