"""The whole week of Kết Nối in a real browser (headless Chromium), Vietnamese and English.

A caseworker registers a child and walks the case to care (a supervisor approves the plan); the health
station accepts, starts and completes its referral; the school's referral goes overdue after the deadline
sweep, and the supervisor sees it with its escalations on the dashboard and records an audit note; the case is
closed. Every page is screenshotted into tests/e2e/screenshots/. Expected texts come from the message
catalogue and the transition tables, so the same walk checks both languages.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Locator, Page
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.pages import catalogue  # noqa: F401  (registers the page strings)
from engine.db import make_engine, transaction, utcnow
from engine.i18n import translate
from engine.models import Agency, Case, Referral, ServiceDomain, ServiceType, User
from engine.states import CASE_MACHINE, STEP_LABELS
from engine.users import add_user
from notifications.delivery import deliver_due
from notifications.log import escalation_deliveries
from referrals.lifecycle import STATE_LABELS
from tests.support.notification_receivers import WebhookReceiver
from tests.support.pages_server import running_app

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "mat-khau-thu-nghiem"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)"),
    pytest.mark.timeout(600),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--disable-gpu", "--disable-quic"])
        yield launched
        launched.close()


def _t(key: str, lang: str, **params: object) -> str:
    return translate(key, lang, **params)


def _action(action: str, lang: str) -> str:
    for tr in CASE_MACHINE.transitions.values():
        if tr.action == action:
            return tr.label_vi if lang == "vi" else tr.label_en
    from referrals.lifecycle import REFERRAL_MACHINE

    for tr in REFERRAL_MACHINE.transitions.values():
        if tr.action == action:
            return tr.label_vi if lang == "vi" else tr.label_en
    raise KeyError(action)


def _step(step: str, lang: str) -> str:
    vi, en = STEP_LABELS[step]
    return vi if lang == "vi" else en


class Walk:
    """One person at a time in one browser context, saving a screenshot of every page visited."""

    def __init__(self, page: Page, base: str, lang: str, tag: str) -> None:
        self.page = page
        self.base = base
        self.lang = lang
        self.tag = tag
        self.shots = 0
        for old in SHOTS.glob(f"{tag}-*.png"):  # this walk's screenshots from an earlier run
            old.unlink()

    def t(self, key: str, **params: object) -> str:
        return _t(key, self.lang, **params)

    def shot(self, name: str) -> None:
        self.shots += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.tag}-{self.shots:02d}-{name}.png"), full_page=True)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def sign_in(self, login: str, password: str = PASSWORD) -> None:
        self.go(f"/app/login?lang={self.lang}")
        self.page.get_by_label(self.t("page.login.login")).fill(login)
        self.page.get_by_label(self.t("page.login.password")).fill(password)
        self.page.get_by_role("button", name=self.t("page.login.submit")).click()
        self.page.wait_for_load_state()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name=self.t("page.nav.sign_out")).click()
        self.page.wait_for_load_state()
        assert self.page.get_by_role("heading", name=self.t("page.login.title")).is_visible()

    def action_box(self, action: str) -> Locator:
        """The form of an action on the current page (opened when it sits in a <details>)."""
        button = self.page.locator(f'button[data-action="{action}"]').first
        box = self.page.locator("details.action").filter(has=self.page.locator(f'button[data-action="{action}"]'))
        if box.count():
            box.first.locator("summary").click()
            return box.first
        return button.locator("xpath=..")

    def submit(self, box: Locator, action: str) -> None:
        box.locator(f'button[data-action="{action}"]').click()
        self.page.wait_for_load_state()
        alert = self.page.locator("div.error")
        assert alert.count() == 0, alert.first.inner_text()
        assert self.page.get_by_role("status").inner_text() == self.t("page.done")

    def label(self, field: str) -> re.Pattern[str]:
        """A field's whole label, with or without the required mark."""
        return re.compile("^" + re.escape(self.t(f"page.field.{field}")) + r"( \*)?$")

    def act(self, action: str, *, fill: dict[str, str] | None = None, select: dict[str, str] | None = None,
            check: list[str] | None = None) -> None:
        box = self.action_box(action)
        for key, value in (fill or {}).items():
            box.get_by_label(self.label(key)).fill(value)
        for key, value in (select or {}).items():
            box.get_by_label(self.label(key)).select_option(value)
        for label in check or []:
            box.get_by_label(label, exact=True).check()
        self.submit(box, action)

    def step_is(self, step: str) -> None:
        assert self.page.locator("#case-step").inner_text() == _step(step, self.lang)


