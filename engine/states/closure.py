"""Stage 4 — Dừng chăm sóc / đóng hồ sơ (closure): proposed, approved, follow-up, and reopening."""

from engine.machine import Step, t
from engine.states.guards import (
    consent_of_guardian_and_child,
    nothing_left_open,
    requires,
    store,
    withdraw_consent_guards,
)

STAGE = "closure"
CASEWORKERS = ("caseworker", "supervisor")

STEPS = [
    Step("closure_proposed", STAGE, waits_on="supervisor"),
    Step("closed", STAGE, final=True),
]

TRANSITIONS = [
    *t("closure_proposed", "approve_closure", "closed", ("supervisor",), nothing_left_open,
       effect=store("closure_approval", "note", author=True),
       vi="Phê duyệt đóng hồ sơ", en="Approve closure"),
    *t("closure_proposed", "reject_closure", "in_care", ("supervisor",), requires("reason"),
       deadline="case.in_care", effect=store("closure_rejected", "reason", author=True),
       vi="Không duyệt đóng hồ sơ", en="Refuse closure"),
    *t("closed", "record_follow_up", "closed", CASEWORKERS, requires("note"),
       effect=store("follow_up", "note", author=True),
       vi="Theo dõi sau khi đóng", en="Record follow-up"),
    # Reopening returns the case to intake, so intake's consent rule holds here too: a case closed at
    # pre-intake (not eligible) never had consent recorded and must not slip into intake without it.
    *t("closed", "reopen", "needs_assessment", CASEWORKERS, requires("reason"), consent_of_guardian_and_child,
       deadline="case.needs_assessment", effect=store("reopened", "reason", author=True),
       vi="Mở lại hồ sơ", en="Reopen"),
    # A family that comes back after a closure (one for "family withdrew" leaves no consent in force) consents
    # again before the case is reopened.
    *t("closed", "record_consent", "closed", CASEWORKERS,
       requires("given_by", ("guardian", "child")), requires("name"),
       vi="Ghi nhận sự đồng ý", en="Record consent"),
    # Consent may be withdrawn at any time, after closure too (the record and its follow-up stay).
    *[row for step in ("closure_proposed", "closed")
      for row in t(step, "withdraw_consent", step, CASEWORKERS, *withdraw_consent_guards(),
                   vi="Rút lại sự đồng ý", en="Withdraw consent")],
]
