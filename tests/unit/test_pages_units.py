"""The pages' pieces without a database: the signed session, dates and time left, charts, forms, catalogue."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from starlette.datastructures import FormData

from api.pages import catalogue
from api.pages.charts import Bar, bar_chart
from api.pages.fmt import due_status, fmt_date, fmt_datetime, parse_day, span
from api.pages.forms import CASE_ACTION_FORMS, CHILD_CHOICES, case_form, payload_from_form, referral_form
from api.pages.security import (
    SESSION_IDLE,
    SESSION_LIFETIME,
    csrf_matches,
    read_session,
    sign_session,
    touched_session,
)
from engine.i18n import translate
from engine.states import CASE_MACHINE

SECRET = "a-secret-that-is-long-enough-0123"
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
PAGES = Path(__file__).resolve().parents[2] / "api" / "pages"


def test_session_round_trip_and_refusals() -> None:
    cookie, session = sign_session(SECRET, 42, NOW)
    back = read_session(SECRET, cookie, NOW + timedelta(minutes=20))
    assert back == session and back.user_id == 42
    assert read_session(SECRET, cookie, NOW + SESSION_IDLE + timedelta(seconds=1)) is None  # left unused
    # in use, it lasts until its lifetime ends
    later = NOW + SESSION_LIFETIME - timedelta(minutes=10)
    kept = touched_session(SECRET, session, later - timedelta(minutes=5))
    assert kept is not None and read_session(SECRET, kept, later) is not None
    assert touched_session(SECRET, session, NOW + timedelta(seconds=30)) is None  # moved on at most once a minute
    assert read_session("another-secret-0123456789", cookie, NOW) is None
    body, signature = cookie.rsplit(".", 1)
    forged_body = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    assert read_session(SECRET, f"{forged_body}.{signature}", NOW) is None
    assert read_session(SECRET, cookie, NOW + SESSION_LIFETIME + timedelta(seconds=1)) is None
    assert read_session(SECRET, "garbage", NOW) is None
    assert read_session(SECRET, None, NOW) is None


def test_csrf_token_is_per_session_and_compared_exactly() -> None:
    _, one = sign_session(SECRET, 1, NOW)
    _, two = sign_session(SECRET, 1, NOW)
    assert one.csrf != two.csrf
    assert csrf_matches(one, one.csrf)
    assert not csrf_matches(one, two.csrf)
    assert not csrf_matches(one, "")
    assert not csrf_matches(None, one.csrf)


def test_dates_are_shown_as_dd_mm_yyyy_in_vietnam_time() -> None:
    evening_utc = datetime(2026, 1, 1, 20, 30, tzinfo=UTC)  # 03:30 on 2 January in Hà Nội
    assert fmt_date(evening_utc) == "02/01/2026"
    assert fmt_datetime(evening_utc) == "02/01/2026 03:30"
    assert fmt_date(date(2019, 5, 2)) == "02/05/2019"
    assert parse_day("02/05/2019") == date(2019, 5, 2)
    assert parse_day("2019-05-02") == date(2019, 5, 2)
    assert parse_day("31/02/2019") is None
    assert parse_day("") is None


def test_time_left_and_how_late_in_words() -> None:
    assert span(timedelta(days=2, hours=3, minutes=5), "vi") == "2 ngày 3 giờ"
    assert span(timedelta(hours=5, minutes=10), "en") == "5 h 10 min"
    assert span(timedelta(0), "en") == "0 min"
    css, words = due_status(NOW - timedelta(days=1, hours=2), NOW, "vi")
    assert (css, words) == ("overdue", "Quá hạn 1 ngày 2 giờ")
    css, words = due_status(NOW + timedelta(hours=3), NOW, "en")
    assert (css, words) == ("soon", "3 h left")
    assert due_status(NOW + timedelta(days=4), NOW, "en")[0] == "ok"
    assert due_status(None, NOW, "vi") == ("none", translate("page.time.no_due", "vi"))


def test_chart_marks_targets_and_colours_by_whether_they_are_met() -> None:
    bars = [Bar("Tiếp cận dịch vụ", 95.0, 90.0), Bar("PHCN", 40.0, 70.0), Bar("Không có mẫu số", None, 80.0)]
    svg = bar_chart(bars, title="Chỉ tiêu", value_label="Đạt", target_label="Chỉ tiêu")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title id=\"chart-title\">Chỉ tiêu</title>" in svg
    # target lines at 90 % and 70 % of the 300 px bar that starts at x=230
    assert 'x1="500.0"' in svg and 'x1="440.0"' in svg
    assert 'width="285.0" height="18" fill="#1b6e3a"' in svg  # 95 %: met, green
    assert 'width="120.0" height="18" fill="#b3261e"' in svg  # 40 % against 70 %: not met, red
    assert ">95%<" in svg and ">40%<" in svg and ">—<" in svg
    assert "<script" not in svg


def test_every_case_action_form_asks_for_what_the_engine_requires() -> None:
    for tr in CASE_MACHINE.transitions.values():
        required = {g.__name__.removeprefix("requires_") for g in tr.guards if g.__name__.startswith("requires_")}
        asked = {f.name for f in case_form(tr).fields}
        assert required <= asked, (tr.action, required - asked)
        assert tr.action in CASE_ACTION_FORMS  # every action has a chosen widget set, not the generic fallback


def test_every_referral_action_form_asks_for_what_the_lifecycle_requires() -> None:
    lifecycle = pytest.importorskip("referrals.lifecycle")
    for tr in lifecycle.REFERRAL_MACHINE.transitions.values():
        required = {g.__name__.removeprefix("requires_") for g in tr.guards if g.__name__.startswith("requires_")}
        asked = {f.name for f in referral_form(tr.action).fields}
        assert required <= asked, (tr.action, required - asked)


def test_payload_keeps_only_the_form_fields_and_leaves_blanks_out() -> None:
    spec = CASE_ACTION_FORMS["complete_assessment"]
    form = FormData([("needs", "rehabilitation"), ("needs", " "), ("needs", "inclusive_education"), ("note", "  "),
                     ("csrf", "x"), ("version", "3"), ("step", "closed")])
    assert payload_from_form(spec, form) == {"needs": ["rehabilitation", "inclusive_education"]}
    verify = CASE_ACTION_FORMS["verify"]
    assert payload_from_form(verify, FormData([("urgency", "urgent"), ("assessment", " x ")])) == {
        "urgency": "urgent", "assessment": "x"}


def test_every_page_string_used_exists_in_both_languages() -> None:
    used: set[str] = set()
    for path in [*PAGES.glob("templates/*.html"), *PAGES.glob("*.py")]:
        used |= set(re.findall(r"""['"](page\.[a-z0-9_.]+[a-z0-9_])['"]""", path.read_text(encoding="utf-8")))
    for name, (values, prefix) in CHILD_CHOICES.items():
        used |= {f"page.{prefix}.{v}" for v in values}
        used.add(f"page.field.{name}")
    for spec in CASE_ACTION_FORMS.values():
        for f in spec.fields:
            used.add(f"page.field.{f.name}")
            if f.prefix:
                used |= {f"page.{f.prefix}.{v}" for v in f.choices}
    missing = sorted(k for k in used if k not in catalogue.PAGE_TEXT)
    assert missing == []
    for key, texts in catalogue.PAGE_TEXT.items():
        assert texts["vi"].strip() and texts["en"].strip(), key
