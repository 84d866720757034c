"""The ``ketnoi`` command. Each command is a thin call to one service function.

Errors are printed as plain messages (Vietnamese, then English) and exit with status 1; nothing changes.
"""

from __future__ import annotations

import errno
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from typer.core import TyperGroup

try:  # newer typer carries its own copy of click, and raises that copy's exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

from engine.errors import DomainError, NotFound
from ketnoi.bootstrap import Container, build

USAGE_VI = (  # click's English sentence → the same in Vietnamese (the quoted name is kept)
    (re.compile(r"^Missing option (.+?)\.?$"), "thiếu tùy chọn bắt buộc {0}"),
    (re.compile(r"^Missing argument (.+?)\.?$"), "thiếu đối số bắt buộc {0}"),
    (re.compile(r"^Missing parameter:? (.+?)\.?$"), "thiếu tham số bắt buộc {0}"),
    (re.compile(r"^No such option:? (\S+)"), "không có tùy chọn {0}"),
    (re.compile(r"^No such command (\S+?)\. Did you mean (.+)\?$"), "không có lệnh {0}; có phải là {1}?"),
    (re.compile(r"^No such command (\S+?)\.?$"), "không có lệnh {0}"),
    (re.compile(r"^Invalid value for (.+?):"), "giá trị không hợp lệ cho {0}"),
    (re.compile(r"^Got unexpected extra argument(?:s|\(s\))? \((.*)\)"), "thừa đối số ({0})"),
    (re.compile(r"^Option (\S+) requires an argument"), "tùy chọn {0} cần một giá trị"),
    (re.compile(r"^(\S+) option requires an argument"), "tùy chọn {0} cần một giá trị"),
)


def _usage_message_vi(english: str) -> str:
    """What click says in English about a mistyped command line, said in Vietnamese."""
    for pattern, vietnamese in USAGE_VI:
        if found := pattern.match(english):
            return vietnamese.format(*found.groups())
    return "câu lệnh không hợp lệ"


class BilingualGroup(TyperGroup):
    """The ``ketnoi`` group: a mistyped command line is said in Vietnamese and English and exits with status 1,
    like every other refusal (click would say it in English only and exit with 2)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        def run(standalone: bool) -> Any:
            return super(BilingualGroup, self).main(args, prog_name, complete_var, standalone, windows_expand_args,
                                                    **extra)

        if not standalone_mode:
            return run(False)
        try:
            result = run(False)
        except click_errors.NoArgsIsHelpError as error:
            error.show()
            sys.exit(error.exit_code)
        except click_errors.UsageError as error:
            command = error.ctx.command_path if error.ctx is not None else "ketnoi"
            english = error.format_message().strip()
            vietnamese = _usage_message_vi(english)
            typer.echo(f"Lỗi: {vietnamese}{'' if vietnamese.endswith('?') else '.'} Xem: {command} --help\n"
                       f"Error: {english}{'' if english[-1:] in '.?' else '.'} See: {command} --help", err=True)
            sys.exit(1)
        except click_errors.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("Đã hủy / Aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(help="Kết Nối — chuyển gửi hỗ trợ trẻ em khuyết tật / case referrals for children with "
                  "disabilities.", no_args_is_help=True, cls=BilingualGroup)
db_app = typer.Typer(help="Lược đồ cơ sở dữ liệu / database schema (Alembic).", no_args_is_help=True)
load_app = typer.Typer(help="Nạp dữ liệu tham chiếu từ tệp / load reference data from files.", no_args_is_help=True)
user_app = typer.Typer(help="Người dùng / users.", no_args_is_help=True)
case_app = typer.Typer(help="Hồ sơ / cases.", no_args_is_help=True)
report_app = typer.Typer(help="Báo cáo / reports.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(load_app, name="load")
app.add_typer(user_app, name="user")
app.add_typer(case_app, name="case")
app.add_typer(report_app, name="report")
directory_app = typer.Typer(help="Danh bạ dịch vụ và định tuyến / service directory and routing.", no_args_is_help=True)
app.add_typer(directory_app, name="directory")


def fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


BAD_URL = ("Lỗi cấu hình: KETNOI_DATABASE_URL không hợp lệ hoặc không được hỗ trợ ({name})\n"
           "Configuration error: KETNOI_DATABASE_URL is invalid or not supported ({name}); use postgresql://... or "
           "sqlite:///...")


def _database_error(exc: sa_exc.SQLAlchemyError) -> str:
    """A database failure in both languages, without its SQL, parameters or the URL's password."""
    if isinstance(exc, sa_exc.OperationalError) and exc.statement is None:  # failed while connecting
        lines = [line.strip() for line in str(exc.orig).strip().splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc.orig).__name__
        return (f"Lỗi: không kết nối được cơ sở dữ liệu ({reason})\n"
                f"Error: cannot connect to the database ({reason}); check KETNOI_DATABASE_URL")
    name = type(exc.orig).__name__ if isinstance(exc, sa_exc.DBAPIError) else type(exc).__name__
    return (f"Lỗi: cơ sở dữ liệu từ chối thao tác ({name}); không có gì thay đổi\n"
            f"Error: the database refused the operation ({name}); nothing was changed")


