"""Vietnam's working days, against dates checked by hand on the government's holiday announcements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from engine.calendar import WorkingCalendar, add_working_days, is_working_day, working_days_between

HANOI = timezone(timedelta(hours=7))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HANOI)  # type: ignore[misc]


@pytest.mark.parametrize(
    "day",
    # Tết Đinh Mùi 2027: 29 Tết (Thu 4 Feb) to mùng 5 (Wed 10 Feb), weekends inside included
    [date(2027, 2, d) for d in range(4, 11)],
)
def test_tet_2027_is_off(day: date) -> None:
    assert not is_working_day(day)


def test_days_around_tet_2027_are_working_days() -> None:
    assert is_working_day(date(2027, 2, 3))  # Wednesday before 29 Tết
    assert is_working_day(date(2027, 2, 11))  # Thursday, mùng 6


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 8, 31), False),  # Monday bridge day, given in exchange for Saturday 22 Aug
        (date(2026, 9, 1), False),
        (date(2026, 9, 2), False),  # Quốc khánh, Wednesday
        (date(2026, 9, 3), True),
        (date(2027, 9, 2), False),  # Quốc khánh, Thursday
        (date(2027, 9, 3), False),  # the adjacent day, Friday
        (date(2027, 9, 6), True),  # Monday after
        (date(2027, 9, 1), True),
    ],
)
def test_national_day_holidays(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_makeup_saturday_is_a_working_day() -> None:
    saturday = date(2026, 8, 22)
    assert saturday.weekday() == 5
    assert is_working_day(saturday)
    assert not is_working_day(date(2026, 8, 29))  # an ordinary Saturday
    assert not is_working_day(date(2026, 8, 23))  # the Sunday after


def test_friday_before_tet_plus_one_working_day_lands_after_tet() -> None:
    # Tết Bính Ngọ 2026: Monday 16 to Friday 20 Feb; the Friday before is 13 Feb.
    due = add_working_days(local(2026, 2, 13, 10, 0), 1)
    assert due == local(2026, 2, 23, 10, 0)
    # 2027: the last working day before Tết is Wednesday 3 Feb; one working day later is Thursday 11 Feb.
    assert add_working_days(local(2027, 2, 3, 16, 30), 1) == local(2027, 2, 11, 16, 30)
    assert add_working_days(local(2027, 2, 11, 16, 30), -1) == local(2027, 2, 3, 16, 30)


def test_add_working_days_keeps_local_time_and_returns_utc() -> None:
    due = add_working_days(local(2027, 3, 1, 23, 30), 2)  # late Monday evening in Hà Nội
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
    assert due.astimezone(HANOI) == local(2027, 3, 3, 23, 30)
    # a weekend start counts from the next working day
    assert add_working_days(local(2027, 3, 6, 9, 0), 1) == local(2027, 3, 8, 9, 0)


def test_working_days_between_counts_across_tet() -> None:
    assert working_days_between(local(2027, 2, 3, 9), local(2027, 2, 11, 9)) == 1
    assert working_days_between(local(2027, 2, 11, 9), local(2027, 2, 3, 9)) == -1
    assert working_days_between(local(2027, 3, 1, 9), local(2027, 3, 8, 9)) == 5
    assert working_days_between(local(2027, 3, 1, 9), local(2027, 3, 1, 17)) == 0


def test_province_day_off() -> None:
    own_day = date(2027, 3, 10)  # a Wednesday the province gives off
    calendar = WorkingCalendar(days_off=[own_day])
    assert is_working_day(own_day)
    assert not calendar.is_working_day(own_day)
    assert calendar.add_working_days(local(2027, 3, 9, 9), 1) == local(2027, 3, 11, 9)
    assert add_working_days(local(2027, 3, 9, 9), 1) == local(2027, 3, 10, 9)


def test_hours_and_months() -> None:
    calendar = WorkingCalendar()
    start = local(2027, 2, 5, 20, 0)  # Giao thừa: urgent clocks run through Tết
    assert calendar.add_hours(start, 12) == local(2027, 2, 6, 8, 0)
    assert calendar.add_months(local(2027, 8, 31, 9), 6) == local(2028, 2, 29, 9)  # leap year, clamped
    assert calendar.add_months(local(2027, 3, 15, 9), 6).astimezone(UTC) == datetime(2027, 9, 15, 2, tzinfo=UTC)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(datetime(2027, 3, 1, 9), 1)
