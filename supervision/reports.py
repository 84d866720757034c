"""Periodic reports: generated, stored in the ``report`` table, and written as Excel, CSV or JSON.

A stored report keeps everything its files need (``col(Report.content)``), so a file can be written again later
exactly as it was generated. The Excel file has Vietnamese headers, one sheet per section, numbers as
numbers and shares as numbers with a percentage format.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col

import supervision.messages  # noqa: F401  (registers the messages)
from engine.children import subtree_condition
from engine.db import utcnow
from engine.errors import InvalidInput, NotFound
from engine.i18n import both
from engine.models import Report, Unit
from engine.outbox import enqueue
from supervision.indicators import INDICATORS, compute_indicators
from supervision.overdue import BUCKET_LABELS_VI, BUCKETS, overdue_audit
from supervision.periods import parse_period, scheduled_period

FORMATS = ("xlsx", "csv", "json")
REPORT_VERSION = 1
PERCENT = "0.0%"
REPORT_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # the zone the periods' days are counted in (supervision.periods)
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

SHEET_SUMMARY = "Chỉ tiêu"
SHEET_UNITS = "Theo đơn vị"
SHEET_OVERDUE_AGENCY = "Quá hạn theo cơ quan"
SHEET_OVERDUE_UNIT = "Quá hạn theo đơn vị"
SHEET_ABOUT = "Thông tin"

# The units' levels are data (engine.models.Unit.level), not an enum; the known ones are written in Vietnamese
# under the heading "Cấp", any other level as its code.
LEVEL_LABELS_VI = {"province": "Tỉnh, thành phố", "district": "Quận, huyện, thị xã", "commune": "Xã, phường"}


def level_label_vi(level: str | None) -> str:
    """A unit's level as a reader of the report says it: 'commune' → 'Xã, phường'."""
    if not level:
        return ""
    return LEVEL_LABELS_VI.get(level, level)


def _bucket_header(name: str) -> str:
    """'Quá hạn 1–3 ngày làm việc', 'Quá hạn trên 30 ngày làm việc' (the label lower-cased mid-phrase)."""
    label = BUCKET_LABELS_VI[name]
    return f"Quá hạn {label[:1].lower()}{label[1:]} làm việc"


SUMMARY_HEADERS = ("Mã chỉ tiêu", "Chỉ tiêu", "Tử số", "Mẫu số", "Kết quả", "Mục tiêu kế hoạch", "Năm mục tiêu",
                   "Đạt mục tiêu")


def build_report(
    session: Session, unit_code: str, period: str, *, now: datetime | None = None, plan_file: Path | None = None
) -> Report:
    """Compute the indicators and the overdue audit (at the period's end, or now if sooner), not stored.

    The whole country (``VN``) is no row of ``unit``: its report can be built and written, never stored."""
    now = now or utcnow()
    chosen = parse_period(period)
    if chosen.start > now:  # nothing has happened in it yet: a report of zeros would mislead whoever reads it
        raise InvalidInput(detail=both(f"kỳ {chosen.label} ({chosen.label_vi()}) chưa bắt đầu",
                                       f"the period {chosen.label} ({chosen.label_en()}) has not started yet"))
    indicators = compute_indicators(session, unit_code=unit_code, period=chosen, plan_file=plan_file, now=now)
    as_of = min(chosen.end, now)
    audit = overdue_audit(session, within_unit=unit_code, as_of=as_of, group_by=("agency", "unit"))
    return Report(
        unit_code=unit_code, period=chosen.label, generated_at=now,
        content={"version": REPORT_VERSION, "indicators": indicators.as_dict(), "overdue": audit.as_dict()},
    )


def generate_report(
    session: Session, unit_code: str, period: str, *, now: datetime | None = None, plan_file: Path | None = None
) -> Report:
    """Compute the indicators and the overdue audit (at the period's end, or now if sooner) and store them."""
    report = build_report(session, unit_code, period, now=now, plan_file=plan_file)
    session.add(report)
    session.flush()
    return report


def announce_report(session: Session, report: Report, *, base_url: str, due_at: datetime | None = None) -> bool:
    """Tell the unit's supervisors the report is ready (once per report: the dedupe key names it)."""
    data = report.content["indicators"]
    download_path = f"/api/v1/reports/{report.id}/download?format=xlsx"
    context = {
        "period": report.period, "unit_name_vi": data["unit_name_vi"], "unit_name_en": data["unit_name_en"],
        # the renderer joins link_path to the delivery's base URL; link is the absolute address for other readers
        "link_path": download_path, "link": f"{base_url.rstrip('/')}{download_path}", "report_id": report.id,
    }
    if due_at is not None:
        context["due_at"] = due_at.isoformat()
    return enqueue(
        session, template="report_ready", recipient_kind="unit_role", recipient_ref=f"{report.unit_code}:supervisor",
        dedupe_key=f"report:{report.id}", context=context, now=report.generated_at,
    )


