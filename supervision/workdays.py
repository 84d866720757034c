"""Working days in SQL: a small calendar table (a VALUES CTE) of cumulative working-day counts.

Working days between two instants are ``cum(day of b) - cum(day of a)``, where ``cum(d)`` counts the
working days up to and including the local day ``d`` — the same count as
``engine.calendar.working_days_between`` (after ``a``'s day up to and including ``b``'s). The day number
is computed in SQL, the same way on PostgreSQL and SQLite, so a whole table is aged in one query.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine import calendar as project_calendar

EPOCH = date(1970, 1, 1)


def is_working_day(day: date) -> bool:
    """The project calendar's rule (engine.calendar), so the audit ages items as the deadlines were set."""
    return project_calendar.is_working_day(day)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def local_day_sql(column: Any, dialect: str, tz: str) -> sa.ColumnElement[int]:
    """The local calendar day of a UTC timestamp column, as days since 1970-01-01."""
    if dialect == "postgresql":
        return sa.cast(
            sa.func.timezone(tz, column).cast(sa.Date) - sa.cast(sa.literal(EPOCH.isoformat()), sa.Date),
            sa.Integer,
        )
    # SQLite keeps naive UTC text; Vietnam has kept one fixed offset since 1975, so a fixed modifier is exact.
    offset = int(datetime.now(UTC).astimezone(ZoneInfo(tz)).utcoffset().total_seconds())  # type: ignore[union-attr]
    return sa.cast(
        sa.func.julianday(sa.func.date(column, f"{offset:+d} seconds")) - sa.literal(2440587.5), sa.Integer
    )


def calendar_cte(first: date, last: date, name: str = "workcal") -> Any:
    """``(day, cum)`` for every day in ``[first, last]``: ``cum`` counts working days up to and including it."""
    rows: list[tuple[int, int]] = []
    cumulative = 0
    day = first
    while day <= last:
        if is_working_day(day):
            cumulative += 1
        rows.append((day_number(day), cumulative))
        day += timedelta(days=1)
    values = sa.values(sa.column("day", sa.Integer), sa.column("cum", sa.Integer), name=name, literal_binds=True)
    return values.data(rows).cte(name)


def cumulative_at(cte_rows_first: date, day: date) -> int:
    """``cum`` of one day, computed in Python with the same rule as :func:`calendar_cte`."""
    cumulative = 0
    current = cte_rows_first
    while current <= day:
        cumulative += is_working_day(current)
        current += timedelta(days=1)
    return cumulative
