"""Refusals met in a real walk, on PostgreSQL and SQLite: each names things in the reader's language (consent
giver, payload field, service domain, open referrals' services and states), never by their codes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import Engine

from engine.cases import open_case, open_items
from engine.db import transaction
from engine.errors import TransitionRefused
from tests.support.cases import case_in_care, case_step, refer
from tests.support.people import make_child, make_user

CODE_WORD = re.compile(r"\b[a-z]+_[a-z_]+\b")  # a snake_case code such as inclusive_education


def test_intake_refusals_name_the_parent_or_carer_the_child_and_the_missing_field(db: Engine) -> None:
    lan = make_user(db, "lan", "caseworker")
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="school").id
    case_step(db, case_id, "verify", lan, {"urgency": "normal", "assessment": "cannot walk unaided"})
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, case_id, "accept_for_intake", lan)
    assert refused.value.code == "guard.consent_missing"
    assert "của cha mẹ, người chăm sóc;" in refused.value.message("vi")
    assert "Consent of the parent or carer is not recorded" in refused.value.message("en")

    with pytest.raises(TransitionRefused) as refused:
        case_step(db, case_id, "record_consent", lan, {"given_by": "guardian"})
    assert refused.value.message("vi") == "Thiếu thông tin bắt buộc: họ tên người đồng ý."
    assert refused.value.message("en") == "Required information is missing: the name of the person consenting."


def test_a_referral_without_consent_for_its_domain_names_the_domain(db: Engine) -> None:
    world = case_in_care(db, ["rehabilitation", "inclusive_education"], ["rehabilitation"])
    with pytest.raises(TransitionRefused) as refused:
        refer(db, world, service="inclusive_education")
    assert refused.value.code == "referral.consent_missing"
    assert refused.value.params == {"domain": "education"}
    vi, en = refused.value.message("vi"), refused.value.message("en")
    assert "cho lĩnh vực «Giáo dục»;" in vi and "education" not in vi
    assert "covers the domain 'Education';" in en


def test_closure_names_the_open_referrals_services_and_states(db: Engine) -> None:
    world = case_in_care(db, ["inclusive_education", "health_insurance_card"], ["education", "social"])
    school = refer(db, world, service="inclusive_education")
    card = refer(db, world, service="health_insurance_card")
    case_step(db, world.case_id, "propose_closure", world.lan, {"reason": "moved_away"})
    with pytest.raises(TransitionRefused) as refused:
        case_step(db, world.case_id, "approve_closure", world.binh)
    assert refused.value.code == "guard.open_items"
    vi, en = refused.value.message("vi"), refused.value.message("en")
    assert vi == (
        f"Chưa thể đóng hồ sơ: còn việc đang mở (chuyển gửi REF-{school.id} «Giáo dục hòa nhập»: "
        f"Đã gửi, chờ tiếp nhận; chuyển gửi REF-{card.id} «Thẻ bảo hiểm y tế miễn phí»: Đã gửi, chờ tiếp nhận)."
    )
    assert en == (
        f"The case cannot be closed while items are still open (referral REF-{school.id} 'Inclusive education': "
        f"Requested; referral REF-{card.id} 'Free health insurance card': Requested)."
    )
    assert not CODE_WORD.search(vi) and not CODE_WORD.search(en)
    with transaction(db) as s:  # the items stay machine-readable as values
        assert open_items(s, world.case_id) == [
            f"REF-{school.id} inclusive_education (requested)", f"REF-{card.id} health_insurance_card (requested)"]
