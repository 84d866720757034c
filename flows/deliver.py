"""Notification delivery as a Prefect flow (every minute by default; deployments live in ``flows/serve.py``).

The flow is thin: one task writes the day's digests, then each task delivers one chunk of up to ``batch``
outbox rows through ``notifications.delivery.deliver_due`` (a thread pool sends inside the chunk). Never
one Prefect task per message — the server drops events past a few thousand task runs (see FIELD-NOTES).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import flow, get_run_logger, task
from sqlalchemy.engine import Engine

from engine.db import utcnow
from engine.settings import Settings

DEFAULT_INTERVAL = timedelta(minutes=1)
DEFAULT_BATCH = 200
DEFAULT_CONCURRENCY = 8
MAX_CHUNKS = 25  # per run; what is left waits for the next run a minute later


def digest_once(db: Engine, now: datetime) -> int:
    """Write today's digests (once a day per agency), each agency's in its own transaction."""
    from notifications.digest import write_digests

    return write_digests(db, now)


def deliver_chunk_once(db: Engine, settings: Settings, now: datetime, batch: int, concurrency: int) -> dict[str, int]:
    """One chunk: the service call the flow's task wraps, usable without Prefect (``ketnoi deliver``)."""
    from notifications.delivery import deliver_due

    return deliver_due(db, now, batch=batch, concurrency=concurrency, base_url=settings.base_url,
                       smtp_url=settings.smtp_url)


@task(name="write-digests", retries=1, retry_delay_seconds=10)
def digest_task(now: datetime) -> int:
    from ketnoi.bootstrap import build

    container = build()
    try:
        return digest_once(container.db, now)
    finally:
        container.dispose()


@task(name="deliver-chunk")
def deliver_chunk(now: datetime, batch: int, concurrency: int) -> dict[str, int]:
    # No Prefect retries: a failed send is already retried through the outbox with backoff.
    from ketnoi.bootstrap import build

    container = build()
    try:
        return deliver_chunk_once(container.db, container.settings, now, batch, concurrency)
    finally:
        container.dispose()


@flow(name="deliver-notifications", description="Send due outbox rows through apprise; retry, or mark them dead.")
def deliver_notifications(
    now: datetime | None = None, batch: int = DEFAULT_BATCH, concurrency: int = DEFAULT_CONCURRENCY,
    max_chunks: int = MAX_CHUNKS,
) -> dict[str, int]:
    """Write the day's digests, then deliver due rows in chunks; the summed counts."""
    when = now or utcnow()
    started = utcnow()
    totals: dict[str, int] = {"digests": digest_task(when)}
    for _ in range(max_chunks):
        # Each chunk claims at its own time: a chunk dated at the run's start would look stale (claim_timeout) to
        # the next scheduled run once this one has been sending for a while, and be sent a second time.
        counts = deliver_chunk(when + max(utcnow() - started, timedelta(0)), batch, concurrency)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if counts["claimed"] < batch:
            break
    get_run_logger().info("delivery at %s: %s", when.isoformat(), totals)
    return totals
