"""The user administration pages over HTTP, on a real PostgreSQL and a real SQLite file: an administrator lists
the users of their area, adds one, deactivates, reactivates and resets a password through the forms, and reads
the trail; a form without its CSRF token, a weak password, a user outside the area and other roles change
nothing."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col

from engine.audit import user_timeline
from engine.db import transaction
from engine.i18n import translate
from engine.models import User
from engine.users import add_user, verify_password
from tests.support import pages
from tests.support.pages import csrf_of, sign_in
from tests.support.people import COMMUNE_A, DEMO_PROVINCE, PASSWORD, make_user

web, db = pages.web, pages.db  # the pages' fixtures, found by pytest under these names

OTHER_PROVINCE = "01"  # Hà Nội: outside the administrator's province (19)
COMMUNE_A_NAME = "Phường Phan Đình Phùng"
ADMIN_NAME = "Lê Thị Quản"
NEW_PASSWORD = "mot cau mat khau moi"
TRAIL_ROW = re.compile(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>")


def _admin(db: Engine) -> int:
    with transaction(db) as s:
        admin = add_user(s, login="quan", password=PASSWORD, role="admin", unit_code=DEMO_PROVINCE,
                         full_name=ADMIN_NAME)
        assert admin.id is not None
        return admin.id


def _user(db: Engine, login: str) -> User:
    with transaction(db) as s:
        user = s.execute(sa.select(User).where(col(User.login) == login)).scalar_one_or_none()
        assert user is not None, login
        return user


def _count_users(db: Engine) -> int:
    with transaction(db) as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(User)).scalar() or 0)


def _actions(db: Engine, user_id: int) -> list[str]:
    with transaction(db) as s:
        return [e.action for e in user_timeline(s, user_id)]


def _trail_on_page(text: str) -> list[tuple[str, str]]:
    """The trail table of a user's page, newest first: (what, who)."""
    table = text[text.index('id="user-trail"'):]
    return [(what, who) for _when, what, who in TRAIL_ROW.findall(html.unescape(table[:table.index("</table>")]))]


def _listed(text: str) -> list[str]:
    table = text[text.index('id="users"'):]
    return re.findall(r'<a href="/app/users/\d+">([^<]+)</a>', table[:table.index("</table>")])


def test_an_admin_lists_the_users_of_their_area_by_role_and_state(web: TestClient, db: Engine) -> None:
    _admin(db)
    make_user(db, "lan", "caseworker")
    make_user(db, "hung", "agency_staff", agency="TYT-05443")
    make_user(db, "an@hanoi", "supervisor", unit=OTHER_PROVINCE)
    sign_in(web, "quan")
    home = web.get("/app/", follow_redirects=False)  # an administrator's work starts here
    assert home.status_code == 303 and home.headers["location"] == "/app/users"
    for lang in ("vi", "en"):
        page = web.get(f"/app/users?lang={lang}")
        assert page.status_code == 200 and translate("page.users.title", lang) in page.text
        assert f'href="/app/users">{translate("page.nav.users", lang)}</a>' in page.text  # the admin's menu link
        assert 'href="/app/approvals"' not in page.text  # approvals wait on supervisors, never on an admin
        assert _listed(page.text) == ["hung", "lan", "quan"]  # by login; Hà Nội's supervisor is not in the area
        text = html.unescape(page.text)
        assert COMMUNE_A_NAME in text and translate("page.role.agency_staff", lang) in text
    only_staff = web.get("/app/users?role=agency_staff&lang=vi")
    assert _listed(only_staff.text) == ["hung"]
    assert "Trạm Y tế" in html.unescape(only_staff.text)  # the agency by name
    with transaction(db) as s:
        s.execute(sa.update(User).where(col(User.login) == "lan").values(active=False))
    assert _listed(web.get("/app/users?active=false").text) == ["lan"]
    assert _listed(web.get("/app/users?active=true").text) == ["hung", "quan"]
    nobody = web.get("/app/users?role=caseworker&active=true").text
    assert 'id="users"' not in nobody and translate("page.users.none", "vi") in nobody


