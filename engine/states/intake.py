"""Stage 2 — Tiếp nhận (intake): needs assessment, the care plan, and its approval by another person."""

from engine.machine import Step, t
from engine.states.guards import (
    approver_is_not_plan_author,
    requires,
    store,
    withdraw_consent_guards,
)

STAGE = "intake"
CASEWORKERS = ("caseworker", "supervisor")

STEPS = [
    Step("needs_assessment", STAGE, waits_on="owner"),
    Step("care_plan_drafting", STAGE, waits_on="owner"),
    Step("plan_awaiting_approval", STAGE, waits_on="supervisor"),
]

TRANSITIONS = [
    *[row for step in ("needs_assessment", "care_plan_drafting", "plan_awaiting_approval")
      for row in t(step, "record_consent", step, CASEWORKERS,
                   requires("given_by", ("guardian", "child")), requires("name"),
                   vi="Ghi nhận sự đồng ý", en="Record consent")],
    *t("needs_assessment", "complete_assessment", "care_plan_drafting", CASEWORKERS,
       requires("needs"), deadline="case.care_plan_drafting",
       effect=store("needs_assessment", "needs", "note", author=True),
       vi="Hoàn thành đánh giá nhu cầu", en="Complete needs assessment"),
    *t("care_plan_drafting", "submit_plan", "plan_awaiting_approval", CASEWORKERS,
       requires("services"), deadline="case.plan_awaiting_approval",
       effect=store("care_plan", "services", "goals", author=True),
       vi="Trình kế hoạch hỗ trợ", en="Submit care plan"),
    *t("plan_awaiting_approval", "approve_plan", "in_care", ("supervisor",),
       approver_is_not_plan_author, deadline="case.in_care",
       effect=store("plan_approval", "note", author=True),
       vi="Phê duyệt kế hoạch", en="Approve care plan"),
    *t("plan_awaiting_approval", "return_plan", "care_plan_drafting", ("supervisor",),
       requires("reason"), deadline="case.care_plan_drafting",
       effect=store("plan_returned", "reason", author=True),
       vi="Trả lại kế hoạch", en="Send plan back"),
    *[row for step in ("needs_assessment", "care_plan_drafting", "plan_awaiting_approval")
      for row in t(step, "withdraw_consent", step, CASEWORKERS, *withdraw_consent_guards(),
                   vi="Rút lại sự đồng ý", en="Withdraw consent")],
]
