"""Vietnam's working days: weekends, Tết and the other public holidays, make-up working Saturdays,
and a province's own days off.

National holidays come from the ``holidays`` package (country VN, Vietnamese names); the province's own
days off come from the policy file. Working-day arithmetic happens on local dates in
Asia/Ho_Chi_Minh and keeps the local time of day, so a deadline set at 10:00 on the Friday before Tết,
one working day later, falls due at 10:00 on the first working day after Tết.
"""

from __future__ import annotations

import calendar as std_calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
# A working-day count never needs to look further than this: it guards against a calendar with no working day.
_MAX_SCAN_DAYS = 3660


@lru_cache(maxsize=64)
def national_days_off(year: int) -> dict[date, str]:
    """Vietnam's public holidays of one year (Vietnamese names), cached per year."""
    return dict(holidays.country_holidays("VN", years=year, language="vi").items())


@lru_cache(maxsize=64)
def makeup_working_days(year: int) -> frozenset[date]:
    """Weekend days the government made working days (in exchange for a bridge holiday), cached per year."""
    vn = holidays.country_holidays("VN", years=year, language="vi")
    return frozenset(d for d in vn.weekend_workdays if d.year == year)


@lru_cache(maxsize=1)
def _weekend() -> frozenset[int]:
    return frozenset(holidays.country_holidays("VN", years=2026).weekend)


class WorkingCalendar:
    """Working-day arithmetic for one province: national holidays plus its own ``days_off``."""

    def __init__(self, days_off: Iterable[date] = (), timezone: str = DEFAULT_TIMEZONE) -> None:
        self.days_off = frozenset(days_off)
        self.tz = ZoneInfo(timezone)

    def is_working_day(self, day: date) -> bool:
        if day in self.days_off or day in national_days_off(day.year):
            return False
        if day in makeup_working_days(day.year):
            return True
        return day.weekday() not in _weekend()

    def holiday_name(self, day: date) -> str | None:
        if day in self.days_off:
            return "Ngày nghỉ của tỉnh"
        return national_days_off(day.year).get(day)

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware datetimes")
        return moment.astimezone(self.tz)

    def nth_working_day(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (before it when ``n`` is negative); ``day`` is not counted."""
        step = 1 if n > 0 else -1
        remaining = abs(n)
        scanned = 0
        while remaining:
            day += timedelta(days=step)
            scanned += 1
            if scanned > _MAX_SCAN_DAYS:
                raise ValueError("no working day found within ten years; check the days off")
            if self.is_working_day(day):
                remaining -= 1
        return day

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """``start`` moved by ``n`` working days, keeping the local time of day; returned in UTC."""
        if n == 0:
            return start.astimezone(UTC)
        local = self.local(start)
        day = self.nth_working_day(local.date(), n)
        return datetime.combine(day, local.timetz().replace(tzinfo=None), self.tz).astimezone(UTC)

    def working_days_between(self, a: datetime, b: datetime) -> int:
        """Working days after ``a``'s local date up to and including ``b``'s (negative when ``b`` is earlier)."""
        first, last = self.local(a).date(), self.local(b).date()
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        count = 0
        day = first
        while day < last:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return sign * count

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """Elapsed hours on the clock, nights and holidays included (urgent deadlines do not stop)."""
        return (start + timedelta(hours=hours)).astimezone(UTC)

    def add_months(self, start: datetime, months: int) -> datetime:
        """The same local day and time ``months`` later (the last day of a shorter month)."""
        local = self.local(start)
        index = local.month - 1 + months
        year, month = local.year + index // 12, index % 12 + 1
        day = min(local.day, std_calendar.monthrange(year, month)[1])
        return local.replace(year=year, month=month, day=day).astimezone(UTC)


NATIONAL = WorkingCalendar()


def is_working_day(day: date) -> bool:
    return NATIONAL.is_working_day(day)


def add_working_days(start: datetime, n: int) -> datetime:
    return NATIONAL.add_working_days(start, n)


def working_days_between(a: datetime, b: datetime) -> int:
    return NATIONAL.working_days_between(a, b)


def add_hours(start: datetime, hours: float) -> datetime:
    return NATIONAL.add_hours(start, hours)
