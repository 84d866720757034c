"""``ketnoi deliver`` runs one delivery round against the configured database and prints the counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from engine.db import transaction
from engine.outbox import enqueue
from ketnoi.cli import app
from tests.support.notification_receivers import MailBox

T0 = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)


def test_ketnoi_deliver_sends_due_rows_and_prints_counts(
    db: Engine, db_url: str, mailbox: MailBox, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(db) as s:
        for code in ("TYT-05443", "PHCN-19"):
            enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref=code,
                    dedupe_key=f"ev:cli:agency:{code}", context={"case_ref": "KN-000042", "link_path": "/referrals/1"},
                    now=T0)
    env = {"KETNOI_DATABASE_URL": db_url, "KETNOI_DATA_DIR": str(tmp_path), "KETNOI_ENVIRONMENT": "development",
           "KETNOI_SMTP_URL": mailbox.smtp_url(), "KETNOI_BASE_URL": "https://ketnoi.example.vn"}
    result = CliRunner().invoke(app, ["deliver", "--now", "2027-03-10T09:00:00+07:00", "--json"], env=env)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert (counts["claimed"], counts["delivered"], counts["retry"]) == (2, 2, 0)
    assert sorted(m.to[0] for m in mailbox.snapshot()) == ["phcn@example.vn", "tyt.pdp@example.vn"]
    again = CliRunner().invoke(app, ["deliver", "--now", "2027-03-10T09:05:00+07:00"], env=env)
    assert again.exit_code == 0 and "[claimed]: 0" in again.output
    bad = CliRunner().invoke(app, ["deliver", "--now", "yesterday"], env=env)
    assert bad.exit_code == 1