@contextmanager
def plain_errors() -> Iterator[None]:
    """Domain, validation and database errors become a plain message, never a traceback."""
    try:
        yield
    except DomainError as exc:
        fail(f"Lỗi: {exc.message('vi')}\nError: {exc.message('en')}")
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"Lỗi: dữ liệu không hợp lệ / Error: invalid input — {details}")
    except sa_exc.ArgumentError as exc:  # includes an unknown dialect
        fail(BAD_URL.format(name=type(exc).__name__))
    except sa_exc.SQLAlchemyError as exc:
        fail(_database_error(exc))


def file_error(path: Path, exc: OSError) -> None:
    reason = exc.strerror or type(exc).__name__
    fail(f"Lỗi: không ghi được tệp «{path}» ({reason})\nError: cannot write the file '{path}' ({reason})")


def _require_schema(c: Container) -> None:
    """Refuse plainly, before anything is read or written, when ``ketnoi db upgrade`` has not been run."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from engine.schema import alembic_config

    url = c.settings.database_url
    missing = ("Lỗi: cơ sở dữ liệu chưa có lược đồ của phiên bản này; hãy chạy «ketnoi db upgrade» trước\n"
               "Error: the database does not have this version's schema; run `ketnoi db upgrade` first")
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                and not Path(parsed.database).exists():
            fail(missing)  # do not leave an empty database file behind
        heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
        with plain_errors(), c.db.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except (sa_exc.ArgumentError, ImportError) as exc:  # ImportError: the URL names a driver not installed
        fail(BAD_URL.format(name=type(exc).__name__))
        raise
    if current != heads:
        fail(missing)


def container(*, schema: bool = True) -> Container:
    """The composition root; with ``schema`` (every command but ``db upgrade``) the schema must be there."""
    with plain_errors():
        try:
            built = build()
        except ValidationError as exc:
            error = exc.errors()[0]
            setting = "".join(f"KETNOI_{str(part).upper()}: " for part in error["loc"][:1])
            fail(f"Lỗi cấu hình / Configuration error: {setting}{error['msg']}")
            raise
    if schema:
        _require_schema(built)
    return built


def parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"Thời điểm không hợp lệ / invalid time: {value!r} (ISO 8601, e.g. 2027-02-10T09:00:00+07:00)")
        raise
    if when.tzinfo is None:
        fail("Thời điểm cần múi giờ / the time needs a UTC offset, e.g. +07:00")
    return when


@db_app.command("upgrade", help="Cập nhật lược đồ cơ sở dữ liệu đã cấu hình / apply every migration to the "
                "configured database.")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from engine.schema import upgrade

    c = container(schema=False)
    if c.settings.is_sqlite:
        c.settings.ensure_data_dir()
    try:
        with plain_errors():
            upgrade(c.settings.database_url)
    except ImportError as exc:  # the URL names a driver that is not installed
        fail(BAD_URL.format(name=type(exc).__name__))
    typer.echo("Đã cập nhật cơ sở dữ liệu / database is up to date")


@load_app.command("reference", help=(
    "Nạp đơn vị hành chính, danh mục dịch vụ, cơ quan và địa bàn phụ trách (nạp trọn hoặc không nạp gì; nạp hai "
    "lần không thay đổi gì) / load units, service catalogue, agencies and coverage (all or nothing; loading twice "
    "changes nothing)."))
def load_reference_cmd(
    directory: Annotated[Path | None, typer.Argument(
        help="thư mục tệp CSV; mặc định: dữ liệu kèm theo / folder of CSV files; default: the shipped data")] = None,
) -> None:
    """Load units, service catalogue, agencies and coverage (all or nothing; loading twice changes nothing)."""
    from engine.db import transaction
    from engine.reference import load_reference

    c = container()
    try:
        with plain_errors(), transaction(c.db) as session:
            counts = load_reference(session, directory)
    except OSError as exc:  # a file that cannot be read (a folder named units.csv, no permission...)
        where = str(exc.filename or directory)
        reason = exc.strerror or type(exc).__name__
        fail(f"Lỗi: không đọc được «{where}» ({reason}); không nạp gì\n"
             f"Error: cannot read '{where}' ({reason}); nothing was loaded")
    for table in counts.inserted:
        typer.echo(f"{table}: +{counts.inserted[table]} ~{counts.updated.get(table, 0)}")
    if not counts.changed:
        typer.echo("Không có thay đổi / nothing changed")


LANGUAGES = ("vi", "en")


def _check_user_input(login: str, language: str, email: str | None, full_name: str) -> None:
    """The limits the API puts on a new user (api.schemas.UserCreate), said in both languages."""
    problems: list[tuple[str, str]] = []
    if not login.strip() or len(login) < 2 or len(login) > 128:
        problems.append(("tên đăng nhập cần từ 2 đến 128 ký tự", "the login must have 2 to 128 characters"))
    if language not in LANGUAGES:
        problems.append((f"ngôn ngữ phải là vi hoặc en, không phải «{language}»",
                         f"the language must be vi or en, not '{language}'"))
    if email is not None and (len(email) > 200 or "@" not in email.strip("@")):
        problems.append((f"thư điện tử «{email}» không hợp lệ", f"'{email}' is not an email address"))
    if len(full_name) > 200:
        problems.append(("họ và tên dài quá 200 ký tự", "the full name is longer than 200 characters"))
    if problems:
        fail("Lỗi: Dữ liệu không hợp lệ: " + "; ".join(vi for vi, _ in problems) + "\n"
             "Error: Invalid input: " + "; ".join(en for _, en in problems))


@user_app.command("add", help=(
    "Thêm người dùng; mật khẩu nhập khi được hỏi, hoặc từ đầu vào chuẩn / add a user; the password comes from a "
    "prompt, or from standard input when it is not a terminal."))
def user_add(
    login: Annotated[str, typer.Argument(help="tên đăng nhập / login")],
    role: Annotated[str, typer.Option(help="vai trò / role: caseworker, agency_staff, supervisor, admin")],
    unit: Annotated[str, typer.Option(help="mã đơn vị / unit code, e.g. 05443")],
    agency: Annotated[str | None, typer.Option(help="mã cơ quan (cán bộ cơ quan) / agency code (agency staff)")] = None,
    email: Annotated[str | None, typer.Option(help="thư điện tử / email")] = None,
    full_name: Annotated[str, typer.Option(help="họ và tên / full name")] = "",
    language: Annotated[str, typer.Option(help="ngôn ngữ thông báo / language of notifications: vi, en")] = "vi",
) -> None:
    """Add a user; the password comes from a prompt, or from standard input when it is not a terminal."""
    from engine.db import transaction
    from engine.users import add_user

    _check_user_input(login, language, email, full_name)
    password = read_password()
    c = container()
    with plain_errors(), transaction(c.db) as session:
        user = add_user(session, login=login, password=password, role=role, unit_code=unit, agency_code=agency,
                        email=email, full_name=full_name, language=language)
    typer.echo(f"Đã thêm người dùng / user added: {user.login} ({user.role}, {user.unit_code})")


def read_password() -> str:
    """A new password: typed twice at a prompt, or one line of standard input when it is not a terminal."""
    if sys.stdin.isatty():
        password = typer.prompt("Mật khẩu / password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) > 200:
        fail("Lỗi: Dữ liệu không hợp lệ: mật khẩu dài quá 200 ký tự\n"
             "Error: Invalid input: the password is longer than 200 characters")
    return str(password)


def _administer(login: str, act: str) -> None:
    """Deactivate or reactivate a user by login, as the operator at the command line (recorded as 'system')."""
    from engine.db import transaction
    from engine.machine import Actor
    from engine.users import deactivate_user, reactivate_user, user_by_login

    c = container()
    with plain_errors(), transaction(c.db) as session:
        user = user_by_login(session, login)
        assert user.id is not None
        change = deactivate_user if act == "deactivate" else reactivate_user
        change(session, user_id=user.id, actor=Actor.system())
    done = ("Đã vô hiệu hóa / deactivated" if act == "deactivate" else "Đã kích hoạt lại / reactivated")
    typer.echo(f"{done}: {login}")


@user_app.command("deactivate", help=(
    "Vô hiệu hóa người dùng; mọi phiên đăng nhập kết thúc ngay / deactivate a user; every session ends at once."))
def user_deactivate(login: Annotated[str, typer.Argument(help="tên đăng nhập / login")]) -> None:
    """Deactivate a user; every session ends at once."""
    _administer(login, "deactivate")


@user_app.command("reactivate", help=(
    "Cho người dùng đăng nhập lại (các phiên cũ vẫn kết thúc) / let a deactivated user sign in again (old sessions "
    "stay ended)."))
def user_reactivate(login: Annotated[str, typer.Argument(help="tên đăng nhập / login")]) -> None:
    """Let a deactivated user sign in again."""
    _administer(login, "reactivate")


@user_app.command("password", help=(
    "Đặt lại mật khẩu của người dùng (từ lời nhắc hoặc đầu vào chuẩn); mọi phiên kết thúc / reset a user's "
    "password (from a prompt or standard input); every session ends."))
def user_password(login: Annotated[str, typer.Argument(help="tên đăng nhập / login")]) -> None:
    """Reset a user's password; every session of theirs ends."""
    from engine.db import transaction
    from engine.machine import Actor
    from engine.users import reset_password, user_by_login

    password = read_password()
    c = container()
    with plain_errors(), transaction(c.db) as session:
        user = user_by_login(session, login)
        assert user.id is not None
        reset_password(session, user_id=user.id, new_password=password, actor=Actor.system())
    typer.echo(f"Đã đặt lại mật khẩu / password reset: {login}")


