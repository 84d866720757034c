"""Transitions write their notifications into the outbox, in the same transaction, and they arrive by email.

Real PostgreSQL and SQLite, a real SMTP server (aiosmtpd on loopback).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow
from engine.errors import DomainError
from engine.models import Referral, User
from notifications.delivery import deliver_due
from notifications.render import vn_datetime
from referrals.services import create_referral, transition_referral
from tests.support.cases import case_step, case_up_to_plan
from tests.support.notification_receivers import MailBox
from tests.support.outbox import outbox_rows
from tests.support.people import make_user

BASE_URL = "https://ketnoi.example.vn"


def test_care_plan_awaiting_approval_reaches_the_supervisor_of_the_nearest_unit(db: Engine, mailbox: MailBox) -> None:
    _lan, _binh, case_id = case_up_to_plan(db)
    rows = [r for r in outbox_rows(db) if r.template == "care_plan_awaiting_approval"]
    assert len(rows) == 1
    row = rows[0]
    assert (row.recipient_kind, row.recipient_ref, row.case_id) == ("unit_role", "05443:supervisor", case_id)

    counts = deliver_due(db, utcnow(), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    assert counts["delivered"] == 1
    # No supervisor works in the commune: the province's supervisor (binh) receives it.
    [mail] = mailbox.snapshot()
    assert mail.to == ["binh@example.vn"]
    assert "Kế hoạch hỗ trợ chờ phê duyệt" in mail.subject
    assert f"{BASE_URL}/app/cases/{case_id}" in mail.body
    assert "T.V.M." in mail.body and "Trần Văn Minh" not in mail.body
    assert "cannot walk" not in mail.body


def test_referral_request_reaches_the_agency_in_vietnamese_with_its_link(db: Engine, mailbox: MailBox) -> None:
    lan, binh, case_id = case_up_to_plan(db)
    case_step(db, case_id, "approve_plan", binh)
    with transaction(db) as s:
        referral = create_referral(s, case_id=case_id, service_code="rehabilitation", actor=lan)
        referral_id = referral.id
        agency = referral.agency_code
    [row] = [r for r in outbox_rows(db) if r.template == "referral_requested"]
    assert (row.recipient_kind, row.recipient_ref, row.language) == ("agency", agency, "vi")
    assert row.dedupe_key.startswith("ev:") and row.dedupe_key.endswith(f":agency:{agency}")
    assert "full_name" not in row.context and "Trần" not in str(row.context)

    counts = deliver_due(db, utcnow(), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    assert counts["delivered"] >= 1
    [mail] = [m for m in mailbox.snapshot() if "chuyển gửi" in m.subject]
    assert mail.to == ["tyt.pdp@example.vn"]
    assert "Yêu cầu chuyển gửi mới" in mail.subject
    assert "Phục hồi chức năng dựa vào cộng đồng" in mail.body
    assert "Hãy" in mail.body or "Việc cần làm" in mail.body
    assert f"{BASE_URL}/app/referrals/{referral_id}" in mail.body
    assert f"KN-{case_id:06d}" in mail.body and "T.V.M." in mail.body
    assert mail.headers["X-Dedupe-Key"] == row.dedupe_key
    if row.context.get("due_at"):
        assert vn_datetime(row.context["due_at"]) in mail.body


def test_rejection_tells_the_case_owner_and_a_failed_transition_writes_nothing(db: Engine, mailbox: MailBox) -> None:
    lan, binh, case_id = case_up_to_plan(db)
    case_step(db, case_id, "approve_plan", binh)
    hung = make_user(db, "hung", "agency_staff", agency="TYT-05443")
    with transaction(db) as s:
        referral = create_referral(s, case_id=case_id, service_code="rehabilitation", actor=lan)
    before = len(outbox_rows(db))
    # A refused transition (wrong version) rolls back: no outbox row either.
    with pytest.raises(DomainError), transaction(db) as s:
        transition_referral(s, referral.id, "reject", hung, referral.version + 5, {"reason": "no_capacity"})
    assert len(outbox_rows(db)) == before
    with transaction(db) as s:
        version = s.get(Referral, referral.id).version
        transition_referral(s, referral.id, "reject", hung, version, {"reason": "no_capacity"})
    [row] = [r for r in outbox_rows(db) if r.template == "referral_rejected"]
    with transaction(db) as s:
        lan_id = s.execute(sa.select(User.id).where(User.login == "lan")).scalar_one()
    assert (row.recipient_kind, row.recipient_ref) == ("user", str(lan_id))

    deliver_due(db, utcnow() + timedelta(seconds=1), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    [mail] = [m for m in mailbox.snapshot() if m.to == ["lan@example.vn"]]
    assert "từ chối" in mail.subject
    assert "không đủ khả năng tiếp nhận" in mail.body
    assert "chuyển gửi lại" in mail.body


def test_an_agency_that_chose_the_digest_gets_no_single_message(db: Engine) -> None:
    """TH-05710 chose the daily digest in the demo data: its rows wait with status 'digest'."""
    from engine.outbox import enqueue

    with transaction(db) as s:
        assert enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TH-05710",
                       dedupe_key="ev:test:agency:TH-05710", context={"case_ref": "KN-000001"})
        assert enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TH-05443",
                       dedupe_key="ev:test:agency:TH-05443", context={"case_ref": "KN-000001"})
        # the same key again writes nothing
        assert not enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TH-05443",
                           dedupe_key="ev:test:agency:TH-05443", context={"case_ref": "KN-000002"})
    statuses = {r.recipient_ref: (r.status, r.context["case_ref"]) for r in outbox_rows(db)}
    assert statuses == {"TH-05710": ("digest", "KN-000001"), "TH-05443": ("pending", "KN-000001")}
