"""The delivery flow under a temporary Prefect server: the sweep's escalations reach a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.cases import open_case
from engine.db import transaction
from engine.models import DeadlineRung, Outbox
from tests.support.notification_receivers import MailBox
from tests.support.people import make_child, make_user

OPENED = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailBox]:
    box = MailBox().start()
    monkeypatch.setenv("KETNOI_SMTP_URL", box.smtp_url())
    monkeypatch.setenv("KETNOI_BASE_URL", "https://ketnoi.example.vn")
    try:
        yield box
    finally:
        box.stop()


def test_delivery_flow_sends_the_sweeps_escalations_once(
    prefect_harness: None, ketnoi_env: str, db: Engine, mailbox: MailBox
) -> None:
    from engine.sweep import sweep
    from flows.deliver import DEFAULT_INTERVAL, deliver_notifications

    assert DEFAULT_INTERVAL == timedelta(minutes=1)
    lan = make_user(db, "lan", "caseworker")
    child_id = make_child(db, lan)
    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="school", now=OPENED).id
    with transaction(db) as s:
        first_rung = s.execute(sa.select(DeadlineRung).order_by(DeadlineRung.fire_at).limit(1)).scalar_one()
        when = first_rung.fire_at + timedelta(minutes=1)
    with transaction(db) as s:
        sweep(s, when)
    with transaction(db) as s:
        written = s.execute(sa.select(Outbox.dedupe_key).where(Outbox.case_id == case_id)).scalars().all()
    assert written, "the sweep wrote at least one notification"

    counts = deliver_notifications(now=when, batch=2, concurrency=2)
    assert counts["claimed"] == len(written)
    with transaction(db) as s:
        statuses = s.execute(sa.select(Outbox.status, sa.func.count()).group_by(Outbox.status)).all()
    mails = mailbox.snapshot()
    delivered = dict(statuses).get("delivered", 0)
    assert counts["delivered"] == delivered == len(mails) >= 1
    assert {m.headers["X-Dedupe-Key"] for m in mails} <= set(written)
    assert all(f"KN-{case_id:06d}" in m.body and "https://ketnoi.example.vn/app/cases/" in m.body for m in mails)
    assert deliver_notifications(now=when + timedelta(minutes=1))["claimed"] == 0
    assert len(mailbox.snapshot()) == len(mails)