MAX_RECORD_ID = 2**31 - 1  # record ids are 32-bit integers on PostgreSQL


@case_app.command("timeline", help="In diễn biến của hồ sơ / print a case's timeline from its events.")
def case_timeline(
    case_id: Annotated[int, typer.Argument(help="số hồ sơ / case id")],
    as_json: Annotated[bool, typer.Option("--json", help="in dạng JSON / print JSON")] = False,
) -> None:
    """Print a case's timeline from its events."""
    from engine.audit import timeline
    from engine.cases import get_case
    from engine.db import transaction

    c = container()
    with plain_errors(), transaction(c.db) as session:
        if not 0 < case_id <= MAX_RECORD_ID:
            raise NotFound(what=f"case {case_id}")
        case = get_case(session, case_id)
        events = timeline(session, case_id)
        rows: list[dict[str, Any]] = [
            {"at": e.at.isoformat(), "entity": e.entity, "referral_id": e.referral_id, "action": e.action,
             "from": e.from_state, "to": e.to_state, "actor_id": e.actor_id, "version": e.entity_version,
             "reason": e.reason}
            for e in events
        ]
        header = f"{case.reference}: {case.stage}/{case.step} v{case.version}"
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    typer.echo(header)
    for r in rows:
        what = r["entity"] if r["referral_id"] is None else f"REF-{r['referral_id']}"
        typer.echo(f"{r['at'][:19]}  {what:8}  {r['action']:20} {r['from'] or '-'} → {r['to'] or '-'}"
                   f"  v{r['version']}  {r['reason'] or ''}")


