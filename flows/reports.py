"""Periodic reports as a Prefect flow: quarterly, half-yearly and yearly, for every province.

The deployment runs it every morning (``flows.serve.REPORTS_CRON``); the flow asks
``supervision.reports.due_reports`` which reports are due and missing — quarters and halves once they have
ended, the year from 15 November (it is due before 30 November) — so a day the worker was down is caught
up the next morning and a report is never made twice. Each report is generated, stored and announced to
the unit's supervisors (``report_ready``) in one transaction, one Prefect task per report (34 provinces ×
at most 3 kinds: far below the task counts that trouble the server).
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, task
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow

# What the flow makes, for the deployments and the docs (the flow itself decides from the date).
REPORT_SCHEDULE = {
    "quarter": "the quarter that ended (made from the 1st day of the next quarter)",
    "half": "the half-year that ended (from 1 July and 1 January)",
    "year": "the year so far, from 15 November (due before 30 November)",
}


def due_today(db: Engine, now: datetime, units: list[str] | None = None) -> list[tuple[str, str]]:
    from engine.settings import get_settings
    from supervision.reports import due_reports
    from supervision.workdays import local_day

    with transaction(db) as session:
        return due_reports(session, local_day(now, get_settings().timezone), units)


def make_report(db: Engine, unit_code: str, period: str, now: datetime) -> int:
    """Generate, store and announce one report in one transaction; returns its id (usable without Prefect)."""
    from engine.settings import get_settings
    from supervision.reports import generate_and_announce, report_due_at

    settings = get_settings()
    with transaction(db) as session:
        report = generate_and_announce(
            session, unit_code, period, base_url=settings.base_url, now=now, plan_file=settings.plan_file,
            due_at=report_due_at(period, settings.timezone),
        )
        assert report.id is not None
        return report.id


@task(name="find-due-reports", retries=1, retry_delay_seconds=10)
def find_due_reports(now: datetime, units: list[str] | None) -> list[tuple[str, str]]:
    from ketnoi.bootstrap import build

    container = build()
    try:
        return due_today(container.db, now, units)
    finally:
        container.dispose()


@task(name="make-report", retries=1, retry_delay_seconds=30)
def make_report_task(unit_code: str, period: str, now: datetime) -> int:
    from ketnoi.bootstrap import build

    container = build()
    try:
        return make_report(container.db, unit_code, period, now)
    finally:
        container.dispose()


@flow(name="periodic-reports", description="Quarterly, half-yearly and yearly indicator reports per province.")
def periodic_reports(now: datetime | None = None, units: list[str] | None = None) -> list[int]:
    """Make every report due at ``now`` (default: the current time) that does not exist yet; returns their ids."""
    when = now or utcnow()
    due = find_due_reports(when, units)
    logger = get_run_logger()
    made = []
    for unit_code, period in due:
        made.append(make_report_task(unit_code, period, when))
        logger.info("report %s %s stored and announced", unit_code, period)
    if not made:
        logger.info("no report due at %s", when.isoformat())
    return made
