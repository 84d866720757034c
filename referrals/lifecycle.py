"""The referral lifecycle: its own checked transition table, following HL7 FHIR Task's referral usage.

``draft → requested → accepted | rejected``, ``accepted → in_progress ⇄ on_hold → completed | failed``, and
``cancelled`` by the sender from any open state. The sender (caseworker side) owns draft, requested and
cancelled; the receiving agency owns accepted, rejected, in_progress, on_hold, completed and failed.

Pure Python (no database): the service gathers what the guards need into ``Facts``:
``facts.data`` is a snapshot of the referral and its case (see ``referrals.services.referral_facts``):
``agency_code``, ``assignee_id``, ``domain``, ``service_code``, ``case_stage``, ``case_urgency`` and
``plan_services``; ``facts.consents`` are the case's unrevoked consents. A refusal names the domain and the
service in the reader's language: from ``domain_name_vi``/``domain_name_en`` and ``service_name_vi``/
``service_name_en`` when the snapshot carries them (the names as loaded), else the shipped reference names
(``engine/reference_data``), else the code.

Payloads: ``reject``/``fail`` take ``reason`` (a code of ``REASONS``) and ``reason_text`` (required when the
reason is ``other``); ``complete`` takes ``outcome`` (a code of ``OUTCOMES``) and ``note``; ``cancel`` takes
``reason`` (free text: why the sender ends the loop, or a code of ``CANCEL_REASONS``, then with an optional
``reason_text``); ``hold`` may take ``reason``. The code ``consent_withdrawn`` is what the engine gives when a
withdrawal of consent leaves the referral's domain uncovered (``engine.cases.withdraw_consents``); it is refused
while a consent in force still covers the domain.
"""

from __future__ import annotations

import csv
from functools import cache

from engine.errors import TransitionRefused
from engine.i18n import Localized, register
from engine.machine import Facts, Machine, Step, t
from engine.states import STAGE_LABELS
from engine.states.guards import requires

SENDERS = ("caseworker", "supervisor")
RECEIVERS = ("agency_staff",)

OPEN_STATES = ("draft", "requested", "accepted", "in_progress", "on_hold")
ENDED_STATES = ("rejected", "completed", "failed", "cancelled")
AGENCY_STATES = ("requested", "accepted", "in_progress", "on_hold")  # the agency must act next

REASONS = ("no_capacity", "not_eligible", "could_not_contact_family", "family_declined", "service_unavailable", "other")
OUTCOMES = ("delivered_fully", "delivered_partly", "not_delivered")
CONSENT_WITHDRAWN = "consent_withdrawn"
CANCEL_REASONS = (CONSENT_WITHDRAWN,)  # coded reasons of a cancellation; any other reason is the sender's own words

# HL7 FHIR R4/R5 Task.status for each state: the mapping is one to one.
FHIR_STATUS = {
    "draft": "draft",
    "requested": "requested",
    "accepted": "accepted",
    "rejected": "rejected",
    "in_progress": "in-progress",
    "on_hold": "on-hold",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}

STATE_LABELS: dict[str, tuple[str, str]] = {
    "draft": ("Bản nháp", "Draft"),
    "requested": ("Đã gửi, chờ tiếp nhận", "Requested"),
    "accepted": ("Đã tiếp nhận", "Accepted"),
    "rejected": ("Bị từ chối", "Rejected"),
    "in_progress": ("Đang thực hiện", "In progress"),
    "on_hold": ("Tạm dừng", "On hold"),
    "completed": ("Đã hoàn thành", "Completed"),
    "failed": ("Không thực hiện được", "Failed"),
    "cancelled": ("Đã hủy", "Cancelled"),
}
REASON_LABELS: dict[str, tuple[str, str]] = {
    "no_capacity": ("Không đủ năng lực, nhân lực", "No capacity"),
    "not_eligible": ("Không đủ điều kiện", "Not eligible"),
    "could_not_contact_family": ("Không liên lạc được với gia đình", "Could not contact the family"),
    "family_declined": ("Gia đình từ chối", "The family declined"),
    "service_unavailable": ("Dịch vụ không có sẵn", "Service unavailable"),
    "other": ("Lý do khác", "Other"),
}
CANCEL_REASON_LABELS: dict[str, tuple[str, str]] = {
    CONSENT_WITHDRAWN: ("Sự đồng ý đã được rút lại", "Consent withdrawn"),
}
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "delivered_fully": ("Đã cung cấp đầy đủ", "Delivered fully"),
    "delivered_partly": ("Đã cung cấp một phần", "Delivered in part"),
    "not_delivered": ("Không cung cấp được", "Not delivered"),
}

