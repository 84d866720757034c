"""Working days in SQL: a calendar of cumulative working-day counts, passed to the query as one value.

Working days between two instants are ``cum(day of b) - cum(day of a)``, where ``cum(d)`` counts the
working days up to and including the local day ``d`` — the same count as
``engine.calendar.working_days_between`` (after ``a``'s day up to and including ``b``'s). The day number
is computed in SQL, the same way on PostgreSQL and SQLite, so a whole table is aged in one query.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import Grouping

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


def cumulative_counts(first: date, last: date) -> list[int]:
    """``cum`` for every day in ``[first, last]``: working days from ``first`` up to and including that day."""
    counts: list[int] = []
    cumulative = 0
    day = first
    while day <= last:
        cumulative += is_working_day(day)
        counts.append(cumulative)
        day += timedelta(days=1)
    return counts


def cumulative_sql(column: Any, *, first: date, last: date, dialect: str, tz: str) -> sa.ColumnElement[int]:
    """``cum`` of the local day of a timestamp column, looked up in the calendar passed as ONE parameter.

    The whole calendar travels as a single bound value (an integer array on PostgreSQL, JSON text on SQLite)
    indexed by the day's offset from ``first``: building and compiling a VALUES table of hundreds of
    literal rows cost more than the query itself. Days outside ``[first, last]`` give NULL.
    """
    counts = cumulative_counts(first, last)
    offset = local_day_sql(column, dialect, tz) - day_number(first)
    if dialect == "postgresql":
        array_type = postgresql.ARRAY(sa.Integer)
        calendar = Grouping(sa.cast(sa.bindparam(None, counts, type_=array_type), array_type))
        return sa.type_coerce(calendar, array_type)[offset + 1]  # arrays count from 1
    path = sa.literal("$[") + sa.cast(offset, sa.String) + sa.literal("]")
    return sa.cast(sa.func.json_extract(sa.bindparam(None, json.dumps(counts), type_=sa.String), path), sa.Integer)
