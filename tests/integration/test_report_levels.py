"""The report's files read as Vietnamese: a unit's level in words under "Cấp", headings in sentence case, and
the first data row right under the headings (no empty row).

Data: tests/support/supervision_data.py (records in province 19 and two of its wards).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from engine.db import transaction
from supervision.reports import (
    SHEET_OVERDUE_AGENCY,
    SHEET_OVERDUE_UNIT,
    SHEET_SUMMARY,
    SHEET_UNITS,
    generate_report,
    level_label_vi,
    write_xlsx,
)
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE
from tests.support.supervision_data import build

NOW = datetime(2026, 11, 15, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # the yearly report's day


def test_yearly_report_excel_names_levels_in_vietnamese(db: Engine, tmp_path: Path) -> None:
    build(db)
    with transaction(db) as s:
        report = generate_report(s, DEMO_PROVINCE, "2026", now=NOW)
        path = write_xlsx(report, tmp_path / "bao-cao-2026.xlsx")
    book = load_workbook(path)

    units = book[SHEET_UNITS]
    assert [c.value for c in units[1]][:3] == ["Mã đơn vị", "Tên đơn vị", "Cấp"]
    levels = {row[0]: row[2] for row in units.iter_rows(min_row=2, values_only=True)}
    assert levels[DEMO_PROVINCE] == "Tỉnh, thành phố"
    assert levels[COMMUNE_A] == levels[COMMUNE_B] == "Xã, phường"
    assert not {"province", "district", "commune"} & set(levels.values())

    for title in (SHEET_SUMMARY, SHEET_UNITS, SHEET_OVERDUE_AGENCY, SHEET_OVERDUE_UNIT):
        sheet = book[title]
        assert sheet[2][0].value is not None, f"{title}: an empty row under the headings"
        assert sheet.freeze_panes == "A2"
    assert book[SHEET_SUMMARY]["A2"].value == "children_registered"

    overdue_units = book[SHEET_OVERDUE_UNIT]
    assert [c.value for c in overdue_units[1]][:4] == ["Mã đơn vị", "Tên đơn vị", "Cấp", "Tổng số quá hạn"]
    overdue_levels = {row[0]: row[2] for row in overdue_units.iter_rows(min_row=2, values_only=True)}
    assert overdue_levels[DEMO_PROVINCE] == "Tỉnh, thành phố"  # the subtree's total, told apart from the communes
    assert set(overdue_levels.values()) <= {"Tỉnh, thành phố", "Xã, phường"}

    for title in (SHEET_OVERDUE_AGENCY, SHEET_OVERDUE_UNIT):
        headers = [c.value for c in book[title][1]]
        assert "Quá hạn trên 30 ngày làm việc" in headers and "Quá hạn 1–3 ngày làm việc" in headers


def test_report_level_label_for_other_levels() -> None:
    assert level_label_vi("district") == "Quận, huyện, thị xã"
    assert level_label_vi("village") == "village"  # levels are data: an unknown one keeps its code
    assert level_label_vi("") == level_label_vi(None) == ""