def generate_and_announce(
    session: Session, unit_code: str, period: str, *, base_url: str, now: datetime | None = None,
    plan_file: Path | None = None, due_at: datetime | None = None,
) -> Report:
    report = generate_report(session, unit_code, period, now=now, plan_file=plan_file)
    announce_report(session, report, base_url=base_url, due_at=due_at)
    return report


def list_reports(session: Session, *, within_unit: str | None = None, period: str | None = None,
                 limit: int = 100) -> list[Report]:
    """Stored reports, newest first; ``within_unit`` keeps those of units in that unit's subtree."""
    stmt = sa.select(Report)
    if within_unit is not None:
        stmt = stmt.where(subtree_condition(col(Report.unit_code), within_unit))
    if period is not None:
        stmt = stmt.where(col(Report.period) == period.upper())
    stmt = stmt.order_by(sa.desc(col(Report.generated_at)), sa.desc(col(Report.id))).limit(limit)  # type: ignore[arg-type]
    return list(session.execute(stmt).scalars())


def get_report(session: Session, report_id: int) -> Report:
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound(what=f"report {report_id}")
    return report


# --- writers -------------------------------------------------------------------------------------------


def _header(sheet: Any, headers: tuple[str, ...] | list[str]) -> None:
    sheet.append(list(headers))
    for cell in sheet[sheet.max_row]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    # a coordinate, not sheet.cell(): that would create the cell, and the first data row would come one row lower
    sheet.freeze_panes = f"A{sheet.max_row + 1}"


def _widths(sheet: Any, widths: list[int]) -> None:
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def _value_format(kind: str) -> str:
    return PERCENT if kind == "share" else ("0.0" if kind == "days" else "0")


def _local(moment: str) -> datetime:
    """An ISO time of the report as a naive datetime in Vietnam's time, which Excel shows as it is."""
    return datetime.fromisoformat(moment).astimezone(REPORT_ZONE).replace(tzinfo=None)


def write_xlsx(report: Report, path: Path | str) -> Path:
    content = report.content
    data, overdue = content["indicators"], content["overdue"]
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = SHEET_SUMMARY
    _header(summary, SUMMARY_HEADERS)
    for item in data["indicators"]:
        met = None if item["met"] is None else ("Đạt" if item["met"] else "Chưa đạt")
        summary.append([item["key"], item["name_vi"], item["numerator"], item["denominator"], item["value"],
                        item["target"], item["target_year"], met])
        row = summary.max_row
        summary.cell(row=row, column=5).number_format = _value_format(item["kind"])
        summary.cell(row=row, column=6).number_format = PERCENT
    _widths(summary, [24, 60, 10, 10, 12, 16, 12, 12])

    units = workbook.create_sheet(SHEET_UNITS)
    headers = ["Mã đơn vị", "Tên đơn vị", "Cấp"]
    kinds: list[tuple[str, tuple[str, ...], str]] = []
    for key, meta in INDICATORS.items():
        if meta["kind"] == "count":
            headers.append(meta["vi"])
            kinds.append((key, ("numerator",), "count"))
        elif meta["kind"] == "days":
            headers.extend([f"{meta['vi']} – số chuyển gửi đã tiếp nhận", meta["vi"]])
            kinds.append((key, ("numerator", "value"), "days"))
        else:
            headers.extend([f"{meta['vi']} – tử số", f"{meta['vi']} – mẫu số", f"{meta['vi']} – tỷ lệ"])
            kinds.append((key, ("numerator", "denominator", "value"), "share"))
    _header(units, headers)
    for row in data["breakdown"]:
        cells: list[Any] = [row["unit_code"], row["name_vi"], level_label_vi(row["level"])]
        formats: list[str | None] = [None, None, None]
        for key, parts, kind in kinds:
            values = row["values"].get(key, {})
            for part in parts:
                cells.append(values.get(part))
                formats.append(_value_format(kind) if part == "value" else "0")
        units.append(cells)
        for column, fmt in enumerate(formats, start=1):
            if fmt is not None:
                units.cell(row=units.max_row, column=column).number_format = fmt
    _widths(units, [12, 36, 16] + [16] * (len(headers) - 3))

    bucket_headers = [_bucket_header(name) for name, _, _ in BUCKETS]
    for title, grouping, first in ((SHEET_OVERDUE_AGENCY, "agency", "Mã cơ quan"),
                                   (SHEET_OVERDUE_UNIT, "unit", "Mã đơn vị")):
        sheet = workbook.create_sheet(title)
        by_unit = grouping == "unit"
        # a unit's row counts its whole subtree (the province's row holds its communes' too): the level says which
        # rows add up, as on the sheet of indicators by unit
        name_headers = ["Tên đơn vị", "Cấp"] if by_unit else ["Tên cơ quan"]
        _header(sheet, [first, *name_headers, "Tổng số quá hạn", *bucket_headers, "Số lần đã nhắc, báo cáo vượt cấp"])
        for group in overdue["groups"].get(grouping, []):
            names = [group["name_vi"], level_label_vi(group.get("level"))] if by_unit else [group["name_vi"]]
            sheet.append([group["key"] or "—", *names, group["total"],
                          *[group["buckets"].get(name, 0) for name, _, _ in BUCKETS], group["escalations"]])
        _widths(sheet, [14, 44] + ([16] if by_unit else []) + [14] + [14] * len(BUCKETS) + [18])

    about = workbook.create_sheet(SHEET_ABOUT)
    _header(about, ["Mục", "Nội dung"])
    for label, value in (
        ("Đơn vị", f"{data['unit_name_vi']} ({data['unit_code']})"),
        ("Kỳ báo cáo", f"{data['period_label_vi']} ({data['period']})"),
        ("Từ ngày", date.fromisoformat(data["first_day"])),
        ("Đến ngày", date.fromisoformat(data["last_day"])),
        # Excel keeps no time zone: both times in Vietnam's, as the periods' days are, and the heading says so
        ("Thời điểm lập (giờ Việt Nam)", _local(data["generated_at"])),
        ("Số liệu quá hạn tính đến (giờ Việt Nam)", _local(overdue["as_of"])),
        ("Căn cứ mục tiêu", data["plan_source_vi"]),
        ("Mã báo cáo", report.id),
    ):
        about.append([label, value])
        cell = about.cell(row=about.max_row, column=2)
        if isinstance(value, datetime):
            cell.number_format = "dd/mm/yyyy hh:mm"
        elif isinstance(value, date):
            cell.number_format = "dd/mm/yyyy"
    _widths(about, [30, 90])

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(target)
    return target