@directory_app.command("route", help=(
    "Các cơ quan sẽ nhận chuyển gửi dịch vụ SERVICE ở xã COMMUNE, cấp gần nhất trước, kèm lý do / the agencies that "
    "would receive a referral for SERVICE in COMMUNE, nearest level first, with why."))
def directory_route(
    commune: Annotated[str, typer.Argument(help="mã xã, phường / commune code, e.g. 05443")],
    service: Annotated[str, typer.Argument(help="mã dịch vụ / service code, e.g. rehabilitation")],
    as_json: Annotated[bool, typer.Option("--json", help="in dạng JSON / print JSON")] = False,
) -> None:
    """The agencies that would receive a referral for SERVICE in COMMUNE, nearest level first, with why."""
    from dataclasses import asdict

    from engine.db import transaction
    from engine.models import ServiceType, Unit
    from referrals.routing import candidates

    c = container()
    with plain_errors(), transaction(c.db) as session:
        if session.get(Unit, commune) is None:
            raise NotFound(what=f"unit {commune}")
        if session.get(ServiceType, service) is None:
            raise NotFound(what=f"service {service}")
        found = candidates(session, commune, service)
    if as_json:
        typer.echo(json.dumps([asdict(x) for x in found], ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo("Không có cơ quan phù hợp / no agency provides this service here")
    for rank, x in enumerate(found, start=1):
        typer.echo(f"{rank}. {x.agency_code} ({x.unit_level} {x.unit_code})\n   {x.reason_vi}\n   {x.reason_en}")


@directory_app.command("export-hsds", help="Xuất danh bạ theo Open Referral HSDS 3.x / export the "
                       "directory as Open Referral HSDS 3.x lists (JSON).")
def directory_export_hsds(
    out: Annotated[Path | None, typer.Option(
        help="ghi ra tệp này thay vì đầu ra chuẩn / write to this file instead of standard output")] = None,
) -> None:
    """Export the directory as Open Referral HSDS 3.x lists (JSON)."""
    from engine.db import transaction
    from referrals.directory import to_hsds

    c = container()
    with plain_errors(), transaction(c.db) as session:
        text = json.dumps(to_hsds(session), ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            file_error(out, exc)
        typer.echo(f"Đã ghi / written: {out}")


@report_app.command("indicators", help=(
    "Lập và lưu báo cáo chỉ tiêu của một đơn vị trong một kỳ, rồi ghi ra tệp / generate and store the indicator "
    "report of a unit and period, and write it to a file."))
def report_indicators(
    unit: Annotated[str, typer.Option(help=(
        "mã đơn vị (cả địa bàn trực thuộc), ví dụ 19; VN: cả nước / unit code (its whole subtree), e.g. 19; VN for the "
        "whole country"))],
    period: Annotated[str, typer.Option(help="kỳ báo cáo / period: 2026, 2026-H1, 2026-Q3")],
    fmt: Annotated[str, typer.Option("--format", help="định dạng / format: xlsx, csv, json")] = "xlsx",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="tệp để ghi / file to write")] = None,
    announce: Annotated[bool, typer.Option(
        help="báo cho giám sát viên của đơn vị / also tell the unit's supervisors (report_ready)")] = False,
) -> None:
    """Generate and store the indicator report of a unit and period, and write it to a file.

    The file is written before the report is committed: a file that cannot be written stores nothing. The whole
    country (VN) is no unit of the database: its report is written to the file but not stored."""
    from engine.db import transaction
    from supervision.overdue import NATIONAL
    from supervision.reports import FORMATS, announce_report, build_report, file_name, generate_report, write_report

    if fmt not in FORMATS:
        fail(f"Định dạng không hỗ trợ / unsupported format: {fmt} ({', '.join(FORMATS)})")
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    if suffix in FORMATS and suffix != fmt:  # a .xlsx file holding CSV would not open
        fail(f"Lỗi: tệp «{output}» có đuôi .{suffix} nhưng định dạng là {fmt}; dùng --format {suffix}\n"
             f"Error: the file '{output}' ends in .{suffix} but the format is {fmt}; use --format {suffix}")
    national = unit == NATIONAL
    if national and announce:
        fail("Lỗi: báo cáo cả nước không được lưu nên không báo cho ai; bỏ --announce\n"
             "Error: the whole country's report is not stored, so there is no one to tell; leave out --announce")
    c = container()
    with plain_errors(), transaction(c.db) as session:
        if national:
            report = build_report(session, unit, period, plan_file=c.settings.plan_file)
        else:
            report = generate_report(session, unit, period, plan_file=c.settings.plan_file)
            if announce:
                announce_report(session, report, base_url=c.settings.base_url)
        destination = output or Path(file_name(report, fmt))
        try:
            path = write_report(report, destination, fmt)
        except OSError as exc:
            file_error(destination, exc)  # leaves the transaction with an exception: the report is not stored
    data = report.content["indicators"]
    stored = "không lưu / not stored" if report.id is None else f"báo cáo / report #{report.id}"
    typer.echo(f"{data['unit_name_vi']} — {data['period_label_vi']} ({stored})")
    typer.echo(f"{data['unit_name_en']} — {data['period_label_en']}")
    for item in data["indicators"]:
        value = item["value"]
        shown = "—" if value is None else (f"{value:.1%}" if item["kind"] == "share" else f"{value:g}")
        shown = shown.replace(".", ",")  # the line names the indicator in Vietnamese: a decimal comma
        target = "" if item["target"] is None else f"  (mục tiêu / target {item['target']:.0%})"
        counts = f"{item['numerator']}" + ("" if item["denominator"] is None else f"/{item['denominator']}")
        typer.echo(f"  {item['name_vi']}: {shown}  [{counts}]{target}")
        typer.echo(f"    {item['name_en']}")
    typer.echo(f"Đã ghi / written: {path}")


@report_app.command("overdue", help=(
    "In kết quả rà soát quá hạn của một đơn vị (theo cơ quan, theo đơn vị, theo số ngày làm việc quá hạn) / print the "
    "overdue audit of a unit (by agency and by unit, in aging buckets of working days)."))
def report_overdue(
    unit: Annotated[str, typer.Option(help="mã đơn vị (cả địa bàn trực thuộc) / unit code (its whole subtree)")],
    as_of: Annotated[str | None, typer.Option(
        help="thời điểm xem xét / the time to look at, e.g. 2027-02-10T17:00:00+07:00")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="in dạng JSON / print JSON")] = False,
) -> None:
    """Print the overdue audit of a unit (by agency and by unit, in aging buckets of working days)."""
    from engine.db import transaction
    from supervision.overdue import overdue_audit

    c = container()
    with plain_errors(), transaction(c.db) as session:
        audit = overdue_audit(session, within_unit=unit, as_of=parse_when(as_of), group_by=("agency", "unit", "step"))
    if as_json:
        typer.echo(json.dumps(audit.as_dict(), ensure_ascii=False, indent=2))
        return
    buckets = "  ".join(f"{name}: {count}" for name, count in audit.buckets.items())
    typer.echo(f"Quá hạn / overdue at {audit.as_of.isoformat()}: {audit.total}  ({buckets})")
    for grouping, heading in (("agency", "theo cơ quan / by agency"), ("unit", "theo đơn vị / by unit"),
                              ("step", "theo bước / by step")):
        typer.echo(f"— {heading}")
        for group in audit.groups[grouping]:
            typer.echo(f"  {group.key or '-':14} {group.name_vi[:48]:48} {group.total:6}  leo thang / escalations "
                       f"{group.escalations}")


