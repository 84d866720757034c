"""The deadline sweep as a Prefect flow: every open deadline that crossed a rung, set-based, in one task.

The flow is thin: one task runs ``engine.sweep.sweep`` in one transaction. Never one Prefect task per
deadline — the server drops events past a few thousand task runs in one flow (see FIELD-NOTES).
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, task
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow


def sweep_once(db: Engine, now: datetime) -> dict[str, int]:
    """One sweep in one transaction: the service call the flow wraps, usable without Prefect."""
    from engine.sweep import sweep

    with transaction(db) as session:
        return sweep(session, now)


@task(name="sweep", retries=1, retry_delay_seconds=10)
def sweep_task(now: datetime) -> dict[str, int]:
    from ketnoi.bootstrap import build

    container = build()
    try:
        return sweep_once(container.db, now)
    finally:
        container.dispose()


@flow(name="sweep-deadlines", description="Escalation ladders: fire every rung whose time has come, once.")
def sweep_deadlines(now: datetime | None = None) -> dict[str, int]:
    """Sweep at ``now`` (default: the current time); returns the counts by rung and action."""
    when = now or utcnow()
    counts = sweep_task(when)
    get_run_logger().info("sweep at %s: %s", when.isoformat(), counts or "nothing to do")
    return counts
