"""Notifications as their readers receive them: defects found in review, each pinned by a test.

Real PostgreSQL and SQLite, a real SMTP server and real HTTP receivers on loopback; the product is driven
through its service functions (transitions, the deadline sweep's clocks, the delivery round).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow
from engine.outbox import enqueue
from engine.policy import current_policy
from engine.users import add_user
from notifications.delivery import RetryPolicy, deliver_due, delivery_round
from notifications.digest import build_digests
from tests.support.cases import referral_step, referred_case
from tests.support.live_server import free_port
from tests.support.notification_receivers import MailBox, WebhookReceiver
from tests.support.outbox import outbox_rows, set_agency
from tests.support.people import DEMO_PROVINCE, PASSWORD, make_user

BASE_URL = "https://ketnoi.example.vn"
T0 = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam, a Wednesday
POLICY = RetryPolicy(max_attempts=3, base_delay=timedelta(minutes=1), max_delay=timedelta(hours=1),
                     claim_timeout=timedelta(minutes=5))
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
LINK = re.compile(re.escape(BASE_URL) + r"(/\S*)")


# --- a malformed address on one agency must not stop everyone's delivery ---------------------------------


def test_a_malformed_notify_url_fails_its_own_message_only_and_nothing_is_sent_twice(
    db: Engine, webhook: WebhookReceiver
) -> None:
    # A typo in the directory (an unclosed IPv6 bracket) made the round raise: every message of the batch stayed
    # 'sending', and the healthy agency's message was sent again after each claim timeout, for ever.
    set_agency(db, "TYT-05443", notify_urls=["json://[fe80::1/hook"])
    set_agency(db, "TH-05443", notify_urls=[webhook.url()])
    with transaction(db) as s:
        for code in ("TYT-05443", "TH-05443"):
            assert enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref=code,
                           dedupe_key=f"ev:1:agency:{code}", now=T0,
                           context={"case_ref": "KN-000001", "child_initials": "T.V.M.", "link_path": "/referrals/1"})
    counts = deliver_due(db, T0, base_url=BASE_URL, policy=POLICY)
    assert (counts["claimed"], counts["delivered"], counts["retry"]) == (2, 1, 1)
    now = T0
    for _ in range(POLICY.max_attempts + 2):  # later rounds, past every claim timeout
        now += POLICY.claim_timeout + POLICY.max_delay
        deliver_due(db, now, base_url=BASE_URL, policy=POLICY)
    assert Counter(p.headers["X-Dedupe-Key"] for p in webhook.snapshot()) == {"ev:1:agency:TH-05443": 1}
    by_agency = {r.recipient_ref: r for r in outbox_rows(db)}
    assert by_agency["TH-05443"].status == "delivered"
    bad = by_agency["TYT-05443"]
    assert bad.status == "dead" and bad.attempts == POLICY.max_attempts  # tried, then given up, with its reason
    assert bad.last_error is not None and "json://" in bad.last_error


# --- links open the page, not a 404 ----------------------------------------------------------------------


def test_every_link_in_a_message_opens_a_page(db: Engine, db_url: str, mailbox: MailBox, tmp_path: Path) -> None:
    from api.app import create_app
    from engine.settings import Settings
    from ketnoi.bootstrap import Container

    _lan, _binh, case_id, referral_id = referred_case(db)
    set_agency(db, "TYT-05443", notify_urls=[], digest=None)
    with transaction(db) as s:
        assert enqueue(s, template="daily_digest", recipient_kind="agency", recipient_ref="TYT-05443",
                       dedupe_key="digest:TYT-05443:test", digest=False, now=utcnow(),
                       context={"agency_name_vi": "Trạm Y tế", "date": "2027-03-10", "pending": [], "overdue": [],
                                "link_path": "/referrals/inbox"})
        assert enqueue(s, template="report_ready", recipient_kind="unit_role",
                       recipient_ref=f"{DEMO_PROVINCE}:supervisor",
                       dedupe_key="report:7", now=utcnow(),
                       context={"period": "2026", "link_path": "/api/v1/reports/7/download?format=xlsx"})
    deliver_due(db, utcnow() + timedelta(seconds=1), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    links = {link for mail in mailbox.snapshot() for link in LINK.findall(mail.body)}
    expected = {f"/app/cases/{case_id}", f"/app/referrals/{referral_id}", "/app/inbox",
                "/app/reports/7/download?format=xlsx"}
    assert links == expected
    container = Container(Settings(environment="test", database_url=db_url, secret_key="k" * 48, data_dir=tmp_path))
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as web:
            for path in expected:
                answer = web.get(path, follow_redirects=False)
                # a page: the sign-in first, then back to it (the old links answered 404 'not found')
                assert answer.status_code == 303, (path, answer.status_code)
                assert answer.headers["location"].startswith("/app/login?next=%2Fapp%2F")
    finally:
        container.dispose()


# --- each person reads their own language --------------------------------------------------------------


def test_supervisors_of_one_unit_each_read_their_own_language(db: Engine, mailbox: MailBox) -> None:
    with transaction(db) as s:
        add_user(s, login="binh", password=PASSWORD, role="supervisor", unit_code=DEMO_PROVINCE,
                 email="binh@example.vn", language="vi")
        add_user(s, login="anna", password=PASSWORD, role="supervisor", unit_code=DEMO_PROVINCE,
                 email="anna@example.org", language="en")
        assert enqueue(s, template="escalation", recipient_kind="unit_role",
                       recipient_ref=f"{DEMO_PROVINCE}:supervisor",
                       dedupe_key="esc:1:4:unit_role:19:supervisor", now=T0,
                       context={"case_ref": "KN-000001", "child_initials": "T.V.M.", "policy_key": "case.reported",
                                "due_at": "2027-03-01T02:00:00+00:00", "link_path": "/cases/1"})
    assert deliver_due(db, T0, smtp_url=mailbox.smtp_url(), base_url=BASE_URL, policy=POLICY)["delivered"] == 1
    mails = {m.to[0]: m for m in mailbox.snapshot()}
    assert set(mails) == {"binh@example.vn", "anna@example.org"}
    assert mails["binh@example.vn"].subject == "[Kết Nối] Báo cáo vượt cấp: KN-000001 quá hạn"
    assert mails["anna@example.org"].subject == "[Kết Nối] Escalation: KN-000001 is overdue"
    assert "What to do" in mails["anna@example.org"].body and "Việc cần làm" not in mails["anna@example.org"].body


# --- a rejection says why, in words ---------------------------------------------------------------------


def test_a_rejection_for_an_unreachable_family_is_worded_not_coded(db: Engine, mailbox: MailBox) -> None:
    _lan, _binh, _case_id, referral_id = referred_case(db)
    hung = make_user(db, "hung", "agency_staff", agency="TYT-05443")
    referral_step(db, referral_id, "reject", hung, {"reason": "could_not_contact_family"})
    deliver_due(db, utcnow() + timedelta(seconds=1), smtp_url=mailbox.smtp_url(), base_url=BASE_URL)
    [mail] = [m for m in mailbox.snapshot() if m.to == ["lan@example.vn"] and "từ chối" in m.subject]
    assert "Lý do: không liên lạc được với gia đình" in mail.body
    assert "could_not_contact_family" not in mail.body


# --- the digest does not call a stopped clock late ------------------------------------------------------


def test_the_digest_does_not_list_a_referral_on_hold_with_its_clock_stopped_as_overdue(db: Engine) -> None:
    _lan, _binh, _case_id, referral_id = referred_case(db)
    hung = make_user(db, "hung", "agency_staff", agency="TYT-05443")
    set_agency(db, "TYT-05443", notify_urls=[], digest=True)
    calendar = current_policy().calendar()
    start = utcnow()
    referral_step(db, referral_id, "accept", hung, now=start)
    referral_step(db, referral_id, "start", hung, now=start)  # 30 working days to deliver the service
    referral_step(db, referral_id, "hold", hung, now=calendar.add_working_days(start, 25))  # paused (policy)
    # 35 working days after the start: the service clock is stopped, the on-hold clock (20 days) still runs
    day = calendar.add_working_days(start, 35).astimezone(VIETNAM).date()
    when = datetime.combine(day, clock(10, 0), tzinfo=VIETNAM)
    with transaction(db) as s:
        build_digests(s, when)
    digests = [r for r in outbox_rows(db) if r.template == "daily_digest"]
    for digest in digests:  # nothing to say is fine; saying it is late is not
        assert digest.context["overdue"] == [], digest.context["overdue"]


# --- a long round never has its fresh claims taken for stale ones ----------------------------------------


class SlowHook:
    """A real HTTP receiver that takes ``delay`` seconds to answer each post, and counts the posts by key."""

    def __init__(self, delay: float) -> None:
        self.delay, self.port, self.keys = delay, free_port(), Counter[str]()
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(hook.delay)
                with hook.lock:
                    hook.keys[self.headers.get("X-Dedupe-Key") or ""] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_long_delivery_round_beside_the_next_scheduled_run_sends_each_message_once(pg_db: Engine) -> None:
    # The round (``ketnoi deliver``, or the flow) dated every chunk's claim at its own start: once it had been
    # sending longer than claim_timeout, the next run took its fresh claims for a crashed worker's and sent them
    # again while the first was still sending them.
    hook = SlowHook(delay=0.7)
    policy = RetryPolicy(claim_timeout=timedelta(seconds=2.5))
    try:
        set_agency(pg_db, "TYT-05443", notify_urls=[f"json://127.0.0.1:{hook.port}/hook"])
        start = utcnow()
        with transaction(pg_db) as s:
            for i in range(10):
                enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TYT-05443",
                        dedupe_key=f"ev:{i}:agency:TYT-05443", now=start - timedelta(minutes=1),
                        context={"case_ref": f"KN-{i:06d}", "link_path": f"/referrals/{i}"})
        first: dict[str, int] = {}

        def long_round() -> None:
            first.update(delivery_round(pg_db, utcnow(), batch=1, concurrency=1, digests=False,
                                        base_url=BASE_URL, policy=policy))

        worker = threading.Thread(target=long_round)
        worker.start()
        time.sleep(3.0)  # the next scheduled run starts while the first is still sending
        while worker.is_alive():
            deliver_due(pg_db, utcnow(), batch=1, concurrency=1, base_url=BASE_URL, policy=policy)
            time.sleep(0.2)
        worker.join()
    finally:
        hook.stop()
    assert hook.keys == Counter({f"ev:{i}:agency:TYT-05443": 1 for i in range(10)})
    assert {r.status for r in outbox_rows(pg_db)} == {"delivered"}
