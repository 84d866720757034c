"""The case's four stages, composed into one checked machine (checked at import, like a class body)."""

from engine.i18n import register
from engine.machine import Machine
from engine.states import care, closure, intake, pre_intake

STAGES = (pre_intake, intake, care, closure)
STAGE_NAMES = tuple(m.STAGE for m in STAGES)

CASE_MACHINE = Machine(
    "case",
    steps=[step for stage in STAGES for step in stage.STEPS],
    transitions=[tr for stage in STAGES for tr in stage.TRANSITIONS],
    initial="reported",
)

STEP_LABELS = {
    "reported": ("Đã tiếp nhận thông tin", "Reported"),
    "verified": ("Đã xác minh", "Verified"),
    "needs_assessment": ("Đánh giá nhu cầu", "Needs assessment"),
    "care_plan_drafting": ("Lập kế hoạch hỗ trợ", "Care plan drafting"),
    "plan_awaiting_approval": ("Chờ phê duyệt kế hoạch", "Care plan awaiting approval"),
    "in_care": ("Đang chăm sóc", "In care"),
    "closure_proposed": ("Đề xuất đóng hồ sơ", "Closure proposed"),
    "closed": ("Đã đóng hồ sơ", "Closed"),
}
# the steps by name in refusals ("not allowed at step ..."): the machine names a step as "<machine>.state.<step>"
register({f"case.state.{step}": {"vi": vi, "en": en} for step, (vi, en) in STEP_LABELS.items()})
STAGE_LABELS = {
    "pre_intake": ("Trước khi tiếp nhận", "Pre-intake"),
    "intake": ("Tiếp nhận", "Intake"),
    "care": ("Thực hiện chăm sóc", "Care"),
    "closure": ("Dừng chăm sóc", "Closure"),
}
