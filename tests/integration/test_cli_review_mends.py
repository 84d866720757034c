"""The ``ketnoi`` command refusing bad input as it promises: a plain message in Vietnamese and English, exit
status 1, no traceback, nothing changed. Run as a person runs it, against real databases (PostgreSQL and SQLite).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import col
from typer.testing import CliRunner, Result

from engine.db import transaction
from engine.models import Report, User
from ketnoi.cli import app
from supervision.reports import SHEET_ABOUT, generate_report, write_xlsx
from tests.support.people import DEMO_PROVINCE

SCHEMA_MISSING_VI = "chưa có lược đồ"
SCHEMA_MISSING_EN = "run `ketnoi db upgrade` first"


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    clean: dict[str, str | None] = {name: None for name in os.environ if name.startswith("KETNOI_")}
    clean.update(env)
    return CliRunner().invoke(app, list(args), env=clean, input=stdin)


def plain_refusal(result: Result) -> None:
    """Exit status 1, both languages, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Lỗi" in result.output and "Error" in result.output, result.output
    assert "Traceback" not in result.output and "sqlalche.me" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception


def report_count(db: Engine) -> int:
    with transaction(db) as s:
        return s.execute(sa.select(sa.func.count()).select_from(Report)).scalar_one()


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"KETNOI_DATABASE_URL": db_url, "KETNOI_DATA_DIR": str(tmp_path / "data")}


def test_commands_before_db_upgrade_say_so_and_leave_no_database_behind(tmp_path: Path) -> None:
    env = {"KETNOI_DATA_DIR": str(tmp_path / "data")}
    for args in (["load", "reference"], ["case", "timeline", "1"], ["sweep"], ["deliver"],
                 ["directory", "route", "05443", "rehabilitation"], ["directory", "export-hsds"],
                 ["report", "overdue", "--unit", "19"], ["report", "indicators", "--unit", "19", "--period", "2026"]):
        result = run(env, *args)
        plain_refusal(result)
        assert SCHEMA_MISSING_VI in result.output and SCHEMA_MISSING_EN in result.output, (args, result.output)
    assert not (tmp_path / "data" / "ketnoi.sqlite3").exists()
    assert not list(tmp_path.glob("*.xlsx"))


def test_commands_on_an_empty_postgresql_database_say_so(pg_url: str, tmp_path: Path) -> None:
    with sa.create_engine(pg_url, poolclass=sa.pool.NullPool).begin() as conn:  # a database never upgraded
        conn.exec_driver_sql("DROP TABLE alembic_version")
    result = run({"KETNOI_DATABASE_URL": pg_url, "KETNOI_DATA_DIR": str(tmp_path)}, "sweep")
    plain_refusal(result)
    assert SCHEMA_MISSING_EN in result.output


def test_an_unreachable_database_is_a_plain_message_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/nowhere"
    for args in (["sweep"], ["db", "upgrade"]):
        result = run({"KETNOI_DATABASE_URL": url, "KETNOI_DATA_DIR": str(tmp_path)}, *args)
        plain_refusal(result)
        assert "không kết nối được cơ sở dữ liệu" in result.output and "cannot connect" in result.output
        assert "s3cret-pw" not in result.output
    unsupported = run({"KETNOI_DATABASE_URL": "mysql://x@y/z", "KETNOI_DATA_DIR": str(tmp_path)}, "sweep")
    plain_refusal(unsupported)
    assert "KETNOI_DATABASE_URL" in unsupported.output


@pytest.mark.parametrize("args, vietnamese", [
    (["report", "indicators", "--period", "2026"], "thiếu tùy chọn bắt buộc '--unit'"),
    (["report", "indicators", "--unit", "19", "--period", "2026", "--bogus"], "không có tùy chọn --bogus"),
    (["case", "timeline", "abc"], "giá trị không hợp lệ cho 'case_id'"),
    (["deliver", "--batch", "0"], "giá trị không hợp lệ cho '--batch'"),
    (["sweeep"], "không có lệnh 'sweeep'"),
    (["serve", "--port", "99999"], "giá trị không hợp lệ cho '--port'"),
])
def test_a_mistyped_command_line_is_said_in_both_languages_with_status_1(
    args: list[str], vietnamese: str, tmp_path: Path
) -> None:
    result = run({"KETNOI_DATA_DIR": str(tmp_path)}, *args)
    assert result.exit_code == 1, result.output
    assert f"Lỗi: {vietnamese}" in result.output
    assert "Error: " in result.output and "--help" in result.output