def _users(db: Engine) -> None:
    with transaction(db) as s:
        add_user(s, login="lan", password=PASSWORD, role="caseworker", unit_code="05443", full_name="Nguyễn Thị Lan")
        add_user(s, login="binh", password=PASSWORD, role="supervisor", unit_code="19", full_name="Lê Văn Bình")
        add_user(s, login="hung", password=PASSWORD, role="agency_staff", unit_code="05443", agency_code="TYT-05443",
                 full_name="Trần Văn Hùng")
        add_user(s, login="tam", password=PASSWORD, role="agency_staff", unit_code="19", agency_code="PHCN-19",
                 full_name="Đỗ Thị Tâm")
        add_user(s, login="quan", password=PASSWORD, role="admin", unit_code="19", full_name="Lê Thị Quản")


def _sweep(db_url: str, when: datetime) -> str:
    """``ketnoi sweep --now ...`` as a separate process when the command exists, else the service itself."""
    from ketnoi.cli import app as cli

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in cli.registered_commands}
    if "sweep" in names:
        env = {**os.environ, "KETNOI_DATABASE_URL": db_url, "KETNOI_ENVIRONMENT": "development"}
        done = subprocess.run(
            [sys.executable, "-c", "from ketnoi.cli import main; main()", "sweep", "--now", when.isoformat()],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout
    from engine.sweep import sweep

    engine = make_engine(db_url)
    try:
        with transaction(engine) as s:
            return str(sweep(s, when))
    finally:
        engine.dispose()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_week_walk_in_the_browser(browser: Browser, db_url: str, lang: str) -> None:
    db = make_engine(db_url)
    _users(db)
    store = "pg" if db_url.startswith("postgresql") else "sqlite"
    with running_app(db_url) as base:
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        w = Walk(page, base, lang, f"{lang}-{store}")
        try:
            _walk(w, db, db_url)
        finally:
            context.close()
            db.dispose()


def _walk(w: Walk, db: Engine, db_url: str) -> None:
    page = w.page
    lang = w.lang
    pick = 0 if lang == "vi" else 1
    w.go(f"/app/login?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    w.shot("login")

    # --- Chị Lan: search without diacritics, find nobody, register the boy ---------------------------------
    w.sign_in("lan")
    assert page.get_by_role("heading", name=w.t("page.work.title")).is_visible()
    w.shot("my-work-empty")
    w.go("/app/children?q=tran+van+minh")
    assert page.get_by_text(w.t("page.children.none")).is_visible()
    w.shot("search-nobody")
    page.get_by_role("link", name=w.t("page.nav.register")).last.click()
    page.get_by_label(w.t("page.field.full_name")).fill("Trần Văn Minh")
    page.get_by_label(w.t("page.field.date_of_birth")).fill("02/05/2019")
    page.get_by_label(w.t("page.field.sex")).select_option("male")
    page.get_by_label(w.t("page.field.commune_code")).select_option("05443")
    page.get_by_label(w.t("page.disability.mobility"), exact=True).check()
    page.get_by_label(w.t("page.field.severity")).select_option("severe")
    page.get_by_label(w.t("page.field.household_status")).select_option("poor")
    page.get_by_label(w.t("page.field.guardian_name")).fill("Nguyễn Thị Hoa")
    page.get_by_label(w.t("page.field.source")).select_option("school")
    w.shot("register-filled")
    page.get_by_role("button", name=w.t("page.register.submit")).click()
    page.wait_for_load_state()
    w.step_is("reported")
    # the verification clock is open and not late yet: "Còn 3 ngày 23 giờ" / "3 d 23 h left"
    badge = page.locator("section[aria-labelledby=h-deadlines] .badge").first
    assert "ok" in (badge.get_attribute("class") or "")
    assert re.fullmatch(re.escape(w.t("page.time.left", span="\0")).replace(re.escape("\0"), ".+"), badge.inner_text())
    w.shot("case-reported")
    case_url = page.url.split("?")[0]
    case_id = int(case_url.rstrip("/").rsplit("/", 1)[1])

    # the search now finds him, diacritics or not
    w.go("/app/children?q=TRAN%20VAN%20MINH")
    assert page.get_by_text("Trần Văn Minh").first.is_visible()
    w.shot("search-found")

    # --- the case to care ------------------------------------------------------------------------------------
    page.goto(case_url)
    w.act("verify", select={"urgency": "normal"}, fill={"assessment": "Không tự đi lại được / cannot walk unaided"})
    w.step_is("verified")
    # the boy is 7: accepting without both consents is refused and changes nothing
    box = w.action_box("accept_for_intake")
    box.locator('button[data-action="accept_for_intake"]').click()
    page.wait_for_load_state()
    assert page.locator("div.error").is_visible()
    w.shot("case-consent-missing")
    w.step_is("verified")
    with transaction(db) as s:
        names = {d.code: (d.name_vi if lang == "vi" else d.name_en)
                 for d in s.execute(sa.select(ServiceDomain)).scalars()}
    w.act("record_consent", select={"given_by": "guardian"}, fill={"name": "Nguyễn Thị Hoa"},
          check=[names["rehabilitation"], names["education"], names["health"]])
    w.act("record_consent", select={"given_by": "child"}, fill={"name": "Trần Văn Minh"})
    w.act("accept_for_intake")
    w.step_is("needs_assessment")
    with transaction(db) as s:
        services = {sv.code: (sv.name_vi if lang == "vi" else sv.name_en)
                    for sv in s.execute(sa.select(ServiceType)).scalars()}
    w.act("complete_assessment", check=[services["rehabilitation"], services["inclusive_education"]])
    w.step_is("care_plan_drafting")
    w.shot("case-drafting")
    w.act("submit_plan", fill={"goals": "Đi lại, đi học hòa nhập"})
    w.step_is("plan_awaiting_approval")
    # Lan may not approve her own plan: the button is not even offered to her
    assert page.locator('button[data-action="approve_plan"]').count() == 0
    w.shot("case-awaiting-approval")
    w.sign_out()

    # --- Ông Bình approves from his approvals page -------------------------------------------------------------
    w.sign_in("binh")
    w.go("/app/approvals")
    row = page.get_by_role("link", name=w.t("page.task.plan_awaiting_approval"))
    assert row.count() == 1
    w.shot("approvals")
    row.click()
    w.act("approve_plan", fill={"note": "Đồng ý"})
    w.step_is("in_care")
    w.sign_out()

    # --- Lan sends the two referrals the engine proposes -----------------------------------------------------
    w.sign_in("lan")
    page.goto(case_url)
    proposals = page.locator("form.proposal")
    assert proposals.count() == 2
    assert page.locator("form.proposal .why").first.inner_text().strip() != ""
    w.shot("case-proposals")
    for code in ("rehabilitation", "inclusive_education"):
        page.locator(f'button[data-service="{code}"]').click()
        page.wait_for_load_state()
        assert page.locator("div.error").count() == 0, page.locator("div.error").first.inner_text()
    assert page.locator("form.proposal").count() == 0
    with transaction(db) as s:
        refs = {r.service_code: (r.id, r.agency_code)
                for r in s.execute(sa.select(Referral).where(col(Referral.case_id) == case_id)).scalars()}
    health_ref, health_agency = refs["rehabilitation"]
    school_ref, _school_agency = refs["inclusive_education"]
    assert health_agency == "TYT-05443"
    # the delivery log on the case: each referral's notice to its agency, not sent yet
    log = page.locator("section[aria-labelledby=h-deliveries]")
    for ref in (health_ref, school_ref):
        row = log.locator("tr").filter(has=page.get_by_role("link", name=f"REF-{ref}"))
        assert w.t("page.notice.referral_requested") in row.inner_text()
        assert w.t("page.delivery.status.pending") in row.inner_text()
    w.shot("case-referred")
    w.sign_out()

    # the notices go out: the health station's to its (real, local) webhook
    station = WebhookReceiver().start()
    try:
        with transaction(db) as s:
            agency = s.get(Agency, "TYT-05443")
            assert agency is not None
            agency.notify_urls = [station.url()]
        deliver_due(db, utcnow(), base_url=w.base)
        assert [post.payload["title"] for post in station.snapshot()]
    finally:
        station.stop()

    # --- Anh Hùng at the health station: no physiotherapist this quarter, he declines ------------------------
    w.sign_in("hung")
    referrals_in = page.locator("table.list:not(.delivery-log)")
    link = referrals_in.get_by_role("link", name=f"REF-{health_ref}")
    assert link.is_visible()
    assert page.get_by_role("link", name=f"REF-{school_ref}").count() == 0  # not his agency's, nor sent to it
    assert "Trần Văn Minh" not in page.content()  # initials only for the agency
    # what was sent to the station: the new referral, delivered to its webhook; nothing of the school's
    received = page.locator("section[aria-labelledby=h-deliveries]")
    row = received.locator("tr").filter(has=page.get_by_role("link", name=f"REF-{health_ref}"))
    assert w.t("page.delivery.status.delivered") in row.inner_text()
    assert "✓" in row.inner_text() and "json://127.0.0.1" in row.inner_text()
    assert received.get_by_role("link", name=f"REF-{school_ref}").count() == 0
    w.shot("agency-inbox")
    link.click()
    # why the station was chosen, in the reader's language
    reason = page.locator("dl").get_by_text(re.compile("phụ trách|covers")).first.inner_text()
    assert ("phụ trách" in reason) == (lang == "vi") and ("covers" in reason) == (lang == "en"), reason
    w.shot("agency-referral")
    w.act("reject", select={"reason": "no_capacity"})
    assert page.locator("#referral-state").inner_text().startswith(STATE_LABELS["rejected"][pick])
    # the case itself is not his: the page does not exist for him
    page.goto(case_url)
    assert page.get_by_role("heading", name=w.t("page.not_found.title")).is_visible()
    w.shot("agency-case-not-found")
    w.sign_out()

    # --- Lan gets a task to refer again; the engine now proposes the province rehabilitation centre ----------
    w.sign_in("lan")
    again = page.get_by_role("link", name=re.compile(re.escape(w.t("page.task.refer_again"))))
    assert again.count() == 1
    w.shot("my-work-refer-again")
    again.click()
    proposal = page.locator("form.proposal").filter(has=page.locator('button[data-service="rehabilitation"]'))
    assert proposal.locator("input[type=radio]").first.get_attribute("value") == "PHCN-19"
    w.shot("case-proposal-again")
    proposal.locator('button[data-service="rehabilitation"]').click()
    page.wait_for_load_state()
    assert page.locator("div.error").count() == 0
    with transaction(db) as s:
        centre_ref = s.execute(sa.select(col(Referral.id)).where(col(Referral.case_id) == case_id,
                                                                 col(Referral.agency_code) == "PHCN-19")).scalar_one()
    w.sign_out()

    # --- the centre accepts, starts, pauses for Tết, resumes and completes with an outcome -------------------
    w.sign_in("tam")
    page.locator("table.list:not(.delivery-log)").get_by_role("link", name=f"REF-{centre_ref}").click()
    w.act("accept")
    w.act("start")
    w.act("hold", fill={"reason": "Gia đình về quê ăn Tết"})
    assert page.locator("#referral-state").inner_text().startswith(STATE_LABELS["on_hold"][pick])
    assert page.locator(".badge.paused").count() == 1  # the policy pauses the clock on hold
    w.shot("agency-referral-on-hold")
    w.act("resume")
    w.act("complete", select={"outcome": "delivered_fully"}, fill={"note": "Đã tập 12 buổi / 12 sessions"})
    assert page.locator("#referral-state").inner_text().startswith(STATE_LABELS["completed"][pick])
    w.shot("agency-referral-completed")
    w.sign_out()

    # --- the school does not answer: the sweep, a month later, escalates ------------------------------------
    later = utcnow() + timedelta(days=30)
    _sweep(db_url, later)
    # the agencies' notices go out to a (real, local) webhook; people have no address here, so theirs wait
    hooks = WebhookReceiver().start()
    try:
        with transaction(db) as s:
            for agency in s.execute(sa.select(Agency)).scalars():
                agency.notify_urls = [hooks.url()]
        deliver_due(db, later, base_url=w.base)
    finally:
        hooks.stop()
    w.sign_in("binh")
    as_of = later.astimezone(TZ).strftime("%d/%m/%Y")
    w.go(f"/app/overdue?as_of={as_of}")
    assert int(page.locator("#overdue-total").inner_text()) >= 1
    w.shot("overdue-dashboard")
    # on a phone, the tables keep their headings (they scroll sideways rather than lose them)
    page.set_viewport_size({"width": 390, "height": 844})
    headings = page.locator("table.list").first.locator("thead th")
    assert headings.count() >= 2 and headings.first.is_visible()
    w.shot("overdue-phone")
    page.set_viewport_size({"width": 1000, "height": 900})
    item = page.locator("li.overdue-item").filter(has=page.get_by_role("link", name=f"REF-{school_ref}"))
    assert item.count() == 1
    escalations = item.locator("ul.escalations li")
    assert escalations.count() >= 1
    escalated = w.t("page.rung.escalate")
    lines = [escalations.nth(i).inner_text() for i in range(escalations.count())]
    assert any(escalated in line for line in lines)
    # each rung says how far its notices got, as the outbox stands
    deadline_id = int(item.get_attribute("data-deadline") or 0)
    with transaction(db) as s:
        stood = {rung: by_status for (clock, rung), by_status in escalation_deliveries(s, {case_id}).items()
                 if clock == deadline_id}
    assert stood, "the sweep wrote notices for the school's clock"
    for by_status in stood.values():
        sent = by_status.get("delivered", 0) + by_status.get("digested", 0)
        assert any(w.t("page.overdue.delivered", sent=sent, total=sum(by_status.values())) in line for line in lines)
    # drill down by the school's agency row
    page.get_by_role("link", name=_school_name(db, lang)).first.click()
    page.wait_for_load_state()
    assert page.locator("li.overdue-item").filter(has=page.get_by_role("link", name=f"REF-{school_ref}")).count() == 1
    w.shot("overdue-drill-down")
    item = page.locator("li.overdue-item").filter(has=page.get_by_role("link", name=f"REF-{school_ref}"))
    item.locator("summary").click()
    item.get_by_label(w.t("page.field.reason_found")).fill("Hiệu trưởng đi công tác")
    item.get_by_label(w.t("page.field.action_taken")).fill("Đã gọi điện cho hiệu trưởng")
    tomorrow = (utcnow().astimezone(TZ) + timedelta(days=1)).strftime("%d/%m/%Y")
    item.get_by_label(w.t("page.field.follow_up_date")).fill(tomorrow)
    item.get_by_role("button", name=w.t("page.overdue.add_note")).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == w.t("page.done")
    noted = page.locator("li.overdue-item").filter(has=page.get_by_role("link", name=f"REF-{school_ref}"))
    assert "Đã gọi điện cho hiệu trưởng" in noted.locator("ul.notes").inner_text()
    w.shot("overdue-audit-note")
    w.go("/app/indicators")
    assert page.locator("figure.chart svg title").text_content() == w.t("page.indicators.title")
    registered = page.locator("#indicators tbody tr").first.locator("td").first.inner_text()
    assert int(registered) >= 1  # the boy registered today counts
    w.shot("indicators")
    w.go("/app/reports")
    page.get_by_role("button", name=w.t("page.reports.make")).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == w.t("page.done")
    with page.expect_download() as download_info:
        page.locator("#reports a").first.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    assert any("Chỉ tiêu" in str(cell.value) for sheet in workbook for row in sheet.iter_rows() for cell in row)
    w.shot("reports")
    w.sign_out()

    # --- Lan ends the school's referral and proposes closure; Bình approves -------------------------------
    w.sign_in("lan")
    page.goto(case_url)
    w.act("cancel", fill={"reason": "Gia đình chuyển trường / the family chose another school"})
    w.act("propose_closure", select={"reason": "goals_met"})
    w.step_is("closure_proposed")
    w.sign_out()
    w.sign_in("binh")
    page.goto(case_url)
    w.act("approve_closure", fill={"note": "Đóng hồ sơ"})
    w.step_is("closed")
    w.shot("case-closed")
    with transaction(db) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.step == "closed" and case.closed_at is not None
    w.sign_out()
    _administer_users(w, db)


def _administer_users(w: Walk, db: Engine) -> None:
    """Bà Quản, the province's administrator: a new caseworker for the commune, deactivated when she leaves,
    back again, her forgotten password reset; the trail says who did what."""
    page = w.page
    w.sign_in("quan")
    page.get_by_role("link", name=w.t("page.nav.users")).click()
    page.wait_for_load_state()
    users = page.locator("#users")
    for login in ("binh", "hung", "lan", "quan", "tam"):
        assert users.get_by_role("link", name=login, exact=True).count() == 1
    w.shot("users")
    page.get_by_role("search").get_by_label(w.t("page.field.role")).select_option("agency_staff")
    page.get_by_role("button", name=w.t("page.users.filter")).click()
    page.wait_for_load_state()
    assert [users.locator("tbody tr a").nth(i).inner_text() for i in range(users.locator("tbody tr").count())] == [
        "hung", "tam"]
    w.shot("users-agency-staff")

    page.locator("#add-user summary").click()
    add = page.locator("#add-user form")
    add.get_by_label(w.t("page.field.login")).fill("thu@05443")
    add.get_by_label(w.t("page.field.full_name")).fill("Vũ Thị Thu")
    add.get_by_label(w.t("page.field.role")).select_option("caseworker")
    add.get_by_label(w.t("page.field.unit_code")).select_option("05443")
    add.get_by_label(w.t("page.users.initial_password")).fill("12345678")  # too common: refused, said why
    add.get_by_role("button", name=w.t("page.users.add_submit")).click()
    page.wait_for_load_state()
    assert w.t("password.too_common") in page.locator("div.error").inner_text()
    with transaction(db) as s:
        assert s.execute(sa.select(User).where(col(User.login) == "thu@05443")).first() is None
    w.shot("users-weak-password")
    add.get_by_label(w.t("page.users.initial_password")).fill("mot cau mat khau cho Thu")  # the rest was kept
    add.get_by_role("button", name=w.t("page.users.add_submit")).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == w.t("page.done")
    assert page.get_by_role("heading", name=w.t("page.users.user_title", login="thu@05443")).is_visible()
    w.shot("user-added")

    page.locator('button[data-action="deactivate"]').click()
    page.wait_for_load_state()
    assert page.locator("#user-state").inner_text() == w.t("page.users.inactive")
    page.locator('button[data-action="reactivate"]').click()
    page.wait_for_load_state()
    assert page.locator("#user-state").inner_text() == w.t("page.users.active")
    page.locator("details.action summary").click()
    page.get_by_label(w.t("page.password.new")).fill("mat khau moi cua Thu")
    page.locator('button[data-action="reset_password"]').click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == w.t("page.done")
    trail = page.locator("#user-trail tbody tr")
    assert [trail.nth(i).locator("td").nth(1).inner_text() for i in range(trail.count())] == [
        w.t(f"page.user_event.{action}") for action in ("password_reset", "reactivated", "deactivated", "created")]
    assert all(trail.nth(i).locator("td").nth(2).inner_text() == "Lê Thị Quản" for i in range(trail.count()))
    w.shot("user-trail")
    w.sign_out()
    w.sign_in("thu@05443", "mat khau moi cua Thu")  # with the password she was given
    assert page.get_by_role("heading", name=w.t("page.work.title")).is_visible()
    assert page.get_by_role("link", name=w.t("page.nav.users")).count() == 0  # not hers to see


def _school_name(db: Engine, lang: str) -> str:
    with transaction(db) as s:
        agency = s.get(Agency, "TH-05443")
        assert agency is not None
        return agency.name_vi if lang == "vi" else (agency.name_en or agency.name_vi)
