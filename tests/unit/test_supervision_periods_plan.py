"""Periods, the plan file and the supervision room's imports (no database)."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.errors import InvalidInput
from supervision.periods import parse_period, scheduled_period
from supervision.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("label", "first", "end", "start_utc"),
    [
        ("2026", date(2026, 1, 1), date(2027, 1, 1), datetime(2025, 12, 31, 17, tzinfo=UTC)),
        ("2026-h2", date(2026, 7, 1), date(2027, 1, 1), datetime(2026, 6, 30, 17, tzinfo=UTC)),
        ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1), datetime(2026, 9, 30, 17, tzinfo=UTC)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1), datetime(2025, 12, 31, 17, tzinfo=UTC)),
    ],
)
def test_periods_are_local_calendar_spans(label: str, first: date, end: date, start_utc: datetime) -> None:
    period = parse_period(label)
    assert (period.first_day, period.end_day, period.start) == (first, end, start_utc)
    assert period.last_day < period.end_day


@pytest.mark.parametrize("label", ["2026-Q5", "2026-H3", "26", "2026-M1", "", "2026-Q0"])
def test_bad_periods_are_refused(label: str) -> None:
    with pytest.raises(InvalidInput):
        parse_period(label)


def test_scheduled_periods() -> None:
    assert scheduled_period("quarter", date(2027, 1, 2)) == "2026-Q4"
    assert scheduled_period("quarter", date(2026, 5, 20)) == "2026-Q1"
    assert scheduled_period("half", date(2026, 7, 1)) == "2026-H1"
    assert scheduled_period("half", date(2026, 3, 1)) == "2025-H2"
    assert scheduled_period("year", date(2026, 11, 15)) == "2026"  # due before 30 November: the year so far
    assert scheduled_period("year", date(2026, 10, 31)) == "2025"


def test_national_targets_come_from_the_file() -> None:
    plan = load_plan().for_province("19")
    assert (plan.target("reached_service", 2019).value, plan.target("reached_service", 2019).year) == (0.7, 2020)
    assert plan.target("reached_service", 2023).value == 0.9
    assert plan.target("linked_network", 2030).year == 2025  # all milestones passed: the last one holds
    assert plan.target("referral_completed", 2026).value is None  # no target in the plan: none invented
    assert "1438/QĐ-TTg" in plan.source_vi


def test_a_province_plan_replaces_targets(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "source: {vi: 'Kế hoạch tỉnh', en: 'Provincial plan'}\n"
        "targets:\n  reached_service: {2026: 0.8, 2030: 0.95}\n"
        "provinces:\n  '19':\n    targets:\n      caregivers_trained: {2026: 0.75}\n",
        encoding="utf-8",
    )
    plan = load_plan(path)
    thai_nguyen, other = plan.for_province("19"), plan.for_province("01")
    assert thai_nguyen.target("reached_service", 2026).value == 0.8
    assert thai_nguyen.target("caregivers_trained", 2026).value == 0.75
    assert other.target("caregivers_trained", 2026).value == 0.8  # the national default fills the gap
    assert other.source_vi == "Kế hoạch tỉnh"
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  reached_service: {2026: 1.5}\n", encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_plan(bad)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_supervision_room_keeps_to_its_imports() -> None:
    for path in (ROOT / "supervision").glob("*.py"):
        assert not _imports(path) & {"fastapi", "starlette", "prefect", "apprise", "api", "flows"}, path.name


@pytest.mark.parametrize(("label", "vi", "en"), [
    ("2026", "Năm 2026", "Year 2026"),
    ("2026-H1", "6 tháng đầu năm 2026", "First half of 2026"),
    ("2026-H2", "6 tháng cuối năm 2026", "Second half of 2026"),
    ("2026-Q3", "Quý 3 năm 2026", "Q3 2026"),
])
def test_periods_are_named_in_both_languages(label: str, vi: str, en: str) -> None:
    chosen = parse_period(label)
    assert (chosen.label_vi(), chosen.label_en()) == (vi, en)
