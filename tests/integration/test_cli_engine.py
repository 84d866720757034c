"""The ``ketnoi`` commands of the engine, run as a person runs them, against a SQLite file in a scratch folder.

Settings come from the environment (``KETNOI_DATA_DIR``), exactly as on a fresh machine; nothing else is set up.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from engine.cases import open_case, transition_case
from engine.db import make_engine, transaction
from engine.models import Unit, User
from engine.users import verify_password
from ketnoi.cli import app
from tests.support.people import make_child, make_user

DEMO = Path(__file__).resolve().parents[2] / "ketnoi" / "demo"


class Shell:
    """Runs ``ketnoi ...`` with a scratch data folder and no other KETNOI_* setting."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {name: None for name in os.environ if name.startswith("KETNOI_")}
        self.env["KETNOI_DATA_DIR"] = str(folder / "data")

    @property
    def database(self) -> Path:
        return self.folder / "data" / "ketnoi.sqlite3"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.database}"

    def run(self, *args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=self.env, input=stdin)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder after ``ketnoi db upgrade`` and ``ketnoi load reference`` (the slow part, done once)."""
    shell = Shell(tmp_path_factory.mktemp("prepared"))
    upgraded = shell.run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    loaded = shell.run("load", "reference", str(DEMO))
    assert loaded.exit_code == 0, loaded.output
    with sqlite3.connect(shell.database) as conn:  # fold the write-ahead log in, so one file is the whole store
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return shell.database


@pytest.fixture
def shell(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    monkeypatch.chdir(tmp_path)  # no .env from elsewhere
    shell = Shell(tmp_path)
    shell.database.parent.mkdir()
    shutil.copyfile(prepared, shell.database)
    yield shell


def test_db_upgrade_creates_the_default_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shell = Shell(tmp_path)
    result = shell.run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "database is up to date" in result.output
    tables = set(sa.inspect(make_engine(shell.url)).get_table_names())
    assert {"alembic_version", "case_file", "event", "unit", "task"} <= tables
    again = shell.run("db", "upgrade")
    assert again.exit_code == 0, again.output


def test_load_reference_loads_the_country_once(shell: Shell) -> None:
    engine = make_engine(shell.url)
    with transaction(engine) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Unit)).scalar_one() == 34 + 3321
    result = shell.run("load", "reference", str(DEMO))
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.output
    defaults_only = shell.run("load", "reference")
    assert defaults_only.exit_code == 0 and "nothing changed" in defaults_only.output


def test_load_reference_of_a_bad_folder_is_a_plain_message_and_exit_1(shell: Shell, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "units.csv").write_text(
        "code,name_vi,name_en,level,parent_code\n99901,Xã Mới,New,commune,19\n99902,Xã Lạc,Lost,commune,88888\n",
        encoding="utf-8")
    result = shell.run("load", "reference", str(bad))
    assert result.exit_code == 1
    assert "units.csv, dòng 3: không có đơn vị cấp trên «88888»" in result.output
    assert "units.csv, line 3: unknown parent unit '88888'" in result.output
    assert "Traceback" not in result.output
    with transaction(make_engine(shell.url)) as s:
        assert s.get(Unit, "99901") is None


def test_user_add_reads_the_password_from_stdin_and_keeps_only_an_argon2_hash(shell: Shell) -> None:
    password = "mật-khẩu-rất-dài-2026"
    result = shell.run("user", "add", "lan", "--role", "caseworker", "--unit", "05443", "--email", "lan@example.vn",
                       stdin=password + "\n")
    assert result.exit_code == 0, result.output
    assert "lan (caseworker, 05443)" in result.output
    with transaction(make_engine(shell.url)) as s:
        user = s.execute(sa.select(User).where(User.login == "lan")).scalar_one()
    assert user.password_hash.startswith("$argon2")
    assert password not in user.password_hash
    assert verify_password(user.password_hash, password)
    assert not verify_password(user.password_hash, "something-else")
    raw = b"".join(f.read_bytes() for f in shell.database.parent.glob("ketnoi.sqlite3*"))  # with the WAL
    assert user.password_hash.encode() in raw
    assert password.encode("utf-8") not in raw


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("user", "add", "x1", "--role", "wizard", "--unit", "05443"), "role must be one of"),
        (("user", "add", "x2", "--role", "caseworker", "--unit", "99999"), "unknown unit '99999'"),
        (("user", "add", "x3", "--role", "agency_staff", "--unit", "05443"), "cán bộ cơ quan cần có mã cơ quan"),
    ],
)
def test_user_add_refusals_are_plain_messages(shell: Shell, args: tuple[str, ...], complaint: str) -> None:
    result = shell.run(*args, stdin="mat-khau-du-dai\n")
    assert result.exit_code == 1
    assert complaint in result.output and "Traceback" not in result.output
    assert result.output.startswith("Lỗi: ")


def test_user_add_refuses_a_short_password(shell: Shell) -> None:
    result = shell.run("user", "add", "hung", "--role", "caseworker", "--unit", "05443", stdin="short\n")
    assert result.exit_code == 1
    assert "at least 8 characters" in result.output
    with transaction(make_engine(shell.url)) as s:
        assert s.execute(sa.select(User).where(User.login == "hung")).first() is None


def test_an_operator_deactivates_reactivates_and_resets_a_user(shell: Shell) -> None:
    from engine.audit import user_timeline

    added = shell.run("user", "add", "lan", "--role", "caseworker", "--unit", "05443", stdin="mat-khau-ban-dau-26\n")
    assert added.exit_code == 0, added.output
    engine = make_engine(shell.url)

    def lan() -> User:
        with transaction(engine) as s:
            return s.execute(sa.select(User).where(User.login == "lan")).scalar_one()

    off = shell.run("user", "deactivate", "lan")
    assert off.exit_code == 0 and "deactivated: lan" in off.output and not lan().active
    on = shell.run("user", "reactivate", "lan")
    assert on.exit_code == 0 and on.output.startswith("Đã kích hoạt lại") and lan().active
    reset = shell.run("user", "password", "lan", stdin="mot-mat-khau-moi-26\n")
    assert reset.exit_code == 0, reset.output
    assert verify_password(lan().password_hash, "mot-mat-khau-moi-26")
    assert lan().sessions_valid_after is not None  # every session issued before the reset ends
    weak = shell.run("user", "password", "lan", stdin="password123\n")  # a common one: refused, nothing changed
    assert weak.exit_code == 1 and weak.output.startswith("Lỗi: ") and "Traceback" not in weak.output
    assert verify_password(lan().password_hash, "mot-mat-khau-moi-26")
    nobody = shell.run("user", "deactivate", "ai-do")
    assert nobody.exit_code == 1 and "Not found" in nobody.output
    with transaction(engine) as s:  # each act is in the users' trail, by the operator ("system")
        trail = [(e.action, e.actor_role) for e in user_timeline(s, lan().id or 0)]
    assert trail == [("created", "system"), ("deactivated", "system"), ("reactivated", "system"),
                     ("password_reset", "system")]


def test_case_timeline_prints_the_events(shell: Shell) -> None:
    engine = make_engine(shell.url)
    worker = make_user(engine, "lan", "caseworker")
    child_id = make_child(engine, worker)
    with transaction(engine) as s:
        case_id = open_case(s, child_id=child_id, actor=worker, source="helpline_111").id
    with transaction(engine) as s:
        assert case_id is not None
        transition_case(s, case_id, "verify", worker, 1, {"urgency": "urgent", "assessment": "cần hỗ trợ"})
    with transaction(engine) as s:
        transition_case(s, case_id, "close_not_eligible", worker, 2, {"reason": "duplicate"})

    result = shell.run("case", "timeline", str(case_id))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"KN-{case_id:06d}: closure/closed v3"
    assert [line.split()[2] for line in lines[1:]] == ["report", "verify", "close_not_eligible"]
    assert "reported → verified" in lines[2] and "duplicate" in lines[3]

    as_json = shell.run("case", "timeline", str(case_id), "--json")
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert [(r["action"], r["from"], r["to"], r["version"]) for r in rows] == [
        ("report", None, "reported", 1), ("verify", "reported", "verified", 2),
        ("close_not_eligible", "verified", "closed", 3),
    ]


def test_case_timeline_of_an_unknown_case(shell: Shell) -> None:
    result = shell.run("case", "timeline", "424242")
    assert result.exit_code == 1
    assert "case 424242" in result.output and "Traceback" not in result.output
