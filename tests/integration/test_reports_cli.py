"""`ketnoi report indicators` and `ketnoi report overdue` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from ketnoi.cli import app
from tests.support.people import DEMO_PROVINCE
from tests.support.supervision_data import build


def test_report_indicators_writes_the_file_asked_for(db: Engine, db_url: str, tmp_path: Path) -> None:
    build(db)
    env = {"KETNOI_DATABASE_URL": db_url}
    runner = CliRunner()
    out = tmp_path / "h1.xlsx"
    args = ["report", "indicators", "--unit", DEMO_PROVINCE, "--period", "2026-H1", "-o", str(out)]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "50,0%  [2/4]" in result.output  # reached a service: c1 and c2 of four registered children
    assert "First half of 2026" in result.output  # and in English: the period and each indicator's name
    summary = load_workbook(out)["Chỉ tiêu"]
    assert {r[0].value: r[2].value for r in summary.iter_rows(min_row=2)}["children_registered"] == 4

    as_json = tmp_path / "year.json"
    result = runner.invoke(app, ["report", "indicators", "--unit", DEMO_PROVINCE, "--period", "2026", "--format",
                                 "json", "-o", str(as_json)], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(as_json.read_text(encoding="utf-8"))
    assert {i["key"]: i["numerator"] for i in data["indicators"]["indicators"]}["children_registered"] == 5

    bad = runner.invoke(app, ["report", "indicators", "--unit", DEMO_PROVINCE, "--period", "2026-Q5"], env=env)
    assert bad.exit_code == 1 and "2026-Q5" in bad.output


def test_report_overdue_as_of_a_past_day(db: Engine, db_url: str) -> None:
    build(db)
    result = CliRunner().invoke(app, ["report", "overdue", "--unit", DEMO_PROVINCE, "--as-of",
                                      "2026-02-23T09:00:00+07:00", "--json"], env={"KETNOI_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    audit = json.loads(result.output)
    # R3's clock (due 13 Feb 17:00, closed 23 Feb 15:00) is the one referral clock overdue then; the cases'
    # own clocks opened on 1 Dec 2025 by the policy may be overdue too, so count only the referral steps
    steps = {g["key"]: g["total"] for g in audit["groups"]["step"]}
    assert steps.get("referral.requested") == 1


def test_a_file_name_whose_extension_names_another_format_is_refused(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bao-cao.xlsx"
    result = CliRunner().invoke(app, ["report", "indicators", "--unit", "19", "--period", "2026", "--format", "csv",
                                      "-o", str(out)], env={"KETNOI_DATABASE_URL": db_url})
    assert result.exit_code == 1 and "--format xlsx" in result.output and "đuôi .xlsx" in result.output
    assert not out.exists()
