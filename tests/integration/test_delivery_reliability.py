"""Delivery through apprise to a real local HTTP receiver and a real SMTP server: retries, dead letters,
crash between sending and marking, concurrent workers, digests and the delivery log."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.db import transaction
from engine.models import Agency, DeliveryAttempt, Outbox
from engine.outbox import enqueue
from notifications.delivery import RetryPolicy, claim, deliver_all, deliver_due, delivery_round, send_job
from notifications.digest import build_digests
from notifications.log import delivery_log_for_agency, delivery_log_for_case, escalation_deliveries
from tests.support.notification_receivers import MailBox, WebhookReceiver
from tests.support.outbox import outbox_rows, set_agency

BASE_URL = "https://ketnoi.example.vn"
T0 = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam, a Wednesday
POLICY = RetryPolicy(max_attempts=4, base_delay=timedelta(minutes=1), max_delay=timedelta(hours=1),
                     claim_timeout=timedelta(minutes=5))


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()  # not started: each test decides when it is up
    try:
        yield receiver
    finally:
        receiver.stop()


def _escalation(db: Engine, n: int, agency: str = "TYT-05443", *, now: datetime = T0) -> list[str]:
    keys = []
    with transaction(db) as s:
        for i in range(n):
            key = f"esc:{1000 + i}:3:agency:{agency}"
            assert enqueue(s, template="escalation", recipient_kind="agency", recipient_ref=agency, dedupe_key=key,
                           now=now, context={"case_ref": f"KN-{i + 1:06d}", "child_initials": "T.V.M.",
                                             "service_name_vi": "Phục hồi chức năng", "service_name_en": "Rehab",
                                             "agency_name_vi": "Trạm Y tế phường Phan Đình Phùng",
                                             "due_at": "2027-03-09T10:00:00+00:00", "link_path": f"/referrals/{i + 1}"})
            keys.append(key)
    return keys


def _deliver(db: Engine, now: datetime, **kwargs: object) -> dict[str, int]:
    return deliver_due(db, now, base_url=BASE_URL, policy=POLICY, **kwargs)  # type: ignore[arg-type]


def test_escalation_arrives_at_the_webhook_in_vietnamese_with_link_and_dedupe_header(
    db: Engine, webhook: WebhookReceiver
) -> None:
    webhook.start()
    set_agency(db, "TYT-05443", notify_urls=[webhook.url()])
    [key] = _escalation(db, 1)
    assert _deliver(db, T0) == {"claimed": 1, "delivered": 1, "retry": 0, "dead": 0, "lost": 0}
    [post] = webhook.snapshot()
    assert post.headers["X-Dedupe-Key"] == key
    message = post.payload["message"]
    assert "báo cáo vượt cấp" in message and "quá hạn từ 09/03/2027 17:00" in message
    assert f"{BASE_URL}/app/referrals/1" in message
    assert "KN-000001" in message and "T.V.M." in message
    assert post.payload["title"].startswith("[Kết Nối] Báo cáo vượt cấp")
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 1, T0)
    # Delivered keys are never sent again, however often delivery runs.
    assert _deliver(db, T0 + timedelta(days=1))["claimed"] == 0
    assert len(webhook.snapshot()) == 1


def test_receiver_down_then_up_each_message_arrives_once(db: Engine, webhook: WebhookReceiver) -> None:
    set_agency(db, "TYT-05443", notify_urls=[webhook.url()])
    keys = _escalation(db, 3)
    first = _deliver(db, T0)
    assert (first["claimed"], first["retry"], first["delivered"]) == (3, 3, 0)
    rows = outbox_rows(db)
    assert {r.status for r in rows} == {"pending"}
    assert all(r.next_attempt_at == T0 + timedelta(minutes=1) for r in rows)
    assert all("Connection" in (r.last_error or "") for r in rows)
    # Still down a minute later: the second try doubles the wait.
    assert _deliver(db, T0 + timedelta(seconds=30))["claimed"] == 0
    assert _deliver(db, T0 + timedelta(minutes=1))["retry"] == 3
    assert {r.next_attempt_at for r in outbox_rows(db)} == {T0 + timedelta(minutes=3)}

    webhook.start()
    assert _deliver(db, T0 + timedelta(minutes=3))["delivered"] == 3
    assert _deliver(db, T0 + timedelta(hours=2))["claimed"] == 0
    received = Counter(p.headers["X-Dedupe-Key"] for p in webhook.snapshot())
    assert received == Counter(keys)
    with transaction(db) as s:
        tries = s.execute(sa.select(DeliveryAttempt.ok).order_by(DeliveryAttempt.id)).scalars().all()
    assert tries.count(False) == 6 and tries.count(True) == 3


def test_a_message_that_keeps_failing_ends_dead_with_its_reason(db: Engine, webhook: WebhookReceiver) -> None:
    webhook.status = 503
    webhook.start()
    set_agency(db, "TYT-05443", notify_urls=[webhook.url()])
    _escalation(db, 1)
    now, verdicts = T0, []
    for _ in range(POLICY.max_attempts):
        counts = _deliver(db, now)
        verdicts.append("dead" if counts["dead"] else "retry" if counts["retry"] else "?")
        [row] = outbox_rows(db)
        now = row.next_attempt_at
    assert verdicts == ["retry", "retry", "retry", "dead"]
    [row] = outbox_rows(db)
    assert row.status == "dead" and row.attempts == POLICY.max_attempts
    assert row.last_error is not None and row.last_error.startswith(f"after {POLICY.max_attempts} attempts")
    assert "503" in row.last_error
    assert _deliver(db, now + timedelta(days=30))["claimed"] == 0
    # The delivery log tells what failed, through which channel.
    with transaction(db) as s:
        [entry] = delivery_log_for_agency(s, "TYT-05443")
    assert entry.status == "dead" and len(entry.tries) == POLICY.max_attempts
    assert all(not t.ok and "503" in (t.error or "") for t in entry.tries)
    assert entry.tries[0].channel.startswith("json://127.0.0.1")


def test_a_run_stopped_between_sending_and_marking_repeats_at_most_once_with_the_same_key(
    db: Engine, webhook: WebhookReceiver
) -> None:
    webhook.start()
    set_agency(db, "TYT-05443", notify_urls=[webhook.url()])
    [key] = _escalation(db, 1)
    # A worker claims and sends, then dies before marking.
    [claimed] = claim(db, T0, policy=POLICY)
    from notifications.delivery import prepare_jobs

    [job] = prepare_jobs(db, [claimed], None)
    assert send_job(job, BASE_URL).ok
    assert len(webhook.snapshot()) == 1
    # Another worker does not touch the claimed row until the claim is stale.
    assert _deliver(db, T0 + timedelta(minutes=4))["claimed"] == 0
    assert _deliver(db, T0 + POLICY.claim_timeout)["delivered"] == 1
    assert _deliver(db, T0 + timedelta(days=1))["claimed"] == 0
    posts = webhook.snapshot()
    assert len(posts) == 2  # the one repeat
    assert [p.headers["X-Dedupe-Key"] for p in posts] == [key, key]
    assert posts[0].payload["message"] == posts[1].payload["message"]
    [row] = outbox_rows(db)
    assert (row.status, row.attempts) == ("delivered", 2)


def test_an_address_already_reached_is_not_sent_again_when_another_fails(
    db: Engine, webhook: WebhookReceiver, mailbox: MailBox
) -> None:
    webhook.start()
    down = WebhookReceiver()
    set_agency(db, "TYT-05443", notify_urls=[webhook.url("/a"), down.url("/b"),
                                    mailbox.smtp_url() + "&to=tyt.pdp@example.vn"])
    _escalation(db, 1)
    assert _deliver(db, T0)["retry"] == 1
    down.start()
    try:
        assert _deliver(db, T0 + timedelta(minutes=1))["delivered"] == 1
        assert len(down.snapshot()) == 1
    finally:
        down.stop()
    assert len(webhook.snapshot()) == 1
    [mail] = mailbox.snapshot()
    assert mail.to == ["tyt.pdp@example.vn"] and "Báo cáo vượt cấp" in mail.subject
    assert "Đơn vị đang chịu trách nhiệm: Trạm Y tế phường Phan Đình Phùng" in mail.body  # the full form


def test_two_delivery_runs_at_once_on_postgresql_never_send_the_same_row(
    pg_db: Engine, webhook: WebhookReceiver
) -> None:
    webhook.start()
    set_agency(pg_db, "TYT-05443", notify_urls=[webhook.url()])
    keys = _escalation(pg_db, 120)
    start = threading.Barrier(2)
    totals: list[dict[str, int]] = []

    def worker() -> None:
        start.wait()
        totals.append(deliver_all(pg_db, T0, batch=10, concurrency=4, base_url=BASE_URL, policy=POLICY))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    received = Counter(p.headers["X-Dedupe-Key"] for p in webhook.snapshot())
    assert received == Counter(keys)  # every key exactly once
    assert sum(t["claimed"] for t in totals) == 120 and sum(t["delivered"] for t in totals) == 120
    assert all(t["claimed"] > 0 for t in totals)  # both workers took part
    assert {r.status for r in outbox_rows(pg_db)} == {"delivered"}


def test_daily_digest_once_a_day_replaces_single_messages(db: Engine, webhook: WebhookReceiver) -> None:
    webhook.start()
    set_agency(db, "TYT-05443", notify_urls=[webhook.url()], digest=True)
    with transaction(db) as s:
        for i in range(2):
            enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TYT-05443",
                    dedupe_key=f"ev:{i}:agency:TYT-05443", context={"case_ref": f"KN-{i:06d}"}, now=T0)
    assert {r.status for r in outbox_rows(db)} == {"digest"}
    assert _deliver(db, T0)["claimed"] == 0  # nothing sent on its own
    before_seven = datetime(2027, 3, 10, 23, 30, tzinfo=UTC)  # 06:30 on 11/03 in Vietnam
    with transaction(db) as s:
        assert build_digests(s, before_seven) == 0
    seven = datetime(2027, 3, 11, 0, 5, tzinfo=UTC)  # 07:05 on 11/03 in Vietnam
    with transaction(db) as s:
        assert build_digests(s, seven) == 1
    with transaction(db) as s:
        assert build_digests(s, seven + timedelta(hours=5)) == 0  # once a day
    rows = outbox_rows(db)
    assert sorted(r.status for r in rows) == ["digested", "digested", "pending"]
    [digest] = [r for r in rows if r.template == "daily_digest"]
    assert digest.dedupe_key == "digest:TYT-05443:2027-03-11"
    assert _deliver(db, seven)["delivered"] == 1
    [post] = webhook.snapshot()
    assert "bản tin ngày 11/03/2027" in post.payload["message"]
    assert post.headers["X-Dedupe-Key"] == "digest:TYT-05443:2027-03-11"


def test_one_agencys_failing_digest_stops_neither_the_others_nor_delivery(
    db: Engine, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import notifications.digest as digest_module

    webhook.start()
    with transaction(db) as s:
        for code in ("TYT-05443", "TH-05443"):
            agency = s.get(Agency, code)
            assert agency is not None
            agency.notify_urls, agency.digest = [webhook.url(f"/{code}")], True
            enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref=code,
                    dedupe_key=f"ev:1:agency:{code}", context={"case_ref": "KN-000001"}, now=T0)
    build = digest_module.build_digest

    def failing_for_the_station(session: Any, code: str, now: datetime) -> int:
        if code == "TYT-05443":  # say its rendering hits a defect, every time
            raise RuntimeError("a defect in one agency's digest")
        return build(session, code, now)

    monkeypatch.setattr(digest_module, "build_digest", failing_for_the_station)
    seven = datetime(2027, 3, 11, 0, 5, tzinfo=UTC)  # 07:05 on 11/03 in Vietnam
    counts = delivery_round(db, seven)
    assert counts["digests"] == 1 and counts["delivered"] == 1
    [post] = webhook.snapshot()
    assert post.path == "/TH-05443"
    assert {r.recipient_ref: r.status for r in outbox_rows(db) if r.template == "referral_requested"} == {
        "TYT-05443": "digest", "TH-05443": "digested"}  # the station's waits for the next run


def test_delivery_log_for_a_case_shows_recipient_channel_and_result(db: Engine, mailbox: MailBox) -> None:
    from tests.support.people import make_child, make_user

    lan = make_user(db, "lan", "caseworker")
    child_id = make_child(db, lan)
    from engine.cases import open_case

    with transaction(db) as s:
        case_id = open_case(s, child_id=child_id, actor=lan, source="school").id
        enqueue(s, template="overdue", recipient_kind="user", recipient_ref=str(lan.user_id),
                dedupe_key=f"esc:1:1:user:{lan.user_id}", context={"case_id": case_id, "policy_key": "case.reported",
                                                                   "due_at": "2027-03-09T10:00:00+00:00"},
                case_id=case_id, now=T0)
    assert _deliver(db, T0, smtp_url=mailbox.smtp_url())["delivered"] == 1
    [mail] = mailbox.snapshot()
    # The sweep's sparse context is completed at delivery: reference, initials, step, link.
    assert f"KN-{case_id:06d}" in mail.body and "T.V.M." in mail.body
    assert "Đã tiếp nhận thông tin" in mail.body and f"{BASE_URL}/app/cases/{case_id}" in mail.body
    with transaction(db) as s:
        [entry] = delivery_log_for_case(s, case_id)
    assert (entry.template, entry.recipient_kind, entry.status) == ("overdue", "user", "delivered")
    assert [(t.channel, t.ok) for t in entry.tries] == [("email:lan@example.vn", True)]
    assert entry.delivered_at == T0


def test_a_user_who_reads_english_gets_english(db: Engine, mailbox: MailBox) -> None:
    from engine.users import add_user

    with transaction(db) as s:
        user = add_user(s, login="anna", password="mat-khau-thu-nghiem", role="caseworker", unit_code="05443",
                        email="anna@example.org", language="en")
        user_id = user.id
        enqueue(s, template="referral_completed", recipient_kind="user", recipient_ref=str(user_id),
                dedupe_key=f"ev:9:user:{user_id}", now=T0,
                context={"case_ref": "KN-000009", "child_initials": "N.A.", "service_name_vi": "Giáo dục hòa nhập",
                         "service_name_en": "Inclusive education", "agency_name_en": "Primary School",
                         "outcome": "delivered_partly", "link_path": "/referrals/9"})
    [row] = outbox_rows(db)
    assert row.language == "en"
    assert _deliver(db, T0, smtp_url=mailbox.smtp_url())["delivered"] == 1
    [mail] = mailbox.snapshot()
    assert mail.to == ["anna@example.org"]
    assert mail.subject == "[Kết Nối] Referral completed: KN-000009"
    assert "Outcome: delivered partly" in mail.body and f"{BASE_URL}/app/referrals/9" in mail.body


def test_escalation_deliveries_count_each_rungs_notices_by_status(db: Engine) -> None:
    from tests.support.people import make_child, make_user

    lan = make_user(db, "lan", "caseworker")
    from engine.cases import open_case

    minh, bich = make_child(db, lan), make_child(db, lan, full_name="Lê Thị Bích")
    with transaction(db) as s:
        case_id = open_case(s, child_id=minh, actor=lan, source="school").id
        assert case_id is not None
        other_case = open_case(s, child_id=bich, actor=lan, source="school").id
        rows = [(7, 2, "agency:TYT-05443", "delivered"), (7, 2, "user:1", "dead"), (7, 3, "unit_role:19:supervisor",
                "pending"), (7, 3, "agency:PGD-19", "delivered"), (7, 4, "agency:PGD-19", "digested")]
        for deadline, rung, recipient, status in rows:
            key = f"esc:{deadline}:{rung}:{recipient}"
            kind, ref = recipient.split(":", 1)
            enqueue(s, template="escalation", recipient_kind=kind, recipient_ref=ref, dedupe_key=key, context={},
                    case_id=case_id, now=T0)
            s.execute(sa.update(Outbox).where(Outbox.dedupe_key == key).values(status=status))  # type: ignore[arg-type]
        # another case's notices and a notice that is not a rung's stay out
        enqueue(s, template="escalation", recipient_kind="agency", recipient_ref="TYT-05443",
                dedupe_key="esc:8:2:agency:TYT-05443", context={}, case_id=other_case, now=T0)
        enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TYT-05443",
                dedupe_key="ev:1:agency:TYT-05443", context={}, case_id=case_id, now=T0)
    with transaction(db) as s:
        assert escalation_deliveries(s, {case_id}) == {
            (7, 2): {"delivered": 1, "dead": 1}, (7, 3): {"pending": 1, "delivered": 1}, (7, 4): {"digested": 1},
        }
        assert escalation_deliveries(s, set()) == {}
