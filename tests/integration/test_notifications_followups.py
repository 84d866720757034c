"""Notifications as their readers receive them, second review: each defect found, pinned by a test.

Real PostgreSQL and SQLite, a real SMTP server and real HTTP receivers on loopback; the product is driven
through its service functions (transitions, the deadline sweep, the digests, the delivery round). Dates of the
sweep's clocks are checked by hand on the 2027 calendar: no public holiday between 1 March and 15 April 2027.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine import deadlines
from engine.cases import open_case
from engine.db import transaction, utcnow
from engine.models import Outbox, Referral, User
from engine.outbox import enqueue
from engine.policy import Policy, parse_policy, use_policy
from engine.sweep import _sweep_portable, sweep
from notifications.delivery import RetryPolicy, deliver_due, delivery_round
from notifications.digest import DIGEST_LIMIT, build_digest, build_digests
from tests.support.cases import referral_step, referred_case
from tests.support.notification_receivers import MailBox, WebhookReceiver
from tests.support.outbox import outbox_rows, set_agency
from tests.support.people import make_child, make_user

BASE_URL = "https://ketnoi.example.vn"
HANOI = timezone(timedelta(hours=7))
LADDER = """
ladders:
  standard: &standard
    - {working_days: -1, action: remind, audience: REMIND_BEFORE}
    - {working_days: 0, action: remind, audience: owner+caseworker}
    - {working_days: 2, action: escalate, audience: supervisor}
    - {working_days: 5, action: escalate, audience: unit_above}
deadlines:
  referral.requested: {working_days: 3, basis: local choice, ladder: *standard}
  referral.in_progress: {working_days: 10, basis: local choice, ladder: *standard}