# the counts ``sweep`` and ``deliver`` print, named for the operator (the code stays, for --json and scripts)
COUNT_LABELS = {
    "reminder_before_due": ("nhắc trước hạn", "reminders before due"),
    "due_today": ("nhắc đến hạn hôm nay", "due today"),
    "overdue": ("báo quá hạn", "overdue notices"),
    "escalation": ("báo cáo vượt cấp", "escalations"),
    "rungs_fired": ("nấc thang đã chạy", "rungs fired"),
    "superseded": ("lời nhắc bị thay thế (không gửi)", "reminders superseded (not sent)"),
    "outbox": ("thông báo chờ gửi", "notifications queued"),
    "tasks": ("việc được giao", "tasks assigned"),
    "digests": ("bản tin ngày", "daily digests"),
    "claimed": ("thông báo đã nhận gửi", "notifications claimed"),
    "delivered": ("đã gửi được", "delivered"),
    "retry": ("sẽ gửi lại", "to retry"),
    "dead": ("bỏ (hết lần thử)", "given up"),
    "lost": ("mất lượt (đã có tiến trình khác nhận)", "lost to another worker"),
}


def print_counts(counts: dict[str, int]) -> None:
    for name, count in counts.items():
        vi, en = COUNT_LABELS.get(name, (name, name))
        typer.echo(f"  {vi} / {en} [{name}]: {count}")


