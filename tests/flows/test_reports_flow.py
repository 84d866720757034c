"""The periodic-reports flow: which reports are due, each made once, stored and announced (real database)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import select

from engine.db import transaction
from engine.models import Outbox, Report
from flows.reports import due_today, make_report, periodic_reports
from tests.support.people import DEMO_PROVINCE

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def test_due_reports_follow_the_calendar_and_catch_up(db: Engine, ketnoi_env: str) -> None:
    province = [DEMO_PROVINCE]
    # 10 November: Q3 and H1 have ended; the year is not made before 15 November
    assert due_today(db, datetime(2026, 11, 10, 6, tzinfo=VN), province) == [
        (DEMO_PROVINCE, "2026-Q3"), (DEMO_PROVINCE, "2026-H1")]
    assert due_today(db, datetime(2026, 11, 15, 6, tzinfo=VN), province) == [
        (DEMO_PROVINCE, "2026-Q3"), (DEMO_PROVINCE, "2026-H1"), (DEMO_PROVINCE, "2026")]
    made = make_report(db, DEMO_PROVINCE, "2026-Q3", datetime(2026, 11, 15, 6, tzinfo=VN))
    assert due_today(db, datetime(2026, 11, 16, 6, tzinfo=VN), province) == [
        (DEMO_PROVINCE, "2026-H1"), (DEMO_PROVINCE, "2026")]
    with transaction(db) as s:
        notice = s.exec(select(Outbox).where(Outbox.dedupe_key == f"report:{made}")).one()
    assert notice.context["period"] == "2026-Q3" and "due_at" not in notice.context
    # every province is considered when no unit is named
    assert (DEMO_PROVINCE, "2026-H1") in due_today(db, datetime(2026, 11, 16, 6, tzinfo=VN))


def test_flow_makes_each_due_report_once(db: Engine, ketnoi_env: str, prefect_harness: None) -> None:
    when = datetime(2026, 7, 2, 6, tzinfo=VN)  # Q2 and H1 just ended; last year's report is missing
    first = periodic_reports(now=when, units=[DEMO_PROVINCE])
    again = periodic_reports(now=when, units=[DEMO_PROVINCE])
    with transaction(db) as s:
        periods = sorted(r.period for r in s.exec(select(Report)))
        notices = list(s.exec(select(Outbox).where(Outbox.template == "report_ready")))
    assert len(first) == 3 and again == []
    assert periods == ["2025", "2026-H1", "2026-Q2"]
    assert sorted(n.context["period"] for n in notices) == periods
    yearly = next(n for n in notices if n.context["period"] == "2025")
    assert yearly.context["due_at"].startswith("2025-11-30T00:00:00+07:00")
