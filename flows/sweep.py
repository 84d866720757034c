"""The deadline sweep as a Prefect flow: every open deadline that crossed a rung, set-based, in one task.

The flow is thin: one task runs ``engine.sweep.sweep_sharded``: the sweep in ``KETNOI_SWEEP_SHARDS`` disjoint
parts at once on PostgreSQL, each in one transaction (one transaction on SQLite). Never one Prefect task per
deadline — the server drops events past a few thousand task runs in one flow (see FIELD-NOTES).

After a sweep that fired many rungs, and outside its transaction, PostgreSQL gets ``VACUUM (ANALYZE)
deadline_rung`` (``tidy_after_sweep``). Why: a fired rung is deleted, but its entry in the index of the rungs'
times (``ix_deadline_rung_fire_at``) stays until a vacuum removes it; the next sweep's probe and scan
(``fire_at <= now``) start exactly at those entries, and each one
costs a visit to the heap (about 0.3 s for 30,000 of them at national scale, where the whole sweep with
nothing to do should take well under 0.1 s). Autovacuum would get there eventually (and it may be off);
this does it at once, for one table, and refreshes its statistics. A VACUUM cannot run inside a
transaction, hence here and not in ``engine.sweep``; it takes no lock that blocks readers or writers.

The scheduled flow then deletes what has outlived its retention (``engine.retention``: stored idempotent
responses after a day), by the real clock: ``ketnoi sweep --now`` in the future must not purge today's.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, task
from sqlalchemy.engine import Engine

from engine.db import utcnow

VACUUM_AFTER_RUNGS = 1000  # below this, the dead index entries cost less than the vacuum


def sweep_once(db: Engine, now: datetime, shards: int = 1) -> dict[str, int]:
    """One sweep (in ``shards`` parts at once), then the tidying: the service call the flow wraps."""
    from engine.sweep import sweep_sharded

    counts = sweep_sharded(db, now, shards)
    tidy_after_sweep(db, counts)
    return counts


def tidy_after_sweep(db: Engine, counts: dict[str, int]) -> bool:
    """``VACUUM (ANALYZE) deadline_rung`` on PostgreSQL after a sweep that fired many rungs; True if it ran."""
    if db.dialect.name != "postgresql" or counts.get("rungs_fired", 0) < VACUUM_AFTER_RUNGS:
        return False
    with db.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM (ANALYZE) deadline_rung")
    return True


@task(name="sweep", retries=1, retry_delay_seconds=10)
def sweep_task(now: datetime) -> dict[str, int]:
    from ketnoi.bootstrap import build

    container = build()
    try:
        counts = sweep_once(container.db, now, container.settings.sweep_shards)
        purge_after_sweep(container.db)
        return counts
    finally:
        container.dispose()


def purge_after_sweep(db: Engine) -> dict[str, int]:
    """What has outlived its retention (``engine.retention``), by the real clock, never a simulated ``now``."""
    from engine.db import transaction
    from engine.retention import purge_expired

    with transaction(db) as session:
        return purge_expired(session, utcnow())


@flow(name="sweep-deadlines", description="Escalation ladders: fire every rung whose time has come, once.")
def sweep_deadlines(now: datetime | None = None) -> dict[str, int]:
    """Sweep at ``now`` (default: the current time); returns the counts by rung and action."""
    when = now or utcnow()
    counts = sweep_task(when)
    get_run_logger().info("sweep at %s: %s", when.isoformat(), counts or "nothing to do")
    return counts
