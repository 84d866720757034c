"""Generated reports: stored, announced to the supervisors, and written as Excel (cells checked), CSV and JSON.

Data: tests/support/supervision_data.py (hand counts in test_indicators_hand_built.py): for 2026-H1 in
province 19, 2 of 4 registered children reached a service, 1 of 4 referrals was completed.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import select

from engine.db import transaction
from engine.errors import InvalidInput
from engine.models import Outbox, Report
from notifications.render import render
from supervision.reports import (
    SHEET_ABOUT,
    SHEET_OVERDUE_AGENCY,
    SHEET_OVERDUE_UNIT,
    SHEET_SUMMARY,
    SHEET_UNITS,
    generate_and_announce,
    write_csv,
    write_json,
    write_report,
    write_xlsx,
)
from tests.support.people import COMMUNE_A, DEMO_PROVINCE
from tests.support.supervision_data import build

NOW = datetime(2026, 7, 3, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def make_report(db: Engine) -> int:
    build(db)
    with transaction(db) as s:
        report = generate_and_announce(s, DEMO_PROVINCE, "2026-h1", base_url="https://ketnoi.example.vn", now=NOW)
        assert report.id is not None
        return report.id


def test_excel_file_has_vietnamese_headers_and_numbers(db: Engine, tmp_path: Path) -> None:
    report_id = make_report(db)
    with transaction(db) as s:
        report = s.get(Report, report_id)
        assert report is not None
        path = write_xlsx(report, tmp_path / "bao-cao.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == [SHEET_SUMMARY, SHEET_UNITS, SHEET_OVERDUE_AGENCY, SHEET_OVERDUE_UNIT, SHEET_ABOUT]

    summary = book[SHEET_SUMMARY]
    assert [c.value for c in summary[1]] == ["Mã chỉ tiêu", "Chỉ tiêu", "Tử số", "Mẫu số", "Kết quả",
                                             "Mục tiêu kế hoạch", "Năm mục tiêu", "Đạt mục tiêu"]
    rows = {r[0].value: r for r in summary.iter_rows(min_row=2)}
    reached = rows["reached_service"]
    assert reached[1].value == "Tỷ lệ trẻ em khuyết tật được tiếp cận ít nhất một dịch vụ"
    assert (reached[2].value, reached[3].value, reached[4].value, reached[5].value) == (2, 4, 0.5, 0.9)
    assert isinstance(reached[2].value, int) and isinstance(reached[4].value, float)
    assert reached[4].number_format == "0.0%" and reached[5].number_format == "0.0%"
    assert (reached[6].value, reached[7].value) == (2025, "Chưa đạt")
    assert rows["children_registered"][2].value == 4
    assert rows["referral_days_to_accept"][4].value == 2.0
    assert rows["referral_completed"][2].value == 1 and rows["referral_completed"][3].value == 4

    units = book[SHEET_UNITS]
    headers = [c.value for c in units[1]]
    assert headers[:4] == ["Mã đơn vị", "Tên đơn vị", "Cấp", "Số trẻ em khuyết tật được đăng ký"]
    column = headers.index("Tỷ lệ trẻ em khuyết tật được tiếp cận ít nhất một dịch vụ – tỷ lệ")
    commune_a = next(r for r in units.iter_rows(min_row=2) if r[0].value == COMMUNE_A)
    assert commune_a[1].value == "Phường Phan Đình Phùng"
    assert commune_a[3].value == 2 and commune_a[column].value == 1.0
    assert commune_a[column].number_format == "0.0%"

    overdue = book[SHEET_OVERDUE_AGENCY]
    assert [c.value for c in overdue[1]][:3] == ["Mã cơ quan", "Tên cơ quan", "Tổng số quá hạn"]
    about = {r[0].value: r[1].value for r in book[SHEET_ABOUT].iter_rows(min_row=2)}
    assert about["Kỳ báo cáo"] == "6 tháng đầu năm 2026 (2026-H1)"
    assert "1438/QĐ-TTg" in about["Căn cứ mục tiêu"]


def test_report_is_stored_announced_and_written_as_csv_and_json(db: Engine, tmp_path: Path) -> None:
    report_id = make_report(db)
    with transaction(db) as s:
        report = s.get(Report, report_id)
        assert report is not None and report.period == "2026-H1" and report.unit_code == DEMO_PROVINCE
        notices = list(s.exec(select(Outbox).where(Outbox.template == "report_ready")))
        csv_path = write_csv(report, tmp_path / "r.csv")
        json_path = write_json(report, tmp_path / "r.json")
        with pytest.raises(InvalidInput):
            write_report(report, tmp_path / "r.pdf", "pdf")
    assert [(n.recipient_kind, n.recipient_ref, n.dedupe_key) for n in notices] == [
        ("unit_role", f"{DEMO_PROVINCE}:supervisor", f"report:{report_id}")
    ]
    assert notices[0].context["link_path"] == f"/api/v1/reports/{report_id}/download?format=xlsx"
    title, body = render("report_ready", "vi", notices[0].context, base_url="https://ketnoi.example.vn")
    assert title == "[Kết Nối] Báo cáo kỳ 2026-H1 đã sẵn sàng"
    assert f"https://ketnoi.example.vn/app/reports/{report_id}/download?format=xlsx" in body

    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.DictReader(handle))
    total = next(r for r in lines if r["Mã đơn vị"] == DEMO_PROVINCE and r["Mã chỉ tiêu"] == "reached_service")
    assert (total["Tử số"], total["Mẫu số"], total["Kết quả"], total["Mục tiêu kế hoạch"]) == ("2", "4", "0.5", "0.9")

    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["id"] == report_id and data["period"] == "2026-H1"
    by_key = {i["key"]: i for i in data["indicators"]["indicators"]}
    assert (by_key["caregivers_trained"]["numerator"], by_key["caregivers_trained"]["denominator"]) == (1, 4)


def test_a_period_that_has_not_started_is_refused_and_nothing_is_stored(db: Engine) -> None:
    build(db)
    with pytest.raises(InvalidInput) as refused, transaction(db) as s:
        generate_and_announce(s, DEMO_PROVINCE, "2026-q4", base_url="https://ketnoi.example.vn", now=NOW)
    assert "chưa bắt đầu" in refused.value.message("vi") and "has not started" in refused.value.message("en")
    with transaction(db) as s:
        assert s.exec(select(Report)).all() == [] and s.exec(select(Outbox)).all() == []
        # the period under way is reported (on its days so far)
        assert generate_and_announce(s, DEMO_PROVINCE, "2026-q3", base_url="https://x", now=NOW).id is not None
