"""Pages name things in words and keep people's work: places by name, every task kind labelled, a malformed
address is a page (not JSON), the language link after a refused form goes back to that form's page, and a
refused audit note keeps what was typed. Over HTTP, on PostgreSQL and SQLite."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.pages.common import reason_label
from engine import tasks
from engine.db import transaction, utcnow
from engine.i18n import translate
from engine.models import Event
from referrals.lifecycle import REASON_LABELS
from tests.support import pages
from tests.support.pages import page_case, register_form, sign_in
from tests.support.people import COMMUNE_A, DEMO_PROVINCE, make_user

web, db = pages.web, pages.db  # the pages' fixtures, found by pytest under these names

COMMUNE_A_NAME = "Phường Phan Đình Phùng"
SWITCH = re.compile(r'<a href="([^"]*)" lang="(?:en|vi)" hreflang=')  # the header's language link


def test_search_results_name_the_commune(web: TestClient, db: Engine) -> None:
    page_case(db, COMMUNE_A)  # Trần Văn Minh, of commune A
    sign_in(web, f"cw-{COMMUNE_A}")
    page = web.get("/app/children?q=tran van minh")
    assert page.status_code == 200
    assert f"02/05/2019 · {COMMUNE_A_NAME}" in html.unescape(page.text)


def test_an_escalation_task_is_labelled(web: TestClient, db: Engine) -> None:
    case_id = page_case(db, COMMUNE_A)
    binh = make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    with transaction(db) as s:
        tasks.open_task(s, case_id=case_id, kind="escalation", now=utcnow(), due_at=None, owner_user_id=binh.user_id)
    for lang in ("vi", "en"):
        sign_in(web, "binh")
        page = html.unescape(web.get(f"/app/work?lang={lang}").text)
        assert translate("page.task.escalation", lang) in page
        assert not re.search(r">\s*escalation\s*<", page)


def test_a_coded_reason_with_its_explanation_reads_in_words() -> None:
    code = "no_capacity"
    assert code in REASON_LABELS
    for index, lang in enumerate(("vi", "en")):
        assert reason_label(f"{code}: Không có kỹ thuật viên", lang) == (
            f"{REASON_LABELS[code][index]}: Không có kỹ thuật viên")
    assert reason_label("a: b", "vi") == "a: b"  # free text that merely has a colon stays as written


def test_a_malformed_page_address_is_the_not_found_page(web: TestClient, db: Engine) -> None:
    page_case(db, COMMUNE_A)
    sign_in(web, f"cw-{COMMUNE_A}")
    for path in ("/app/cases/abc", "/app/referrals/abc"):
        page = web.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert translate("page.not_found.title", "vi") in page.text


def test_the_language_link_after_a_refused_form_leads_back_to_its_page(web: TestClient, db: Engine) -> None:
    case_id = page_case(db, COMMUNE_A)
    token = sign_in(web, f"cw-{COMMUNE_A}")
    refused = web.post(f"/app/cases/{case_id}/actions/accept_for_intake", data={"csrf": token, "version": "1"},
                       headers={"Referer": f"http://testserver/app/cases/{case_id}?done=1"})
    assert refused.status_code == 422
    link = SWITCH.search(refused.text)
    assert link is not None and html.unescape(link.group(1)) == f"/app/cases/{case_id}?lang=en"
    assert web.get(html.unescape(link.group(1))).status_code == 200  # (the pages are in English from here)
    # without a Referer of ours, the start page
    refused = web.post(f"/app/cases/{case_id}/actions/accept_for_intake", data={"csrf": token, "version": "1"},
                       headers={"Referer": "https://elsewhere.example/app/cases/1"})
    link = SWITCH.search(refused.text)
    assert link is not None and html.unescape(link.group(1)) == "/app/?lang=vi"


def test_a_refused_audit_note_keeps_what_was_typed_and_says_why(web: TestClient, db: Engine) -> None:
    case_id = page_case(db, COMMUNE_A)  # its verification clock runs out in three working days
    make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    token = sign_in(web, "binh")
    as_of = (utcnow() + timedelta(days=30)).strftime("%d/%m/%Y")
    board = web.get(f"/app/overdue?as_of={as_of}").text
    deadline = re.search(r'data-deadline="(\d+)"', board)
    assert deadline is not None, "the case's clock is overdue a month on"
    form = {"csrf": token, "deadline_id": deadline.group(1), "as_of": as_of, "unit": COMMUNE_A,
            "reason_found": "Cán bộ nghỉ phép", "action_taken": "Đã gọi điện nhắc", "follow_up_date": "32/13/2027"}
    refused = web.post("/app/overdue/notes", data=form)
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    assert translate("page.overdue.bad_date", "vi", date="32/13/2027") in page
    assert "Cán bộ nghỉ phép</textarea>" in page and "Đã gọi điện nhắc</textarea>" in page
    assert 'value="32/13/2027"' in page and "<details open>" in page
    with transaction(db) as s:
        notes = s.execute(sa.select(sa.func.count()).select_from(Event).where(Event.entity == "audit")).scalar()
    assert notes == 0
    # a past date is named as people write dates
    refused = web.post("/app/overdue/notes", data={**form, "follow_up_date": "01/01/2020"})
    assert "01/01/2020" in html.unescape(refused.text) and "2020-01-01" not in refused.text
    # once saved, the dashboard comes back filtered as it was
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%d/%m/%Y")
    saved = web.post("/app/overdue/notes", data={**form, "follow_up_date": tomorrow}, follow_redirects=False)
    assert saved.status_code == 303 and f"unit={COMMUNE_A}" in saved.headers["location"]
    with transaction(db) as s:
        noted = s.execute(sa.select(Event.case_id).where(Event.entity == "audit")).scalars().all()
    assert noted == [case_id]


def test_the_admin_sees_overdue_totals_without_dead_ends(web: TestClient, db: Engine) -> None:
    page_case(db, COMMUNE_A)
    make_user(db, "admin", "admin", unit=DEMO_PROVINCE)
    sign_in(web, "admin")
    as_of = (utcnow() + timedelta(days=30)).strftime("%d/%m/%Y")
    page = web.get(f"/app/overdue?as_of={as_of}")
    assert page.status_code == 200 and 'id="overdue-total"' in page.text
    assert "/app/cases/" not in page.text and "/app/overdue/notes" not in page.text


def test_indicator_shares_are_written_as_each_language_writes_numbers(web: TestClient, db: Engine) -> None:
    page_case(db, COMMUNE_A)
    make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    sign_in(web, "binh")
    vi = web.get("/app/indicators?lang=vi").text
    en = web.get("/app/indicators?lang=en").text
    assert re.search(r">\d+,\d%<", vi) and not re.search(r">\d+\.\d%<", vi)  # 0,0% in Vietnamese
    assert re.search(r">\d+\.\d%<", en) and not re.search(r">\d+,\d%<", en)


def test_a_refused_registration_says_why_in_the_readers_language(web: TestClient, db: Engine) -> None:

    make_user(db, "lan", "caseworker")
    token = sign_in(web, "lan")
    future = (utcnow() + timedelta(days=400)).strftime("%d/%m/%Y")
    cases = [({"date_of_birth": "31/02/2019"}, "page.invalid.date", {}),
             ({"date_of_birth": future}, "page.invalid.future_birth", {}),
             ({"personal_id": "123"}, "personal_id_invalid", {}),
             ({"disability_types": []}, "page.invalid.choose_one", {}),
             ({"guardian_phone": "0" * 31}, "page.invalid.too_long", {"max_length": 30})]
    for lang in ("vi", "en"):
        for broken, key, params in cases:
            form = register_form(token, **broken)
            response = web.post(f"/app/children?lang={lang}", data=form)  # type: ignore[arg-type]
            assert response.status_code == 422, broken
            page = html.unescape(response.text)
            assert translate(key, lang, **params) in page, (lang, broken)
            for english in ("Input should", "Value error", "List should", "String should", "page.field."):
                assert english not in page, (lang, broken, english)


def test_a_refused_action_shows_its_form_again_as_it_was_filled(web: TestClient, db: Engine) -> None:
    case_id = page_case(db, COMMUNE_A)
    token = sign_in(web, f"cw-{COMMUNE_A}")
    refused = web.post(f"/app/cases/{case_id}/actions/verify",
                       data={"csrf": token, "version": "1", "urgency": "urgent", "assessment": ""})
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    form = page[page.index(f'action="/app/cases/{case_id}/actions/verify"'):]
    form = form[:form.index("</form>")]
    assert '<option value="urgent" selected>' in form  # the choice made is kept
    assert "<details class=\"action\" open>" in page[:page.index(f'action="/app/cases/{case_id}/actions/verify"')]
    # and a fresh page shows it empty again
    fresh = html.unescape(web.get(f"/app/cases/{case_id}").text)
    assert '<option value="urgent" selected>' not in fresh and '<details class="action" open>' not in fresh
