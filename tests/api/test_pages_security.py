"""The pages' security and refusals over HTTP, on a real PostgreSQL and a real SQLite file.

Sign-in cookie flags, forged sessions, CSRF on every POST, scope (outside it a page is not found), the
language switch, and refusals that change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.pages import catalogue  # noqa: F401  (registers the page strings)
from api.pages.security import SESSION_COOKIE
from engine.db import transaction
from engine.i18n import term, translate
from engine.models import Case, Child, Event, LoginAttempt
from tests.support import pages
from tests.support.pages import login_csrf_of, login_post, page_case, page_client, register_form, sign_in
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE, PASSWORD, make_user

web, db = pages.web, pages.db  # the pages' fixtures, found by pytest under these names


@pytest.mark.parametrize("environment, secure", [("test", True), ("development", False)])
def test_sign_in_sets_a_hardened_session_cookie(
    db_url: str, tmp_path: Path, environment: Literal["development", "test"], secure: bool
) -> None:
    client, container = page_client(db_url, tmp_path, environment)
    with client:
        make_user(container.db, "lan", "caseworker")
        response = login_post(client, "lan")
        assert response.status_code == 303 and response.headers["location"] == "/app/"
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in flags and "samesite=lax" in flags
        assert ("secure" in flags) is secure
        page = client.get("/app/work")
        assert page.status_code == 200 and translate("page.work.title", "vi") in page.text
    container.dispose()


def test_wrong_password_is_refused_and_recorded(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    response = login_post(web, "lan", "not-the-password")
    assert response.status_code == 401
    assert translate("page.login.failed", "vi") in response.text
    assert SESSION_COOKIE not in response.cookies
    with transaction(db) as s:
        attempts = s.execute(sa.select(col(LoginAttempt.ok)).where(col(LoginAttempt.login) == "lan")).scalars().all()
    assert attempts == [False]
    assert web.get("/app/work", follow_redirects=False).status_code == 303


def test_sign_in_form_needs_its_own_csrf_token(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    login_csrf_of(web.get("/app/login").text)  # the cookie is set, but the form field is missing or wrong
    for token in ("", "forged"):
        response = web.post("/app/login", data={"login": "lan", "password": PASSWORD, "csrf": token},
                            follow_redirects=False)
        assert response.status_code == 403 and SESSION_COOKIE not in response.cookies
    web.cookies.clear()  # a field copied from another browser without its cookie does not pass either
    foreign = login_csrf_of(TestClient(web.app, base_url="https://testserver").get("/app/login").text)
    response = web.post("/app/login", data={"login": "lan", "password": PASSWORD, "csrf": foreign},
                        follow_redirects=False)
    assert response.status_code == 403
    with transaction(db) as s:  # refused before the password was even checked
        assert s.execute(sa.select(sa.func.count()).select_from(LoginAttempt)).scalar() == 0


def test_a_forged_or_foreign_cookie_is_no_session(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    sign_in(web, "lan")
    good = web.cookies.get(SESSION_COOKIE)
    assert good and web.get("/app/work", follow_redirects=False).status_code == 200
    body, signature = good.rsplit(".", 1)
    for forged in (f"{body}x.{signature}", f"{body}.{signature[:-2]}AA", "nothing"):
        web.cookies.clear()
        web.cookies.set(SESSION_COOKIE, forged, domain="testserver")
        response = web.get("/app/work", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/app/login")


def test_every_post_needs_the_session_csrf_token(web: TestClient, db: Engine) -> None:
    case_id = page_case(db)
    token = sign_in(web, f"cw-{COMMUNE_A}")
    payload = {"version": "1", "urgency": "normal", "assessment": "cannot walk unaided"}
    url = f"/app/cases/{case_id}/actions/verify"
    assert web.post(url, data=payload, follow_redirects=False).status_code == 403
    assert web.post(url, data={**payload, "csrf": token + "x"}, follow_redirects=False).status_code == 403
    # a token of another session of the same user does not pass either
    other = TestClient(web.app, base_url="https://testserver")
    other_token = sign_in(other, f"cw-{COMMUNE_A}")
    assert web.post(url, data={**payload, "csrf": other_token}, follow_redirects=False).status_code == 403
    with transaction(db) as s:
        assert s.get(Case, case_id).version == 1  # type: ignore[union-attr]
        events = sa.select(sa.func.count()).select_from(Event).where(col(Event.case_id) == case_id)
        assert s.execute(events).scalar() == 1
    done = web.post(url, data={**payload, "csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    with transaction(db) as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.step, case.version) == ("verified", 2)
    # signing out is a POST too
    assert web.post("/app/logout", data={}, follow_redirects=False).status_code == 403
    assert web.post("/app/logout", data={"csrf": token}, follow_redirects=False).status_code == 303


def test_pages_outside_the_users_scope_are_not_found(web: TestClient, db: Engine) -> None:
    case_id = page_case(db, COMMUNE_A)
    make_user(db, "far", "caseworker", unit=COMMUNE_B)
    make_user(db, "hung", "agency_staff", agency="TYT-05443")
    make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    not_found = translate("page.not_found.title", "vi")
    token = sign_in(web, "far")
    page = web.get(f"/app/cases/{case_id}")
    assert page.status_code == 404 and not_found in page.text
    assert web.get("/app/cases/999999").status_code == 404  # absent looks the same
    refused = web.post(f"/app/cases/{case_id}/actions/verify", data={
        "csrf": token, "version": "1", "urgency": "normal", "assessment": "x"}, follow_redirects=False)
    assert refused.status_code == 404
    assert web.get("/app/overdue").status_code == 404  # supervisors only
    assert web.get("/app/no/such/page").status_code == 404
    sign_in(web, "hung")
    assert web.get(f"/app/cases/{case_id}").status_code == 404  # agency staff read referrals, not cases
    assert web.get("/app/children?q=minh").status_code == 404
    sign_in(web, "binh")
    assert web.get(f"/app/cases/{case_id}").status_code == 200  # the province's supervisor sees the commune
    with transaction(db) as s:
        assert s.get(Case, case_id).version == 1  # type: ignore[union-attr]


def test_language_switch_is_remembered(web: TestClient, db: Engine) -> None:
    page = web.get("/app/login")
    assert '<html lang="vi">' in page.text and translate("page.login.title", "vi") in page.text
    page = web.get("/app/login?lang=en")
    assert '<html lang="en">' in page.text and translate("page.login.title", "en") in page.text
    assert web.cookies.get("ketnoi_lang") == "en"
    page = web.get("/app/login")
    assert '<html lang="en">' in page.text
    page = web.get("/app/login?lang=vi")
    assert '<html lang="vi">' in page.text


def test_sign_in_never_redirects_off_site(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    for target in ("https://evil.example/", "//evil.example/app/", "/app//evil.example", "/api/v1/children"):
        response = login_post(web, "lan", next=target)
        assert response.headers.get("location") == "/app/", target
    response = login_post(web, "lan", next="/app/children")
    assert response.headers["location"] == "/app/children"


def _children(db: Engine) -> int:
    with transaction(db) as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(Child)).scalar() or 0)


def test_register_warns_of_a_possible_duplicate_then_accepts_a_confirmation(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    token = sign_in(web, "lan")
    first = web.post("/app/children", data=register_form(token), follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/app/cases/")
    # the same child typed without diacritics and in capitals is a possible duplicate
    again = web.post("/app/children", data=register_form(token, full_name="TRAN VAN MINH"), follow_redirects=False)
    assert again.status_code == 409
    assert translate("possible_duplicate", "vi") in again.text
    assert 'name="confirm_duplicate" value="1"' in again.text and "Trần Văn Minh" in again.text
    assert _children(db) == 1
    confirmed = web.post("/app/children", data=register_form(token, full_name="TRAN VAN MINH", confirm_duplicate="1"),
                         follow_redirects=False)
    assert confirmed.status_code == 303
    assert _children(db) == 2
    found = web.get("/app/children?q=tran van minh")
    assert found.text.count("KN-") >= 2


def test_bad_input_is_refused_and_changes_nothing(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    token = sign_in(web, "lan")
    broken: dict[str, Any]
    for broken in ({"date_of_birth": "31/02/2019"}, {"disability_types": []}, {"source": "rumour"},
                   {"personal_id": "123"}):
        response = web.post("/app/children", data=register_form(token, **broken), follow_redirects=False)  # type: ignore[arg-type]
        assert response.status_code == 422, broken
        assert 'class="error"' in response.text
    assert _children(db) == 0
    # a commune outside the caseworker's area is not found
    outside = web.post("/app/children", data=register_form(token, commune_code=COMMUNE_B), follow_redirects=False)
    assert outside.status_code == 404
    assert _children(db) == 0


def test_a_refused_or_stale_transition_is_explained_and_changes_nothing(web: TestClient, db: Engine) -> None:
    case_id = page_case(db)
    token = sign_in(web, f"cw-{COMMUNE_A}", lang="en")
    url = f"/app/cases/{case_id}/actions"
    missing = web.post(f"{url}/verify?lang=en", data={"csrf": token, "version": "1", "urgency": "normal"},
                       follow_redirects=False)
    assert missing.status_code == 422
    assert translate("guard.payload_missing", "en", field=term("guard.field", "assessment")) in missing.text
    assert "missing: assessment." not in missing.text  # the field by its name, not its code
    stale = web.post(f"{url}/verify?lang=en", data={"csrf": token, "version": "7", "urgency": "normal",
                                                    "assessment": "x"}, follow_redirects=False)
    assert stale.status_code == 409
    assert translate("stale_version", "en", current=1, expected=7) in stale.text
    with transaction(db) as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.step, case.version) == ("reported", 1)
