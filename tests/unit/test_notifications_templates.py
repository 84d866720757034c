"""Every template renders in Vietnamese and English, says what to do, by when and where, and keeps
sensitive detail out."""

from __future__ import annotations

import unicodedata

import pytest

from engine.outbox import TEMPLATES
from notifications.recipients import mailto_url, with_dedupe_header
from notifications.render import render, template_names, vn_date, vn_datetime

BASE = "https://ketnoi.example.vn"
CONTEXT = {
    "case_id": 123, "case_ref": "KN-000123", "child_initials": "T.V.M.", "referral_ref": "REF-7",
    "service_name_vi": "Phục hồi chức năng", "service_name_en": "Rehabilitation",
    "agency_name_vi": "Trạm Y tế phường Phan Đình Phùng", "agency_name_en": "Phan Dinh Phung Health Station",
    "due_at": "2027-03-12T10:00:00+00:00", "link_path": "/referrals/7", "reason_code": "no_capacity",
    "outcome": "delivered_fully", "date": "2027-03-12", "period": "2026",
    "pending": [{"case_ref": "KN-000124", "referral_ref": "REF-8", "child_initials": "L.T.H.",
                 "service_name_vi": "Giáo dục hòa nhập", "service_name_en": "Inclusive education",
                 "due_at": "2027-03-13T10:00:00+00:00"}],
    "overdue": [],
    # Must never show up: a careless writer could put them in a context.
    "full_name": "Trần Văn Minh", "diagnosis": "bại não thể co cứng",
}
VI_MARKS = set("ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")
ACTION_WORDS = {"vi": ("Hãy", "Việc cần làm", "Đề nghị"), "en": ("Please", "What to do", "Accept", "Approve",
                                                                    "Review", "refer again")}


def test_every_outbox_template_has_a_file_in_both_languages() -> None:
    assert sorted(TEMPLATES) == template_names()


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("short", [True, False])
def test_template_renders_what_to_do_by_when_and_the_link(template: str, language: str, short: bool) -> None:
    title, body = render(template, language, CONTEXT, short=short, base_url=BASE)
    assert title and body
    assert title.startswith("[Kết Nối]")
    text = title + " " + body
    assert unicodedata.is_normalized("NFC", text)
    link = BASE + "/app/referrals/7"  # the page (under /app), not a 404
    assert link in body
    assert any(word in body for word in ACTION_WORDS[language])
    assert "12/03/2027" in text  # dd/mm/yyyy
    assert "Trần Văn Minh" not in text and "bại não" not in text
    if language == "vi":
        assert VI_MARKS & set(text.lower()), "Vietnamese text must carry its diacritics"
    if short:
        assert "\n" not in body and len(body) < 400


def test_times_are_shown_in_vietnam_time() -> None:
    assert vn_datetime("2027-03-12T10:00:00+00:00") == "12/03/2027 17:00"
    assert vn_datetime("2027-03-12T20:30:00+00:00") == "13/03/2027 03:30"
    assert vn_date("2027-01-05") == "05/01/2027"
    _, body = render("referral_requested", "vi", CONTEXT, short=True, base_url=BASE)
    assert "trước 12/03/2027 17:00" in body


def test_unknown_language_falls_back_to_vietnamese_and_missing_fields_render_empty() -> None:
    title, body = render("overdue", "fr", {"case_ref": "KN-000001", "policy_key": "case.verified"}, base_url=BASE)
    assert title == "[Kết Nối] Quá hạn: KN-000001"
    assert "bước «Đã xác minh»" in body
    assert f"{BASE}/" in body


def test_rejection_reason_and_failure_wording() -> None:
    _, vi = render("referral_rejected", "vi", CONTEXT, short=True)
    _, en = render("referral_rejected", "en", {**CONTEXT, "failed": True}, short=True)
    assert "đã từ chối" in vi and "không đủ khả năng tiếp nhận" in vi
    assert "could not deliver" in en


@pytest.mark.parametrize("language, label", [("vi", "lý do khác"), ("en", "other reason")])
def test_the_agencys_own_words_go_in_the_email_never_in_an_sms(language: str, label: str) -> None:
    words = "Trẻ bị bại não, trạm không có bác sĩ phục hồi chức năng"
    context = {**CONTEXT, "reason_code": "other", "reason_text": words}
    _, sms = render("referral_rejected", language, context, short=True, base_url=BASE)
    _, email = render("referral_rejected", language, context, base_url=BASE)
    assert label in sms and "bại não" not in sms and BASE + "/app/referrals/7" in sms  # the link leads to them
    assert words in email


def test_dedupe_key_travels_as_a_header_on_email_and_webhooks_only() -> None:
    mail = mailto_url("mailto://127.0.0.1:8025?from=noreply@ketnoi.local", "tyt@example.vn")
    assert mail == "mailto://127.0.0.1:8025?from=noreply@ketnoi.local&to=tyt@example.vn"
    assert with_dedupe_header(mail, "ev:1:agency:X").endswith("&%2BX-Dedupe-Key=ev%3A1%3Aagency%3AX")
    assert with_dedupe_header("json://127.0.0.1:9/hook", "k").endswith("/hook?%2BX-Dedupe-Key=k")
    assert with_dedupe_header("tgram://token/chat", "k") == "tgram://token/chat"