"""


def ladder_policy(*, digest_default: bool = False, remind_before: str = "owner") -> Policy:
    data = yaml.safe_load(LADDER.replace("REMIND_BEFORE", remind_before))
    return parse_policy({**data, "digest_default": digest_default})


def at(day: int, hour: int = 9, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=HANOI)


def referral_at_agency(db: Engine, state: str, agency: str = "TYT-05443", now: datetime = at(1),
                       count: int = 1, clock: bool = True) -> tuple[int, list[int], int]:
    """A case (the policies here give its steps no clock) and ``count`` referrals to ``agency`` entering ``state``
    at ``now``, each with its clock (as the referral service opens them); (case id, referral ids, caseworker id)."""
    worker = make_user(db, f"cb.{agency.lower()}", "caseworker")
    child_id = make_child(db, worker)
    with transaction(db) as s:
        case = open_case(s, child_id=child_id, actor=worker, source="school", now=now)
        assert case.id is not None and worker.user_id is not None
        ids = []
        for _ in range(count):
            referral = Referral(case_id=case.id, service_code="health_care", domain="health", agency_code=agency,
                                state=state, created_by=worker.user_id, created_at=now, updated_at=now)
            s.add(referral)
            s.flush()
            assert referral.id is not None
            ids.append(referral.id)
            if clock:
                deadlines.on_enter(s, policy_key=f"referral.{state}", case_id=case.id, referral_id=referral.id,
                                   now=now, owner_agency_code=agency)
        return case.id, ids, worker.user_id


def run_sweep(db: Engine, now: datetime) -> dict[str, int]:
    with transaction(db) as s:
        return sweep(s, now)


def about(referral_id: int, outbox: list[Outbox]) -> list[tuple[str, str, str, str]]:
    return [(o.template, o.recipient_kind, o.recipient_ref, o.status) for o in outbox if o.referral_id == referral_id]


# --- 1. the sweep's reminders to an agency that chose the digest wait for it -----------------------------


@pytest.mark.parametrize(("own_choice", "policy_default"), [
    (True, False),  # the agency chose the digest
    (None, True),  # the province's policy chose it for agencies that did not say
])
def test_reminders_to_a_digest_agency_wait_for_its_digest_and_escalations_go_at_once(
    db: Engine, own_choice: bool | None, policy_default: bool
) -> None:
    set_agency(db, "TYT-05443", digest=own_choice)
    set_agency(db, "SYT-19", digest=True)  # the supervising department also chose the digest
    set_agency(db, "TH-05443", digest=False)  # the school chose single messages, whatever the policy's default
    with use_policy(ladder_policy(digest_default=policy_default)):
        _, [referral_id], worker_id = referral_at_agency(db, "requested")  # due Thursday 4 March, 09:00
        _, [school_referral_id], _ = referral_at_agency(db, "requested", agency="TH-05443")
        for day in (3, 4, 8, 11):  # the day before, the day, two and five working days late
            run_sweep(db, at(day))
    outbox = outbox_rows(db)
    assert about(referral_id, outbox) == [
        ("reminder_before_due", "agency", "TYT-05443", "digest"),
        ("due_today", "agency", "TYT-05443", "digest"),
        ("due_today", "user", str(worker_id), "pending"),  # the caseworker has no digest
        ("escalation", "agency", "SYT-19", "pending"),  # an escalation is never held, digest or not
        ("escalation", "unit_role", "19:supervisor", "pending"),
    ]
    assert {status for *_, status in about(school_referral_id, outbox)} == {"pending"}
    # what waits for the digest is not sent on its own
    assert deliver_due(db, at(11, 10), base_url=BASE_URL)["claimed"] == len(outbox) - 2


def test_a_reminder_to_a_supervising_agency_is_not_held_for_a_digest_that_never_lists_it(db: Engine) -> None:
    # A digest lists an agency's own referrals: the reminder its supervising department gets about another
    # agency's referral would wait there for ever (and be skipped), so it goes out at once.
    set_agency(db, "TYT-05443", digest=True)
    set_agency(db, "SYT-19", digest=True)
    with use_policy(ladder_policy(remind_before="owner+supervisor")):
        _, [referral_id], _ = referral_at_agency(db, "requested")
        run_sweep(db, at(3))
    assert sorted(about(referral_id, outbox_rows(db))) == [
        ("reminder_before_due", "agency", "SYT-19", "pending"),
        ("reminder_before_due", "agency", "TYT-05443", "digest"),
    ]


def test_both_sweep_paths_hold_the_same_reminders_on_postgresql(pg_db: Engine) -> None:
    # The PostgreSQL sweep (chained CTEs) and the portable one (SQLite's) must write the same rows.
    set_agency(pg_db, "TYT-05443", digest=True)
    written: dict[str, list[tuple[Any, ...]]] = {}
    with use_policy(ladder_policy()):
        referral_at_agency(pg_db, "requested")
        for path in ("cte", "portable"):
            with Session(pg_db) as s:
                for day in (3, 4, 8):
                    if path == "cte":
                        sweep(s, at(day))
                    else:
                        _sweep_portable(s, "postgresql", at(day), (0, 1))
                written[path] = [tuple(row) for row in s.execute(
                    sa.select(Outbox.dedupe_key, Outbox.template, Outbox.recipient_kind, Outbox.recipient_ref,
                              Outbox.agency_code, Outbox.status).order_by(Outbox.dedupe_key))]
                s.rollback()  # the next path sweeps the same clocks afresh
    assert written["cte"] == written["portable"]
    assert {(t, k, status) for _, t, k, _, _, status in written["cte"]} == {
        ("reminder_before_due", "agency", "digest"), ("due_today", "agency", "digest"),
        ("due_today", "user", "pending"), ("escalation", "agency", "pending")}


def test_the_digest_tells_the_agency_what_its_held_reminder_was_about(db: Engine, mailbox: MailBox) -> None:
    set_agency(db, "TYT-05443", digest=True, notify_urls=[])
    with use_policy(ladder_policy()):
        # a service under way, to be delivered by Monday 15 March, 09:00: reminded on Friday 12 March
        case_id, [referral_id], _ = referral_at_agency(db, "in_progress")
        assert run_sweep(db, at(12))["reminder_before_due"] == 1
        [reminder] = outbox_rows(db, referral_id=referral_id)
        assert reminder.status == "digest"
        # Monday's digest, two hours before it is due: neither waiting for an answer nor late, yet reminded
        counts = delivery_round(db, at(15, 7, 5), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    assert counts["digests"] == 1 and counts["delivered"] == 1
    [mail] = mailbox.snapshot()
    assert mail.to == ["tyt.pdp@example.vn"]
    assert mail.subject == "[Kết Nối] Bản tin ngày 15/03/2027: 0 chuyển gửi chờ xử lý, 0 quá hạn, 1 sắp đến hạn"
    assert "Việc sắp đến hạn (1):" in mail.body
    assert f"KN-{case_id:06d} (REF-{referral_id}), trẻ T.V.M., " in mail.body
    assert "hạn 15/03/2027 09:00" in mail.body
    [reminder] = [r for r in outbox_rows(db, referral_id=referral_id) if r.template == "reminder_before_due"]
    assert reminder.status == "digested"


# --- 2. a rejection for "another reason" says the agency's own words ------------------------------------


@pytest.mark.parametrize("language", ["vi", "en"])
def test_a_rejection_for_another_reason_carries_the_agencys_words(
    db: Engine, mailbox: MailBox, language: str
) -> None:
    lan, _binh, _case_id, referral_id = referred_case(db)
    with transaction(db) as s:
        s.execute(sa.update(User).where(User.id == lan.user_id).values(language=language))
    hung = make_user(db, "hung", "agency_staff", agency="TYT-05443")
    words = "Gia đình đã chuyển vào TP. Hồ Chí Minh"
    referral_step(db, referral_id, "reject", hung, {"reason": "other", "reason_text": words})
    deliver_due(db, utcnow() + timedelta(seconds=1), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    [mail] = [m for m in mailbox.snapshot() if m.to == ["lan@example.vn"] and ("từ chối" in m.subject
                                                                                 or "declined" in m.subject)]
    line = {"vi": "- Lý do: ", "en": "- Reason: "}[language]
    assert line + words in mail.body  # the agency's words, not "lý do khác / other reason" alone
    assert "lý do khác" not in mail.body and "other reason" not in mail.body


# --- 3. the caseworker is told which agency a referral waits on, and to follow it up ---------------------


def test_the_caseworker_is_told_to_follow_up_the_agency_which_is_told_to_act(
    db: Engine, mailbox: MailBox, webhook: WebhookReceiver
) -> None:
    set_agency(db, "TYT-05443", notify_urls=[webhook.url()])
    with use_policy(ladder_policy(remind_before="owner+caseworker")):
        case_id, [referral_id], worker_id = referral_at_agency(db, "requested")  # due Thursday 4 March, 09:00
        assert run_sweep(db, at(3))["outbox"] == 2  # the agency and the caseworker
        deliver_due(db, at(3, 9, 1), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
        with transaction(db) as s:  # the caseworker now reads English: the next reminder is in English
            s.execute(sa.update(User).where(User.id == worker_id).values(language="en"))
        assert run_sweep(db, at(4))["outbox"] == 2
        deliver_due(db, at(4, 9, 1), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    before, today = mailbox.snapshot()
    assert before.subject == f"[Kết Nối] Nhắc việc: KN-{case_id:06d} sắp đến hạn"
    assert "Việc sau sắp đến hạn và đang chờ Trạm Y tế phường Phan Đình Phùng xử lý:" in before.body
    assert "- Đơn vị đang xử lý: Trạm Y tế phường Phan Đình Phùng" in before.body
    assert "Việc cần làm: liên hệ Trạm Y tế phường Phan Đình Phùng để đôn đốc" in before.body
    assert "hoàn thành việc này" not in before.body
    assert today.subject == f"[Kết Nối] Due today: KN-{case_id:06d}"
    assert "This item is due today and waits on Phan Dinh Phung Ward Health Station:" in today.body
    assert "What to do: follow it up with Phan Dinh Phung Ward Health Station" in today.body
    assert "complete it today" not in today.body
    # the health station itself is still asked to act, in its own words
    agency = {p.headers["X-Dedupe-Key"].split(":")[2]: p.payload["message"] for p in webhook.snapshot()}
    assert set(agency) == {"1", "2"}, agency  # rungs 1 and 2 of the clock
    assert "Hãy xử lý trước hạn." in agency["1"] and "Hãy xử lý ngay hôm nay." in agency["2"]
    assert all("đôn đốc" not in message for message in agency.values())
    assert [r.status for r in outbox_rows(db, referral_id=referral_id)] == ["delivered"] * 4


# --- 4. an overnight outage of a mail server loses nothing ----------------------------------------------


def test_a_receiver_down_all_night_still_gets_the_new_referral_in_the_morning(
    db: Engine, webhook: WebhookReceiver
) -> None:
    policy = RetryPolicy()  # the shipped one
    assert timedelta(hours=22) <= policy.window() <= timedelta(hours=30)  # about a day
    assert policy.delay(policy.max_attempts - 1) == policy.max_delay  # the cap is reached, and keeps it short
    set_agency(db, "TYT-05443", notify_urls=[webhook.url()])
    evening = at(10, 18)
    with transaction(db) as s:
        enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TYT-05443",
                dedupe_key="ev:1:agency:TYT-05443", now=evening,
                context={"case_ref": "KN-000001", "child_initials": "T.V.M.", "link_path": "/referrals/1"})
    webhook.status = 503  # the gateway is down from the evening until 08:00 the next morning (14 hours)
    now = evening
    while now < at(11, 8):
        assert deliver_due(db, now, base_url=BASE_URL)["retry"] == 1
        [row] = outbox_rows(db)
        assert row.status == "pending", (now, row.attempts)  # not given up
        now = row.next_attempt_at
    webhook.status = 200
    assert deliver_due(db, now, base_url=BASE_URL)["delivered"] == 1
    assert now - at(11, 8) <= policy.max_delay  # sent within the cap of the gateway's return
    assert [p.headers["X-Dedupe-Key"] for p in webhook.snapshot()] == ["ev:1:agency:TYT-05443"]


# --- 5. no digest with nothing in it --------------------------------------------------------------------


def test_no_digest_is_sent_when_what_it_held_was_dealt_with_before_seven(db: Engine, mailbox: MailBox) -> None:
    set_agency(db, "TYT-05443", digest=True, notify_urls=[])
    friday = at(12, 15)
    _lan, _binh, _case_id, referral_id = referred_case(db, now=friday)
    [notice] = outbox_rows(db, referral_id=referral_id)
    assert (notice.template, notice.status) == ("referral_requested", "digest")
    hung = make_user(db, "hung", "agency_staff", agency="TYT-05443")
    referral_step(db, referral_id, "accept", hung, now=friday + timedelta(hours=1))  # answered that afternoon
    counts = delivery_round(db, at(13, 7, 5), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    assert counts["digests"] == 0
    # nothing to the health station: not "0 waiting, 0 overdue — please deal with them today"
    assert [m.subject for m in mailbox.snapshot() if m.to == ["tyt.pdp@example.vn"]] == []
    [notice] = outbox_rows(db, referral_id=referral_id)
    assert notice.status == "skipped"  # settled, not waiting for a digest for ever
    with transaction(db) as s:  # and later runs that day find nothing to do
        assert build_digests(s, at(13, 7, 6)) == 0
    assert [r.template for r in outbox_rows(db, agency_code="TYT-05443")] == ["referral_requested"]


# --- 6. a digest lists at most 50 of each, read in bulk --------------------------------------------------


def test_a_long_digest_lists_fifty_and_says_how_many_more_with_its_items_read_in_bulk(
    db: Engine, mailbox: MailBox
) -> None:
    set_agency(db, "TYT-05443", digest=True, notify_urls=[])
    set_agency(db, "TH-05443", digest=True, notify_urls=[])
    with use_policy(ladder_policy()):
        _, many, _ = referral_at_agency(db, "requested", count=DIGEST_LIMIT + 3, clock=False)
        _, few, _ = referral_at_agency(db, "requested", agency="TH-05443", count=3, clock=False)
        statements = {}
        for code in ("TYT-05443", "TH-05443"):
            seen: list[str] = []

            def count(*args: Any, seen: list[str] = seen) -> None:
                seen.append(args[2])

            with transaction(db) as s:
                sa.event.listen(db, "before_cursor_execute", count)
                try:
                    assert build_digest(s, code, at(2, 7, 5))
                finally:
                    sa.event.remove(db, "before_cursor_execute", count)
            statements[code] = len(seen)
        # as many statements for 53 items as for 3: none per item
        assert statements["TYT-05443"] == statements["TH-05443"], statements
        delivery_round(db, at(2, 7, 10), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    mails = {m.to[0]: m for m in mailbox.snapshot()}
    long, short = mails["tyt.pdp@example.vn"], mails["th.pdp@example.vn"]
    assert long.subject == "[Kết Nối] Bản tin ngày 02/03/2027: 53 chuyển gửi chờ xử lý, 0 quá hạn"
    listed = [line for line in long.body.splitlines() if "(REF-" in line]
    assert listed == [line for line in listed if any(f"(REF-{i})" in line for i in many[:DIGEST_LIMIT])]
    assert len(listed) == DIGEST_LIMIT
    assert "- và 3 việc khác." in long.body
    assert len([line for line in short.body.splitlines() if "(REF-" in line]) == 3 and "khác" not in short.body
    assert all(f"(REF-{i})" in short.body for i in few)


# --- rows held for an agency that stops taking the digest go out on their own -----------------------------


def test_held_reminders_go_out_once_the_agency_stops_taking_the_digest(db: Engine, mailbox: MailBox) -> None:
    set_agency(db, "TYT-05443", digest=True, notify_urls=[])
    with use_policy(ladder_policy()):
        _, [referral_id], _ = referral_at_agency(db, "in_progress")
        assert run_sweep(db, at(12))["reminder_before_due"] == 1
        assert [r.status for r in outbox_rows(db, referral_id=referral_id)] == ["digest"]
        set_agency(db, "TYT-05443", digest=False)  # the station now wants every message at once
        # before the digest's hour: no digest is due, yet the held reminder is sent on its own
        counts = delivery_round(db, at(12, 10), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    assert counts["digests"] == 0 and counts["delivered"] == 1
    assert [r.status for r in outbox_rows(db, referral_id=referral_id)] == ["delivered"]
    [mail] = mailbox.snapshot()
    assert mail.to == ["tyt.pdp@example.vn"] and "Bản tin ngày" not in mail.subject