def test_a_report_file_that_cannot_be_written_stores_and_announces_nothing(
    db: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    before = report_count(db)
    for output in (str(tmp_path), "/proc/no/such/folder/r.xlsx"):
        result = run(env, "report", "indicators", "--unit", DEMO_PROVINCE, "--period", "2026", "--announce",
                     "-o", output)
        plain_refusal(result)
        assert "không ghi được tệp" in result.output and "cannot write the file" in result.output
    assert report_count(db) == before


def test_the_whole_country_report_is_written_but_not_stored(db: Engine, env: dict[str, str], tmp_path: Path) -> None:
    before = report_count(db)
    out = tmp_path / "vn.json"
    result = run(env, "report", "indicators", "--unit", "VN", "--period", "2026", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "not stored" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["unit_code"] == "VN"
    assert report_count(db) == before
    told = run(env, "report", "indicators", "--unit", "VN", "--period", "2026", "--announce", "-o",
               str(tmp_path / "vn.xlsx"))
    plain_refusal(told)


def test_route_for_an_unknown_commune_or_service_is_refused(db: Engine, env: dict[str, str]) -> None:
    commune = run(env, "directory", "route", "99999", "rehabilitation")
    plain_refusal(commune)
    assert "99999" in commune.output
    service = run(env, "directory", "route", "05443", "no_such_service")
    plain_refusal(service)
    assert "no_such_service" in service.output


def test_export_hsds_makes_its_folder_and_refuses_a_folder_as_file(
    db: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "new" / "folder" / "hsds.json"
    made = run(env, "directory", "export-hsds", "--out", str(target))
    assert made.exit_code == 0, made.output
    assert json.loads(target.read_text(encoding="utf-8"))["organization"]
    plain_refusal(run(env, "directory", "export-hsds", "--out", str(tmp_path)))


def test_case_timeline_of_an_id_no_database_holds_is_not_found(db: Engine, env: dict[str, str]) -> None:
    result = run(env, "case", "timeline", str(2**64))
    plain_refusal(result)
    assert "Không tìm thấy hồ sơ" in result.output and "Not found: case" in result.output


@pytest.mark.parametrize("login, options", [
    ("", []),
    ("a" * 300, []),  # PostgreSQL refused it with a traceback that printed the password's hash
    ("lan2", ["--language", "fr"]),
    ("lan3", ["--language", "vietnamese"]),
    ("lan4", ["--email", "not-an-address"]),
])
def test_user_add_refuses_what_the_api_refuses(
    db: Engine, env: dict[str, str], login: str, options: list[str]
) -> None:
    result = run(env, "user", "add", login, "--role", "caseworker", "--unit", "05443", *options,
                 stdin="mật-khẩu-dài-đủ\n")
    plain_refusal(result)
    assert "$argon2" not in result.output
    with transaction(db) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(User).where(col(User.login) == login)).scalar_one() == 0


def test_load_reference_of_an_unreadable_file_is_a_plain_message(
    db: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "ref"
    (folder / "units.csv").mkdir(parents=True)
    result = run(env, "load", "reference", str(folder))
    plain_refusal(result)
    assert "units.csv" in result.output


def test_the_excel_file_gives_its_times_in_vietnam_time(db: Engine, tmp_path: Path) -> None:
    made = datetime(2026, 7, 1, 2, 30, tzinfo=UTC)  # 09:30 in Hà Nội
    with transaction(db) as s:
        report = generate_report(s, DEMO_PROVINCE, "2026-H1", now=made)
    about = {r[0].value: r[1].value for r in load_workbook(write_xlsx(report, tmp_path / "r.xlsx"))[SHEET_ABOUT]
             .iter_rows(min_row=2)}
    assert about["Thời điểm lập (giờ Việt Nam)"] == datetime(2026, 7, 1, 9, 30)
    # the half year ends at midnight local time, 30 June 17:00 UTC
    assert about["Số liệu quá hạn tính đến (giờ Việt Nam)"] == datetime(2026, 7, 1, 0, 0)