register({f"referral.state.{state}": {"vi": vi, "en": en} for state, (vi, en) in STATE_LABELS.items()})
register({
    "referral.not_your_agency": {
        "vi": "Chuyển gửi này không gửi đến cơ quan của bạn.",
        "en": "This referral is not addressed to your agency.",
    },
    "referral.reason_text_missing": {
        "vi": "Lý do «khác» cần ghi rõ nội dung.",
        "en": "The reason 'other' needs an explanation.",
    },
    "referral.consent_missing": {
        "vi": "Chưa có sự đồng ý (còn hiệu lực) cho lĩnh vực «{domain}»; chưa thể chia sẻ thông tin của trẻ "
        "với cơ quan nhận chuyển gửi.",
        "en": "No recorded, unrevoked consent covers the domain '{domain}'; the child's data cannot be shared "
        "with the receiving agency.",
    },
    "referral.consent_still_given": {
        "vi": "Sự đồng ý cho lĩnh vực «{domain}» vẫn còn hiệu lực; không thể hủy với lý do «rút lại sự đồng ý». "
        "Hãy ghi nhận việc rút lại sự đồng ý trên hồ sơ.",
        "en": "Consent for the domain '{domain}' is still in force; the referral cannot be cancelled as 'consent "
        "withdrawn'. Record the withdrawal of consent on the case.",
    },
    "referral.not_in_care_plan": {
        "vi": "Dịch vụ «{service}» không có trong kế hoạch hỗ trợ đã phê duyệt.",
        "en": "The service '{service}' is not in the approved care plan.",
    },
    "referral.not_allowed_at_stage": {
        "vi": "Chưa thể chuyển gửi ở giai đoạn «{stage}»: chỉ chuyển gửi khi đang thực hiện kế hoạch chăm sóc, "
        "hoặc bảo vệ khẩn cấp cho trường hợp khẩn cấp.",
        "en": "Referrals cannot be made at stage '{stage}': only during care, or for urgent protection "
        "of an urgent case.",
    },
})


def acting_for_referral_agency(facts: Facts) -> None:
    """The acting agency staff belongs to the referral's agency, or is the named assignee."""
    actor = facts.actor
    if actor.role != "agency_staff":
        return
    if actor.agency_code is not None and actor.agency_code == facts.data.get("agency_code"):
        return
    if actor.user_id is not None and actor.user_id == facts.data.get("assignee_id"):
        return
    raise TransitionRefused("referral.not_your_agency")


def reason_text_for_other(facts: Facts) -> None:
    """A reason 'other' must say what it is; an explanation is text."""
    text = facts.payload.get("reason_text")
    if text is not None and not isinstance(text, str):
        raise TransitionRefused("guard.payload_invalid", field="reason_text", value=str(text)[:100])
    if facts.payload.get("reason") == "other" and not str(text or "").strip():
        raise TransitionRefused("referral.reason_text_missing")


@cache
def shipped_names(file: str) -> dict[str, dict[str, str]]:
    """``{code: {"vi": name_vi, "en": name_en}}`` from a shipped reference file (``domains.csv``,
    ``services.csv``): names for messages without a database round trip. Read once."""
    from engine.reference import DEFAULT_REFERENCE_DIR

    try:
        with (DEFAULT_REFERENCE_DIR / file).open(encoding="utf-8-sig", newline="") as f:
            return {row["code"]: {"vi": row["name_vi"], "en": row["name_en"]} for row in csv.DictReader(f)}
    except (OSError, KeyError, csv.Error):  # a message falls back to the code rather than fail
        return {}


def named(facts: Facts, code_key: str, kind: str, file: str) -> Localized | None:
    """The snapshot's code under ``code_key``, with the names of that ``kind`` (domain, service) for a message."""
    code = facts.data.get(code_key)
    if code is None:
        return None
    given = {lang: facts.data.get(f"{kind}_name_{lang}") for lang in ("vi", "en")}
    names = given if given["vi"] else shipped_names(file).get(str(code), {})
    return Localized(str(code), names)


