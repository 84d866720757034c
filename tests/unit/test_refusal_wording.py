"""Refusals read in the reader's language: no payload field, consent giver, domain, service, stage or state
code shows through, while the error's code and its parameters stay machine-readable codes."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from starlette.requests import Request

from api.problems import _domain_error
from engine.errors import TransitionRefused
from engine.i18n import Listing, Localized, Phrase, is_registered, term, translate
from engine.machine import Actor, Facts, Machine
from engine.states import CASE_MACHINE
from referrals.lifecycle import REFERRAL_MACHINE, STATE_LABELS

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CASEWORKER = Actor(user_id=1, role="caseworker", unit_code="05443")
SUPERVISOR = Actor(user_id=2, role="supervisor", unit_code="19")
STAFF = Actor(user_id=3, role="agency_staff", unit_code="05443", agency_code="TYT-05443")
CODE_WORD = re.compile(r"\b[a-z]+_[a-z_]+\b")  # a snake_case code such as given_by or inclusive_education


def refusal(machine: Machine, facts: Facts, action: str) -> TransitionRefused:
    with pytest.raises(TransitionRefused) as info:
        machine.decide(facts, action)
    return info.value


# a good value for each field that is required beside another one in the same transition
GOOD_VALUES = {"given_by": "guardian", "name": "Nguyễn Thị Hoa", "urgency": "normal", "assessment": "x",
               "outcome": "delivered_fully", "note": "x"}


def required_fields() -> set[tuple[str, str, str]]:
    """(machine, action, field) for every ``requires(field)`` guard in the case and referral tables."""
    return {
        (machine.name, tr.action, guard.__name__.removeprefix("requires_"))
        for machine in (CASE_MACHINE, REFERRAL_MACHINE)
        for tr in machine.transitions.values()
        for guard in tr.guards
        if guard.__name__.startswith("requires_")
    }


# --- consent givers -------------------------------------------------------------------------------------------


def intake_facts(consents: tuple[tuple[str, frozenset[str]], ...], birth: date = date(2016, 1, 1)) -> Facts:
    return Facts(step="verified", actor=CASEWORKER, payload={}, now=NOW, child_birth_date=birth, consents=consents)


def test_a_missing_guardians_consent_names_the_parent_or_carer_in_each_language() -> None:
    error = refusal(CASE_MACHINE, intake_facts(()), "accept_for_intake")
    assert error.code == "guard.consent_missing"
    assert error.message("vi") == "Chưa ghi nhận sự đồng ý của cha mẹ, người chăm sóc; chưa thể chuyển sang tiếp nhận."
    assert error.message("en") == "Consent of the parent or carer is not recorded; the case cannot move to intake."
    assert "guardian" not in error.message("vi") + error.message("en")
    assert error.params == {"who": "guardian"}  # still the machine-readable code


def test_a_missing_childs_consent_names_the_child_in_each_language() -> None:
    error = refusal(CASE_MACHINE, intake_facts((("guardian", frozenset({"health"})),)), "accept_for_intake")
    assert error.message("vi") == "Chưa ghi nhận sự đồng ý của trẻ; chưa thể chuyển sang tiếp nhận."
    assert error.message("en") == "Consent of the child is not recorded; the case cannot move to intake."
    assert error.params == {"who": "child"}


# --- payload fields -------------------------------------------------------------------------------------------


def test_every_required_field_of_every_table_has_a_name_in_both_languages() -> None:
    fields = {field for _, _, field in required_fields()}
    assert {"needs", "services", "reason", "note", "name", "given_by", "outcome"} <= fields
    for field in sorted(fields):
        key = f"guard.field.{field}"
        assert is_registered(key), f"no name for the payload field {field!r}"
        vi, en = translate(key, "vi"), translate(key, "en")
        assert vi and en and vi != en and field not in vi


@pytest.mark.parametrize(("machine_name", "action", "field"), sorted(required_fields()))
def test_a_missing_field_is_named_in_the_readers_language(machine_name: str, action: str, field: str) -> None:
    machine = CASE_MACHINE if machine_name == "case" else REFERRAL_MACHINE
    tr = next(tr for tr in machine.transitions.values() if tr.action == action)
    actor = {"agency_staff": STAFF, "caseworker": CASEWORKER}.get(sorted(tr.roles)[0], SUPERVISOR)
    others = [g.__name__.removeprefix("requires_") for g in tr.guards if g.__name__.startswith("requires_")]
    payload = {other: GOOD_VALUES[other] for other in others if other != field}
    facts = Facts(step=tr.source, actor=actor, payload=payload, now=NOW, data={"agency_code": "TYT-05443"},
                  consents=(("guardian", frozenset({"health"})), ("child", frozenset())))
    error = refusal(machine, facts, action)
    assert error.code == "guard.payload_missing"
    vi, en = error.message("vi"), error.message("en")
    assert vi == f"Thiếu thông tin bắt buộc: {translate(f'guard.field.{field}', 'vi')}."
    assert en == f"Required information is missing: {translate(f'guard.field.{field}', 'en')}."
    assert not re.search(rf"\b{field}\b", vi)
    assert error.params == {"field": field}


def test_the_needs_field_reads_as_the_services_needed() -> None:
    facts = Facts(step="needs_assessment", actor=CASEWORKER, payload={"note": "x"}, now=NOW)
    error = refusal(CASE_MACHINE, facts, "complete_assessment")
    assert error.message("vi") == "Thiếu thông tin bắt buộc: nhu cầu dịch vụ."
    assert error.message("en") == "Required information is missing: the services needed."


def test_a_value_outside_the_list_names_the_field_and_keeps_the_value() -> None:
    facts = Facts(step="reported", actor=CASEWORKER, payload={"urgency": "whenever", "assessment": "x"}, now=NOW)
    error = refusal(CASE_MACHINE, facts, "verify")
    assert error.code == "guard.payload_invalid"
    assert error.message("vi") == "Giá trị không hợp lệ cho mức khẩn cấp: whenever."
    assert error.message("en") == "Invalid value for the urgency: whenever."
    assert error.params == {"field": "urgency", "value": "whenever"}


# --- referral guards ------------------------------------------------------------------------------------------


def referral_facts(**data: Any) -> Facts:
    snapshot: dict[str, Any] = {
        "agency_code": "TYT-05443", "assignee_id": None, "service_code": "inclusive_education",
        "domain": "education", "case_stage": "care", "case_urgency": "normal",
        "plan_services": ["inclusive_education"],
    }
    snapshot.update(data)
    return Facts(step="draft", actor=CASEWORKER, payload={}, now=NOW, data=snapshot,
                 consents=(("guardian", frozenset({"health"})),))


def test_a_referral_without_consent_names_the_domain_in_each_language() -> None:
    error = refusal(REFERRAL_MACHINE, referral_facts(), "request")
    assert error.code == "referral.consent_missing"
    assert "«Giáo dục»" in error.message("vi") and "education" not in error.message("vi")
    assert "'Education'" in error.message("en")
    assert error.params == {"domain": "education"}


def test_domain_names_given_with_the_facts_win_and_an_unknown_domain_reads_as_its_code() -> None:
    given = referral_facts(domain_name_vi="Giáo dục (tỉnh)", domain_name_en="Education (province)")
    error = refusal(REFERRAL_MACHINE, given, "request")
    assert "«Giáo dục (tỉnh)»" in error.message("vi") and "'Education (province)'" in error.message("en")
    unknown = refusal(REFERRAL_MACHINE, referral_facts(domain="housing"), "request")
    assert "«housing»" in unknown.message("vi") and "'housing'" in unknown.message("en")


def test_a_service_outside_the_plan_and_a_stage_are_named_in_each_language() -> None:
    error = refusal(REFERRAL_MACHINE, referral_facts(plan_services=["nutrition"]), "request")
    assert error.code == "referral.not_in_care_plan"
    assert "«Giáo dục hòa nhập»" in error.message("vi") and "'Inclusive education'" in error.message("en")
    assert error.params == {"service": "inclusive_education"}
    error = refusal(REFERRAL_MACHINE, referral_facts(case_stage="intake"), "request")
    assert error.code == "referral.not_allowed_at_stage"
    assert "«Tiếp nhận»" in error.message("vi") and "'Intake'" in error.message("en")
    assert error.params == {"stage": "intake"}


# --- open items at closure ------------------------------------------------------------------------------------


def open_referral(referral_id: int, service: str, vi: str, en: str, state: str) -> Phrase:
    """An open item as ``engine.cases.open_items`` builds it."""
    return Phrase("guard.open_referral", f"REF-{referral_id} {service} ({state})", referral_id=referral_id,
                  service=Localized(service, {"vi": vi, "en": en}), state=term("referral.state", state))


def test_closure_names_each_open_referrals_service_and_state() -> None:
    items = (
        open_referral(3, "inclusive_education", "Giáo dục hòa nhập", "Inclusive education", "requested"),
        open_referral(5, "health_insurance_card", "Thẻ bảo hiểm y tế miễn phí", "Free health insurance card",
                      "on_hold"),
    )
    facts = Facts(step="closure_proposed", actor=SUPERVISOR, payload={}, now=NOW, open_items=items)
    error = refusal(CASE_MACHINE, facts, "approve_closure")
    assert error.code == "guard.open_items"
    assert error.message("vi") == (
        "Chưa thể đóng hồ sơ: còn việc đang mở (chuyển gửi REF-3 «Giáo dục hòa nhập»: Đã gửi, chờ tiếp nhận; "
        "chuyển gửi REF-5 «Thẻ bảo hiểm y tế miễn phí»: Tạm dừng)."
    )
    assert error.message("en") == (
        "The case cannot be closed while items are still open (referral REF-3 'Inclusive education': Requested; "
        "referral REF-5 'Free health insurance card': On hold)."
    )
    for message in (error.message("vi"), error.message("en")):
        assert not CODE_WORD.search(message), message


def test_every_referral_state_has_its_label_in_the_catalogue() -> None:
    for state, (vi, en) in STATE_LABELS.items():
        assert (translate(f"referral.state.{state}", "vi"), translate(f"referral.state.{state}", "en")) == (vi, en)


# --- the bilingual value itself -------------------------------------------------------------------------------


def test_a_localized_value_is_its_code_to_machines_and_its_name_to_people() -> None:
    value = Localized("education", {"vi": "Giáo dục", "en": "Education"})
    assert value == "education" and hash(value) == hash("education") and {value: 1} == {"education": 1}
    assert json.dumps({"domain": value}) == '{"domain": "education"}'
    assert str(value) == "education" and type(str(value)) is str
    assert (value.text("vi"), value.text("en")) == ("Giáo dục", "Education")
    assert Localized("x", {"vi": "chỉ tiếng Việt", "en": ""}).text("en") == "chỉ tiếng Việt"
    assert Localized("x").text("en") == "x"
    assert term("guard.field", "no_such_field").text("vi") == "no_such_field"
    listing = Listing([value, "REF-1"], "; ")
    assert listing == "education; REF-1" and listing.text("vi") == "Giáo dục; REF-1"
    for copied in (copy.deepcopy(listing), pickle.loads(pickle.dumps(listing))):
        assert copied == listing and copied.text("en") == "Education; REF-1"
    phrase = term("guard.field", "needs")
    assert pickle.loads(pickle.dumps(phrase)).text("en") == "the services needed"


def test_an_error_with_localized_params_survives_pickling() -> None:
    error = refusal(CASE_MACHINE, intake_facts(()), "accept_for_intake")
    again = pickle.loads(pickle.dumps(error))
    assert (again.code, again.message("vi")) == (error.code, error.message("vi"))


def _request(accept_language: str | None) -> Request:
    headers = [(b"accept-language", accept_language.encode())] if accept_language else []
    return Request({"type": "http", "method": "POST", "path": "/api/v1/cases/1/transitions", "headers": headers,
                    "query_string": b"", "root_path": "", "scheme": "http", "server": ("test", 80)})


@pytest.mark.parametrize(("accept_language", "expected"), [
    (None, "Chưa ghi nhận sự đồng ý của cha mẹ, người chăm sóc; chưa thể chuyển sang tiếp nhận."),
    ("en-GB,en;q=0.9", "Consent of the parent or carer is not recorded; the case cannot move to intake."),
])
def test_the_problem_detail_reads_in_the_asked_language_and_keeps_the_code(
    accept_language: str | None, expected: str
) -> None:
    error = refusal(CASE_MACHINE, intake_facts(()), "accept_for_intake")
    response = asyncio.run(_domain_error(_request(accept_language), error))
    body = json.loads(bytes(response.body))
    assert response.status_code == 422 and response.media_type == "application/problem+json"
    assert (body["code"], body["type"], body["detail"]) == (
        "guard.consent_missing", "urn:ketnoi:problem:guard.consent_missing", expected)


def test_not_found_names_the_kind_of_record_in_each_language() -> None:
    from engine.errors import NotFound

    for what, vi in (("case 12", "Không tìm thấy hồ sơ 12."), ("agency log TYT-05443",
                     "Không tìm thấy nhật ký thông báo của cơ quan TYT-05443."), ("agency TYT-05443",
                     "Không tìm thấy cơ quan TYT-05443."), ("something 3", "Không tìm thấy something 3.")):
        error = NotFound(what=what)
        assert error.message("vi") == vi
        assert error.message("en") == f"Not found: {what}."
        assert error.params["what"] == what  # the record named, as the code reads it


def test_refused_actions_name_the_action_step_and_role_in_each_language() -> None:
    from datetime import UTC, datetime

    from engine.errors import TransitionRefused
    from engine.machine import Actor, Facts
    from engine.states import CASE_MACHINE

    with pytest.raises(TransitionRefused) as refused:
        CASE_MACHINE.find("reported", "accept_for_intake")
    assert refused.value.message("vi") == "Không thể thực hiện «Tiếp nhận trường hợp» ở bước «Đã tiếp nhận thông tin»."
    assert refused.value.message("en") == "Action 'Accept for intake' is not allowed at step 'Reported'."
    assert refused.value.params == {"action": "accept_for_intake", "step": "reported"}
    approve = CASE_MACHINE.find("plan_awaiting_approval", "approve_plan")
    facts = Facts(step="plan_awaiting_approval", actor=Actor(user_id=1, role="agency_staff", unit_code="05443"),
                  payload={}, now=datetime.now(UTC))
    with pytest.raises(TransitionRefused) as refused:
        approve.check(facts)
    assert "cán bộ cơ quan" in refused.value.message("vi") and "agency_staff" not in refused.value.message("vi")
    assert "agency staff" in refused.value.message("en")


def test_invalid_input_details_are_written_in_each_language() -> None:
    from engine.errors import InvalidInput
    from engine.i18n import both

    error = InvalidInput(detail=both("không có dịch vụ «x»", "unknown service 'x'"))
    assert error.message("vi") == "Dữ liệu không hợp lệ: không có dịch vụ «x»"
    assert error.message("en") == "Invalid input: unknown service 'x'"
    assert error.params["detail"] == "unknown service 'x'"
