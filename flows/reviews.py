"""Periodic reviews in care, scheduled daily.

The review clock itself is the ``case.in_care`` deadline of the policy (every 6 months by default): it is
opened when a case enters care and again at each recorded review, and the deadline sweep reminds and
escalates it like any other. This flow adds what transitions cannot: a clock for every case in care that
has none (cases migrated or loaded in bulk), set-based, in one task.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, task
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow


def schedule_reviews_once(db: Engine, now: datetime) -> int:
    """Open the missing review clocks in one transaction; returns how many were opened."""
    from engine.reviews import open_missing_reviews

    with transaction(db) as session:
        return open_missing_reviews(session, now)


@task(name="open-missing-reviews", retries=1, retry_delay_seconds=30)
def open_missing_reviews_task(now: datetime) -> int:
    from ketnoi.bootstrap import build

    container = build()
    try:
        return schedule_reviews_once(container.db, now)
    finally:
        container.dispose()


@flow(name="schedule-reviews", description="Give every case in care its periodic review clock.")
def schedule_reviews(now: datetime | None = None) -> int:
    when = now or utcnow()
    opened = open_missing_reviews_task(when)
    get_run_logger().info("review clocks opened at %s: %d", when.isoformat(), opened)
    return opened