def test_an_admin_adds_a_user_through_the_form(web: TestClient, db: Engine) -> None:
    admin_id = _admin(db)
    sign_in(web, "quan")
    token = csrf_of(web.get("/app/users").text)
    form = {"csrf": token, "login": "mai@05443", "full_name": "Đỗ Thị Mai", "role": "agency_staff",
            "unit_code": COMMUNE_A, "agency_code": "TYT-05443", "email": "mai@example.vn", "language": "en",
            "password": NEW_PASSWORD}
    added = web.post("/app/users", data=form, follow_redirects=False)
    assert added.status_code == 303, added.text
    mai = _user(db, "mai@05443")
    assert added.headers["location"] == f"/app/users/{mai.id}?done=1"
    assert (mai.full_name, mai.role, mai.unit_code, mai.agency_code, mai.email, mai.language, mai.active) == (
        "Đỗ Thị Mai", "agency_staff", COMMUNE_A, "TYT-05443", "mai@example.vn", "en", True)
    assert verify_password(mai.password_hash, NEW_PASSWORD)
    page = web.get(added.headers["location"])
    assert page.status_code == 200 and translate("page.done", "vi") in page.text
    assert _trail_on_page(page.text) == [(translate("page.user_event.created", "vi"), ADMIN_NAME)]
    assert NEW_PASSWORD not in page.text
    assert mai.id is not None and _actions(db, mai.id) == ["created"]
    with transaction(db) as s:
        assert user_timeline(s, mai.id)[0].actor_id == admin_id
    sign_in(web, "mai@05443", NEW_PASSWORD)  # she signs in with the password given


def test_an_admin_deactivates_reactivates_and_resets_a_password_through_the_forms(
    web: TestClient, db: Engine
) -> None:
    _admin(db)
    lan_id = make_user(db, "lan", "caseworker").user_id
    lans_browser = TestClient(web.app, base_url="https://testserver")
    sign_in(lans_browser, "lan")
    sign_in(web, "quan")
    url = f"/app/users/{lan_id}"
    token = csrf_of(web.get(url).text)

    off = web.post(f"{url}/deactivate", data={"csrf": token}, follow_redirects=False)
    assert off.status_code == 303 and off.headers["location"] == f"{url}?done=1"
    assert _user(db, "lan").active is False
    assert lans_browser.get("/app/work", follow_redirects=False).status_code == 303  # her session has ended
    page = web.get(url)
    assert translate("page.users.inactive", "vi") in page.text and f'action="{url}/reactivate"' in page.text
    assert f'action="{url}/deactivate"' not in page.text

    on = web.post(f"{url}/reactivate", data={"csrf": token}, follow_redirects=False)
    assert on.status_code == 303 and _user(db, "lan").active is True

    reset = web.post(f"{url}/password", data={"csrf": token, "new_password": NEW_PASSWORD}, follow_redirects=False)
    assert reset.status_code == 303 and reset.headers["location"] == f"{url}?done=1"
    assert verify_password(_user(db, "lan").password_hash, NEW_PASSWORD)
    sign_in(lans_browser, "lan", NEW_PASSWORD)

    assert lan_id is not None
    assert _actions(db, lan_id) == ["created", "deactivated", "reactivated", "password_reset"]
    for lang in ("vi", "en"):
        page = web.get(f"{url}?lang={lang}")
        assert _trail_on_page(page.text) == [
            (translate("page.user_event.password_reset", lang), ADMIN_NAME),
            (translate("page.user_event.reactivated", lang), ADMIN_NAME),
            (translate("page.user_event.deactivated", lang), ADMIN_NAME),
            (translate("page.user_event.created", lang), translate("page.users.operator", lang)),  # a test helper
        ]
        assert NEW_PASSWORD not in page.text and PASSWORD not in page.text and "hash" not in page.text


def test_a_form_without_the_csrf_token_changes_nothing(web: TestClient, db: Engine) -> None:
    _admin(db)
    lan_id = make_user(db, "lan", "caseworker").user_id
    token = sign_in(web, "quan")
    other_session = sign_in(TestClient(web.app, base_url="https://testserver"), "quan")
    before = _count_users(db)
    posts = {"/app/users": {"login": "mai@05443", "role": "caseworker", "unit_code": COMMUNE_A,
                            "password": NEW_PASSWORD},
             f"/app/users/{lan_id}/deactivate": {},
             f"/app/users/{lan_id}/password": {"new_password": NEW_PASSWORD}}
    for path, form in posts.items():
        for bad in ({}, {"csrf": token + "x"}, {"csrf": other_session}):
            refused = web.post(path, data={**form, **bad}, follow_redirects=False)
            assert refused.status_code == 403, (path, bad)
            assert translate("page.csrf_failed", "vi") in refused.text
    lan = _user(db, "lan")
    assert _count_users(db) == before and lan.active is True and verify_password(lan.password_hash, PASSWORD)
    assert lan_id is not None and _actions(db, lan_id) == ["created"]
    # the same forms with the token do it (so the refusals above were the token's)
    assert web.post(f"/app/users/{lan_id}/deactivate", data={"csrf": token},
                    follow_redirects=False).status_code == 303
    assert web.post(f"/app/users/{lan_id}/reactivate", data={}, follow_redirects=False).status_code == 403
    assert _user(db, "lan").active is False