def consent_covers_domain(facts: Facts) -> None:
    """Sharing the child's data with an agency needs a recorded, unrevoked consent covering the service's domain."""
    domain = facts.data.get("domain")
    if not any(domain in domains for _, domains in facts.consents):
        raise TransitionRefused("referral.consent_missing", domain=named(facts, "domain", "domain", "domains.csv"))


def withdrawal_is_so(facts: Facts) -> None:
    """A cancellation for withdrawn consent says so only when no consent in force covers the domain any more."""
    if facts.payload.get("reason") != CONSENT_WITHDRAWN:
        return
    domain = facts.data.get("domain")
    if any(domain in domains for _, domains in facts.consents):
        raise TransitionRefused("referral.consent_still_given", domain=named(facts, "domain", "domain", "domains.csv"))


def allowed_for_case(facts: Facts) -> None:
    """Referrals come from the care plan during care, or (urgent protection) already during pre-intake."""
    stage = facts.data.get("case_stage")
    if stage == "care":
        if facts.data.get("service_code") not in (facts.data.get("plan_services") or ()):
            service = named(facts, "service_code", "service", "services.csv")
            raise TransitionRefused("referral.not_in_care_plan", service=service)
        return
    urgent_protection = facts.data.get("case_urgency") == "urgent" and facts.data.get("domain") == "protection"
    if stage == "pre_intake" and urgent_protection:
        return
    vi, en = STAGE_LABELS.get(str(stage), (None, None))
    raise TransitionRefused("referral.not_allowed_at_stage", stage=Localized(str(stage), {"vi": vi, "en": en}))


STEPS = [
    Step("draft", "referral", waits_on="owner"),
    Step("requested", "referral", waits_on="agency"),
    Step("accepted", "referral", waits_on="agency"),
    Step("in_progress", "referral", waits_on="agency"),
    Step("on_hold", "referral", waits_on="agency"),
    Step("rejected", "referral", final=True),
    Step("completed", "referral", final=True),
    Step("failed", "referral", final=True),
    Step("cancelled", "referral", final=True),
]

TRANSITIONS = [
    *t("draft", "request", "requested", SENDERS, allowed_for_case, consent_covers_domain,
       deadline="referral.requested", vi="Gửi chuyển gửi", en="Send referral"),
    *t("requested", "accept", "accepted", RECEIVERS, acting_for_referral_agency,
       deadline="referral.accepted", vi="Tiếp nhận chuyển gửi", en="Accept referral"),
    *t("requested", "reject", "rejected", RECEIVERS, acting_for_referral_agency, requires("reason", REASONS),
       reason_text_for_other, vi="Từ chối chuyển gửi", en="Reject referral"),
    *t("accepted", "start", "in_progress", RECEIVERS, acting_for_referral_agency,
       deadline="referral.in_progress", vi="Bắt đầu cung cấp dịch vụ", en="Start the service"),
    # Hold keeps the in-progress clock (paused if the policy says so) and opens the on-hold clock;
    # resume closes the on-hold clock and restarts the kept one (engine.deadlines.on_pause / on_resume).
    *t("in_progress", "hold", "on_hold", RECEIVERS, acting_for_referral_agency,
       deadline="referral.on_hold", vi="Tạm dừng", en="Put on hold"),
    *t("on_hold", "resume", "in_progress", RECEIVERS, acting_for_referral_agency,
       deadline="referral.in_progress", vi="Tiếp tục", en="Resume"),
    *t(["in_progress", "on_hold"], "complete", "completed", RECEIVERS, acting_for_referral_agency,
       requires("outcome", OUTCOMES), requires("note"), vi="Hoàn thành, ghi kết quả", en="Complete with outcome"),
    *t(["in_progress", "on_hold"], "fail", "failed", RECEIVERS, acting_for_referral_agency,
       requires("reason", REASONS), reason_text_for_other, vi="Không thực hiện được", en="Record failure"),
    *t(list(OPEN_STATES), "cancel", "cancelled", SENDERS, requires("reason"), withdrawal_is_so,
       vi="Hủy chuyển gửi", en="Cancel referral"),
]

REFERRAL_MACHINE = Machine("referral", steps=STEPS, transitions=TRANSITIONS, initial="draft")


def label(state: str, lang: str = "vi") -> str:
    vi, en = STATE_LABELS[state]
    return en if lang == "en" else vi
