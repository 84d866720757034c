"""``ketnoi sweep --now ...``: one sweep at a simulated time, counts printed; a replay changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from engine.cases import open_case
from engine.db import transaction
from engine.models import Escalation
from ketnoi.cli import app
from tests.support.people import make_child, make_user

HANOI = timezone(timedelta(hours=7))


def test_sweep_at_a_simulated_time(db: Engine, db_url: str) -> None:
    worker = make_user(db, "cb.xa", "caseworker")
    child_id = make_child(db, worker)
    with transaction(db) as s:
        # shipped policy: a report waits 2 working days for verification; Monday 1 March 2027 → Wednesday 3 March
        open_case(s, child_id=child_id, actor=worker, source="family", now=datetime(2027, 3, 1, 9, tzinfo=HANOI))
    runner = CliRunner()
    env = {"KETNOI_DATABASE_URL": db_url}

    result = runner.invoke(app, ["sweep", "--now", "2027-03-03T09:00:00+07:00", "--json"], env=env)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["reminder_before_due"] == 1 and counts["due_today"] == 1 and counts["escalation"] == 0
    assert counts["rungs_fired"] == 2
    assert counts["superseded"] == 1  # the day-before reminder, overtaken by the due-day one in the same sweep

    again = runner.invoke(app, ["sweep", "--now", "2027-03-03T09:00:00+07:00"], env=env)
    assert again.exit_code == 0
    assert "sweep at 2027-03-03T09:00:00+07:00" in again.output and "[rungs_fired]: 0" in again.output
    assert "nấc thang đã chạy / rungs fired" in again.output  # each count named in both languages
    with transaction(db) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Escalation)).scalar_one() == 2


def test_a_time_without_offset_is_refused(db_url: str) -> None:
    result = CliRunner().invoke(app, ["sweep", "--now", "2027-03-03T09:00:00"], env={"KETNOI_DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert "UTC offset" in result.output