def test_a_refused_form_says_why_on_the_page_and_changes_nothing(web: TestClient, db: Engine) -> None:
    admin_id = _admin(db)
    lan_id = make_user(db, "lan", "caseworker").user_id
    token = sign_in(web, "quan")
    before = _count_users(db)
    form = {"csrf": token, "login": "mai@05443", "full_name": "Đỗ Thị Mai", "role": "caseworker",
            "unit_code": COMMUNE_A, "email": "mai@example.vn", "language": "vi"}
    for lang in ("vi", "en"):
        weak = web.post(f"/app/users?lang={lang}", data={**form, "password": "12345678"})
        assert weak.status_code == 422
        text = html.unescape(weak.text)
        assert translate("password.too_common", lang) in text and 'class="error"' in text
        assert '<details class="action" id="add-user" open>' in text  # the form is shown open, with why
        assert 'value="mai@05443"' in text and 'value="Đỗ Thị Mai"' in text  # what was typed is kept...
        assert "12345678" not in text  # ...but never a password
        taken = web.post(f"/app/users?lang={lang}", data={**form, "login": "lan", "password": NEW_PASSWORD})
        assert taken.status_code == 422 and "lan" in html.unescape(taken.text)
        assert ("đã có người dùng" if lang == "vi" else "is taken") in html.unescape(taken.text)
        short = web.post(f"/app/users?lang={lang}", data={**form, "login": "m", "password": NEW_PASSWORD})
        assert short.status_code == 422  # the API's bounds, said with the field's label
        assert f"{translate('page.field.login', lang)}: {translate('page.invalid.empty', lang)}" in html.unescape(
            short.text)
    assert _count_users(db) == before

    url = f"/app/users/{lan_id}"
    weak_reset = web.post(f"{url}/password?lang=en", data={"csrf": token, "new_password": "12345678"})
    assert weak_reset.status_code == 422
    assert translate("password.too_common", "en") in html.unescape(weak_reset.text)
    assert "12345678" not in weak_reset.text and '<details class="action" open>' in weak_reset.text
    assert verify_password(_user(db, "lan").password_hash, PASSWORD)
    # nobody locks themselves out: the service refuses, the page says so
    self_off = web.post(f"/app/users/{admin_id}/deactivate?lang=en", data={"csrf": token})
    assert self_off.status_code == 422
    assert translate("user.not_yourself", "en", action="deactivate") in html.unescape(self_off.text)
    assert _user(db, "quan").active is True
    assert lan_id is not None and _actions(db, lan_id) == ["created"] and _actions(db, admin_id) == ["created"]


def test_a_user_outside_the_area_is_not_found(web: TestClient, db: Engine) -> None:
    _admin(db)
    outsider_id = make_user(db, "an@hanoi", "supervisor", unit=OTHER_PROVINCE).user_id
    token = sign_in(web, "quan")
    not_found = translate("page.not_found.title", "vi")
    for path in (f"/app/users/{outsider_id}", "/app/users/999999", "/app/users/abc"):
        page = web.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert not_found in page.text and "an@hanoi" not in page.text
    for action, form in (("deactivate", {}), ("reactivate", {}), ("password", {"new_password": NEW_PASSWORD})):
        refused = web.post(f"/app/users/{outsider_id}/{action}", data={"csrf": token, **form})
        assert refused.status_code == 404 and not_found in refused.text, action
    # placing a new user in a unit outside the area (a forged form: the page offers only the area's units)
    before = _count_users(db)
    outside = web.post("/app/users", data={"csrf": token, "login": "mai@hanoi", "role": "caseworker",
                                           "unit_code": OTHER_PROVINCE, "password": NEW_PASSWORD})
    assert outside.status_code == 404 and not_found in outside.text
    assert _count_users(db) == before
    outsider = _user(db, "an@hanoi")
    assert outsider.active is True and verify_password(outsider.password_hash, PASSWORD)
    assert outsider_id is not None and _actions(db, outsider_id) == ["created"]


def test_other_roles_get_the_not_found_page(web: TestClient, db: Engine) -> None:
    _admin(db)
    lan_id = make_user(db, "lan", "caseworker").user_id
    make_user(db, "binh", "supervisor", unit=DEMO_PROVINCE)
    make_user(db, "hung", "agency_staff", agency="TYT-05443")
    before = _count_users(db)
    for login in ("lan", "binh", "hung"):
        token = sign_in(web, login)
        assert 'href="/app/users"' not in web.get("/app/work").text  # no menu link either
        for path in ("/app/users", f"/app/users/{lan_id}"):
            page = web.get(path)
            assert page.status_code == 404 and translate("page.not_found.title", "vi") in page.text, (login, path)
        added = web.post("/app/users", data={"csrf": token, "login": "mai@05443", "role": "caseworker",
                                             "unit_code": COMMUNE_A, "password": NEW_PASSWORD})
        assert added.status_code == 404
        assert web.post(f"/app/users/{lan_id}/deactivate", data={"csrf": token}).status_code == 404
    assert _count_users(db) == before and _user(db, "lan").active is True