CSV_HEADERS = ("Mã đơn vị", "Tên đơn vị", "Mã chỉ tiêu", "Chỉ tiêu", "Tử số", "Mẫu số", "Kết quả",
               "Mục tiêu kế hoạch")


def write_csv(report: Report, path: Path | str) -> Path:
    """One row per unit and indicator (the report's own unit first), UTF-8 with a BOM so Excel reads it."""
    data = report.content["indicators"]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADERS)
        for item in data["indicators"]:
            writer.writerow([data["unit_code"], data["unit_name_vi"], item["key"], item["name_vi"], item["numerator"],
                             item["denominator"], item["value"], item["target"]])
        for row in data["breakdown"]:
            for key, values in row["values"].items():
                writer.writerow([row["unit_code"], row["name_vi"], key, INDICATORS[key]["vi"], values.get("numerator"),
                                 values.get("denominator"), values.get("value"), None])
    return target


def write_json(report: Report, path: Path | str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"id": report.id, "unit_code": report.unit_code, "period": report.period,
               "generated_at": report.generated_at.isoformat(), **report.content}
    target.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    return target


WRITERS = {"xlsx": write_xlsx, "csv": write_csv, "json": write_json}
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def write_report(report: Report, path: Path | str, fmt: str) -> Path:
    writer = WRITERS.get(fmt)
    if writer is None:
        raise InvalidInput("supervision.format_unknown", format=fmt)
    return writer(report, path)


def file_name(report: Report, fmt: str) -> str:
    return f"bao-cao-{report.unit_code}-{report.period}.{fmt}"


# --- the schedule ----------------------------------------------------------------------------------------

# When each kind of report is made (local time); the flow runs daily and catches up on any it missed.
YEARLY_REPORT_DAY = (11, 15)  # the yearly report is due before 30 November: made on 15 November
YEARLY_DEADLINE = (11, 30)
REPORT_KINDS = ("quarter", "half", "year")


def report_due_at(period: str, tz: str) -> datetime | None:
    """When the report must reach the level above: the yearly one before 30 November (local midnight)."""
    chosen = parse_period(period, tz)
    if chosen.kind != "year":
        return None
    return datetime.combine(date(chosen.year, *YEARLY_DEADLINE), time(0), ZoneInfo(tz))


def due_reports(session: Session, today: date, units: list[str] | None = None) -> list[tuple[str, str]]:
    """(unit, period) pairs whose report should exist by ``today`` and does not yet (one query each).

    Quarters and halves are due once they have ended; the year from 15 November (it covers the year so far).
    ``units`` defaults to every province (the units with no parent).
    """
    periods = []
    for kind in REPORT_KINDS:
        label = scheduled_period(kind, today)
        if kind == "year" and label == str(today.year) and (today.month, today.day) < YEARLY_REPORT_DAY:
            continue
        periods.append(label)
    if units is None:
        provinces = sa.select(col(Unit.code)).where(col(Unit.parent_code).is_(None)).order_by(col(Unit.code))
        units = list(session.execute(provinces).scalars())
    rows = session.execute(
        sa.select(col(Report.unit_code), col(Report.period)).where(col(Report.period).in_(periods))  # type: ignore[attr-defined]
    )
    existing = {(unit, period) for unit, period in rows}
    return [(unit, period) for unit in units for period in periods if (unit, period) not in existing]
