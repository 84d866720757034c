"""Deadlines: a clock opened when a step or referral state is entered and closed when it is left.

Placeholder until the deadlines issue lands: no rows yet, a flat due time for tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

PLACEHOLDER_DUE = timedelta(days=3)


def on_enter(
    session: Session,
    *,
    policy_key: str,
    case_id: int,
    now: datetime,
    referral_id: int | None = None,
    owner_user_id: int | None = None,
    owner_agency_code: str | None = None,
    owner_unit_code: str | None = None,
    owner_role: str | None = None,
) -> datetime | None:
    """Open the clock for ``policy_key``; return its due time (for the task)."""
    return now + PLACEHOLDER_DUE


def on_leave(session: Session, *, case_id: int, now: datetime, referral_id: int | None = None) -> None:
    """Close the open clocks of a case step (``referral_id`` None) or of a referral."""
    return None
