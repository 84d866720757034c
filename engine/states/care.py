"""Stage 3 — Thực hiện giải pháp chăm sóc (care): the plan carried out through referrals,
periodic reviews, re-planning back to intake, and the proposal to close."""

from engine.machine import Step, t
from engine.states.guards import (
    CLOSURE_REASONS,
    requires,
    store,
    withdraw_consent_guards,
)

STAGE = "care"
CASEWORKERS = ("caseworker", "supervisor")

STEPS = [
    Step("in_care", STAGE, waits_on="owner"),
]

TRANSITIONS = [
    *t("in_care", "record_consent", "in_care", CASEWORKERS,
       requires("given_by", ("guardian", "child")), requires("name"),
       vi="Ghi nhận sự đồng ý", en="Record consent"),
    # A review restarts the periodic review clock.
    *t("in_care", "record_review", "in_care", CASEWORKERS, requires("summary"), deadline="case.in_care",
       effect=store("last_review", "summary", author=True),
       vi="Ghi nhận rà soát định kỳ", en="Record periodic review"),
    *t("in_care", "replan", "needs_assessment", CASEWORKERS, requires("reason"),
       deadline="case.needs_assessment", effect=store("replan", "reason", author=True),
       vi="Lập lại kế hoạch", en="Re-plan"),
    *t("in_care", "propose_closure", "closure_proposed", CASEWORKERS,
       requires("reason", CLOSURE_REASONS), deadline="case.closure_proposed",
       effect=store("closure", "reason", "note", author=True),
       vi="Đề xuất dừng chăm sóc", en="Propose closure"),
    *t("in_care", "withdraw_consent", "in_care", CASEWORKERS, *withdraw_consent_guards(),
       vi="Rút lại sự đồng ý", en="Withdraw consent"),
]
