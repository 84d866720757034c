"""Reporting periods: a year (``2026``), a half (``2026-H1``) or a quarter (``2026-Q3``).

Boundaries are local midnights (the project's time zone) turned into UTC instants; the end is exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput

MIN_YEAR, MAX_YEAR = 2000, 2100
PERIOD_PATTERN = re.compile(r"^(?P<year>\d{4})(?:-(?P<kind>[HQ])(?P<index>\d))?$")


@dataclass(frozen=True)
class Period:
    label: str
    kind: str  # year, half, quarter
    year: int
    first_day: date
    end_day: date  # exclusive
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.end_day.toordinal() - 1)

    def label_vi(self) -> str:
        if self.kind == "year":
            return f"Năm {self.year}"
        if self.kind == "half":
            return f"{'6 tháng đầu' if self.label.endswith('H1') else '6 tháng cuối'} năm {self.year}"
        return f"Quý {self.label[-1]} năm {self.year}"

    def label_en(self) -> str:
        if self.kind == "year":
            return f"Year {self.year}"
        if self.kind == "half":
            return f"{'First' if self.label.endswith('H1') else 'Second'} half of {self.year}"
        return f"Q{self.label[-1]} {self.year}"


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(label: str, tz: str = "Asia/Ho_Chi_Minh") -> Period:
    """``2026`` → the calendar year; ``2026-H1`` / ``2026-H2``; ``2026-Q1`` … ``2026-Q4``."""
    match = PERIOD_PATTERN.match(label.strip().upper())
    if match is None:
        raise InvalidInput("period_invalid", period=label)
    year = int(match["year"])
    if not MIN_YEAR <= year <= MAX_YEAR:  # plans start in 2018 (Decision 1438); year 0 is no calendar year
        raise InvalidInput("period_invalid", period=label)
    kind_letter, index = match["kind"], int(match["index"] or 0)
    if kind_letter is None:
        kind, first_month, months = "year", 1, 12
    elif kind_letter == "H" and index in (1, 2):
        kind, first_month, months = "half", 1 + 6 * (index - 1), 6
    elif kind_letter == "Q" and 1 <= index <= 4:
        kind, first_month, months = "quarter", 1 + 3 * (index - 1), 3
    else:
        raise InvalidInput("period_invalid", period=label)
    first_day = _month_start(year, first_month)
    end_day = _month_start(year, first_month + months)
    zone = ZoneInfo(tz)
    return Period(
        label=label.strip().upper(), kind=kind, year=year, first_day=first_day, end_day=end_day,
        start=datetime.combine(first_day, time(0), zone).astimezone(UTC),
        end=datetime.combine(end_day, time(0), zone).astimezone(UTC),
    )


def scheduled_period(kind: str, today: date) -> str:
    """The period a report generated on ``today`` covers.

    Quarters and halves: the last complete one. The year: the current year from November on (the yearly
    report is due before 30 November, so it covers the year so far), else the previous year.
    """
    if kind == "year":
        return str(today.year if today.month >= 11 else today.year - 1)
    if kind == "half":
        return f"{today.year}-H1" if today.month > 6 else f"{today.year - 1}-H2"
    if kind == "quarter":
        quarter = (today.month - 1) // 3  # the quarter that ended last: 0 means Q4 of last year
        return f"{today.year}-Q{quarter}" if quarter else f"{today.year - 1}-Q4"
    raise InvalidInput("period_invalid", period=kind)