@app.command("sweep", help=(
    "Quét thời hạn một lần (bây giờ hoặc tại một thời điểm giả định) và in số lượng theo từng bậc; trên PostgreSQL "
    "chia thành KETNOI_SWEEP_SHARDS phần chạy cùng lúc / run one deadline sweep (now, or at a simulated time) and "
    "print the counts by rung; on PostgreSQL in KETNOI_SWEEP_SHARDS parts at once."))
def sweep_cmd(
    now: Annotated[str | None, typer.Option(
        help="thời điểm giả định / simulated time, e.g. 2027-02-10T09:00:00+07:00")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="in dạng JSON / print JSON")] = False,
) -> None:
    """Run one deadline sweep (now, or at a simulated time) and print the counts by rung.

    On PostgreSQL the sweep runs in KETNOI_SWEEP_SHARDS parts at once, each in one transaction."""
    from engine.db import utcnow
    from engine.sweep import sweep_sharded

    when = parse_when(now) or utcnow()
    c = container()
    with plain_errors():
        counts = sweep_sharded(c.db, when, c.settings.sweep_shards)
    if as_json:
        typer.echo(json.dumps({"at": when.isoformat(), **counts}))
        return
    typer.echo(f"Quét thời hạn lúc / sweep at {when.isoformat()}")
    print_counts(counts)


