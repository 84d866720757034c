"""Numbers on the pages as each language writes them: a decimal comma in Vietnamese, a point in English."""

from __future__ import annotations

from api.pages.fmt import fmt_number, fmt_percent


def test_fmt_percent_uses_a_decimal_comma_in_vietnamese() -> None:
    assert fmt_percent(50.0, "vi") == "50,0%"
    assert fmt_percent(2.2, "vi") == "2,2%"
    assert fmt_percent(100 / 92, "vi") == "1,1%"
    assert fmt_percent(90.0, "vi", 0) == "90%"


def test_fmt_percent_keeps_the_point_in_english() -> None:
    assert fmt_percent(50.0, "en") == "50.0%"
    assert fmt_percent(2.2, "en") == "2.2%"
    assert fmt_percent(90.0, "en", 0) == "90%"
    assert fmt_percent(None, "en") == fmt_percent(None, "vi") == ""


def test_fmt_number_separators_and_digits() -> None:
    assert fmt_number(2.5, "vi") == "2,5" and fmt_number(2.5, "en") == "2.5"
    assert fmt_number(2.0, "vi") == "2" and fmt_number(4, "en") == "4"
    assert fmt_number(1234567.5, "vi") == "1.234.567,5" and fmt_number(1234567.5, "en") == "1,234,567.5"
    assert fmt_number(0.75, "vi", 2) == "0,75" and fmt_number(0.0, "vi") == "0"
    assert fmt_number(None, "vi") == ""
