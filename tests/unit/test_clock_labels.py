"""A clock is named by what it waits for, from its policy key, in Vietnamese and English."""

from __future__ import annotations

from engine.policy import KNOWN_KEYS
from referrals.clocks import clock_label


def test_every_known_clock_has_a_name_in_both_languages_not_its_key() -> None:
    for key in KNOWN_KEYS:
        vi, en = clock_label(key)
        assert vi != key and en != key, key


def test_urgent_and_council_clocks_are_named() -> None:
    assert clock_label("case.reported.urgent") == ("Đã tiếp nhận thông tin (khẩn cấp)", "Reported (urgent)")
    assert clock_label("case.disability_level")[0] == "Hội đồng xác định mức độ khuyết tật"
    assert clock_label("referral.on_hold") == ("Tạm dừng", "On hold")
    assert clock_label("something.else") == ("something.else", "something.else")