@app.command("deliver", help=(
    "Gửi thông báo một lượt: bản tin ngày, rồi mọi thông báo đến hạn; in số lượng / run one delivery round: today's "
    "digests, then every due notification; print the counts."))
def deliver_cmd(
    now: Annotated[str | None, typer.Option(
        help="thời điểm giả định / simulated time, e.g. 2027-02-10T09:00:00+07:00")] = None,
    batch: Annotated[int, typer.Option(min=1, help="số dòng nhận mỗi đợt / rows claimed per chunk")] = 200,
    concurrency: Annotated[int, typer.Option(min=1, help="số thông báo gửi cùng lúc / messages sent at once")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="in dạng JSON / print JSON")] = False,
) -> None:
    """Run one delivery round: today's digests, then every due notification; print the counts."""
    from engine.db import utcnow
    from notifications.delivery import delivery_round

    when = parse_when(now) or utcnow()
    c = container()
    with plain_errors():
        counts = delivery_round(c.db, when, batch=batch, concurrency=concurrency, base_url=c.settings.base_url,
                                smtp_url=c.settings.smtp_url)
    if as_json:
        typer.echo(json.dumps({"at": when.isoformat(), **counts}))
        return
    typer.echo(f"Gửi thông báo lúc / delivery at {when.isoformat()}")
    print_counts(counts)


@app.command("worker", help=(
    "Chạy các luồng theo lịch (quét thời hạn, gửi thông báo, rà soát, báo cáo) với máy chủ Prefect ở "
    "KETNOI_PREFECT_API_URL hoặc PREFECT_API_URL; thêm worker trên máy khác để mở rộng / serve the scheduled flows "
    "against that Prefect server; start more workers on other machines to scale out."))
def worker_cmd() -> None:
    """Serve the scheduled flows (sweep, delivery, reviews, reports) against the Prefect server named by
    KETNOI_PREFECT_API_URL or PREFECT_API_URL; start more workers on other machines to scale out."""
    c = container()
    c.prefect_environment()  # before importing Prefect: it reads PREFECT_HOME early
    from flows.serve import PrefectNotConfigured, run_worker

    try:
        run_worker(c)
    except PrefectNotConfigured as exc:
        fail(str(exc))


@app.command("serve", help=(
    "Chạy API (uvicorn) cùng lịch Prefect; --demo in tài khoản thử nghiệm / serve the API (uvicorn) with the "
    "Prefect schedules beside it; --demo prints the demo sign-ins."))
def serve_cmd(
    host: Annotated[str, typer.Option(help="địa chỉ lắng nghe / address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="cổng lắng nghe / port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option(
        "--demo", help="nạp tỉnh thử nghiệm, người dùng và hồ sơ mẫu trước / load the demo province, its users and "
        "cases first")] = False,
    flows: Annotated[bool, typer.Option(
        "--flows/--no-flows", help="chạy cả lịch Prefect / also run the Prefect schedules")] = True,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="số tiến trình API, ví dụ mỗi lõi một / API processes, e.g. one per core")] = 1,
) -> None:
    """Serve the API (uvicorn) with the Prefect schedules beside it; --demo prints the demo sign-ins."""
    from ketnoi.serve import check_port_free, serve

    c = container(schema=not demo)  # --demo applies the migrations itself
    try:
        check_port_free(host, port)  # before the demo is loaded or anything starts
        if demo:
            from ketnoi.demo_data import describe, load_demo

            with plain_errors():
                typer.echo(describe(load_demo(c), f"http://{host}:{port}"))
        serve(c, host=host, port=port, flows=flows, workers=workers)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"Lỗi: cổng {host}:{port} đang được dùng / Error: port {host}:{port} is already in use")
        reason = exc.strerror or type(exc).__name__
        fail(f"Lỗi: không lắng nghe được ở {host}:{port} ({reason})\nError: cannot listen on {host}:{port} ({reason})")


def main() -> None:
    app()
