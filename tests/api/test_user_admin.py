"""User administration over HTTP, on PostgreSQL and SQLite: administrators manage only the users of their own
area (outside it a user, unit or agency is not found), deactivate, reactivate and reset passwords; everyone
changes their own password giving the current one; every act is in the user trail (never a password); signing
out, a password change or reset and a deactivation end the user's sessions and tokens everywhere."""

from __future__ import annotations

import json

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.pages.security import SESSION_COOKIE
from engine.audit import user_timeline
from engine.db import transaction
from engine.i18n import translate
from engine.models import Agency, LoginAttempt, User, UserEvent
from engine.users import MIN_PASSWORD_LENGTH, verify_password
from tests.api.conftest import People, assert_problem, sign_in
from tests.support import pages
from tests.support.pages import csrf_of
from tests.support.pages import sign_in as page_sign_in
from tests.support.people import COMMUNE_A, PASSWORD, make_user

web, db = pages.web, pages.db  # the pages' fixtures, found by pytest under these names

OTHER_PROVINCE = "01"  # Hà Nội: outside the demo province (19) of the test administrator
NEW_PASSWORD = "mot cau mat khau moi"
USERS = "/api/v1/users"


def _trail(engine: Engine, user_id: int) -> list[UserEvent]:
    with transaction(engine) as s:
        return user_timeline(s, user_id)


def _no_password_in(events: list[UserEvent], *passwords: str) -> None:
    text = json.dumps([e.payload for e in events], ensure_ascii=False)
    assert "password_hash" not in text and not any(p in text for p in passwords)


# --- the administrator's area ----------------------------------------------------------------------


def test_an_administrator_lists_and_reads_only_the_users_of_their_area(
    client: TestClient, people: People, engine_: Engine
) -> None:
    outsider = make_user(engine_, "an@hanoi", "supervisor", unit=OTHER_PROVINCE)
    listed = client.get(USERS, headers=people["admin"])
    assert listed.status_code == 200
    logins = [u["login"] for u in listed.json()]
    assert logins == sorted(logins) and "caseworker@test" in logins and "an@hanoi" not in logins
    assert all("password" not in key for u in listed.json() for key in u)
    only = client.get(f"{USERS}?role=agency_staff&active=true", headers=people["admin"]).json()
    assert {u["login"] for u in only} == {"agency@test", "agency_other@test"}
    assert client.get(f"{USERS}/{people.ids['caseworker']}", headers=people["admin"]).json()["login"] == (
        "caseworker@test")
    assert_problem(client.get(f"{USERS}/{outsider.user_id}", headers=people["admin"]), 404, "not_found")
    assert_problem(client.get(f"{USERS}/999999", headers=people["admin"]), 404, "not_found")
    for who in ("caseworker", "supervisor", "agency"):
        assert_problem(client.get(USERS, headers=people[who]), 403, "forbidden_role")


def test_agency_staff_belong_to_their_agencys_unit_and_only_they_have_an_agency(
    client: TestClient, people: People, engine_: Engine
) -> None:
    staff = {"login": "thu@th-05443", "password": "mot-mat-khau-dai", "role": "agency_staff", "unit_code": "19",
             "agency_code": "TH-05443"}
    elsewhere = assert_problem(client.post(USERS, json=staff, headers=people["admin"]), 422, "invalid_input")
    assert "TH-05443" in elsewhere["detail"] and COMMUNE_A in elsewhere["detail"]
    caseworker = {**staff, "role": "caseworker", "unit_code": COMMUNE_A}
    assert_problem(client.post(USERS, json=caseworker, headers=people["admin"]), 422, "invalid_input")
    with engine_.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(User).where(
            col(User.login) == "thu@th-05443")).scalar_one() == 0
    made = client.post(USERS, json={**staff, "unit_code": COMMUNE_A}, headers=people["admin"])
    assert made.status_code == 201 and made.json()["agency_code"] == "TH-05443", made.text


def test_an_administrator_reads_a_users_trail_without_any_password(client: TestClient, people: People) -> None:
    body = {"login": "lan@05443", "password": "mot-mat-khau-dai", "role": "caseworker", "unit_code": COMMUNE_A}
    user_id = client.post(USERS, json=body, headers=people["admin"]).json()["id"]
    assert client.post(f"{USERS}/{user_id}/deactivate", headers=people["admin"]).status_code == 200
    assert client.post(f"{USERS}/{user_id}/password", json={"new_password": NEW_PASSWORD},
                       headers=people["admin"]).status_code == 204
    trail = client.get(f"{USERS}/{user_id}/events", headers=people["admin"])
    assert trail.status_code == 200, trail.text
    events = trail.json()
    assert [e["action"] for e in events] == ["created", "deactivated", "password_reset"]
    assert {(e["actor_id"], e["actor_role"]) for e in events} == {(people.ids["admin"], "admin")}
    assert events[0]["payload"]["login"] == "lan@05443"
    assert body["password"] not in trail.text and NEW_PASSWORD not in trail.text and "hash" not in trail.text
    assert_problem(client.get(f"{USERS}/999999/events", headers=people["admin"]), 404, "not_found")


def test_an_administrator_creates_users_only_in_their_area_and_the_act_is_recorded(
    client: TestClient, people: People, engine_: Engine
) -> None:
    body = {"login": "mai@05443", "password": "mot-mat-khau-dai", "role": "supervisor", "unit_code": COMMUNE_A,
            "full_name": "Đỗ Thị Mai"}
    # another province: not found, as anything outside one's area; an unknown unit: a clear refusal
    outside = client.post(USERS, json={**body, "unit_code": OTHER_PROVINCE}, headers=people["admin"])
    assert "Hà Nội" not in outside.text and assert_problem(outside, 404, "not_found")
    unknown = assert_problem(client.post(USERS, json={**body, "unit_code": "99999"}, headers=people["admin"]),
                             422, "invalid_input")
    assert "99999" in unknown["detail"]
    # an agency located outside the area (made by the other province, here straight in the database) cannot be
    # given staff from inside it either, nor be created or changed by this administrator
    with transaction(engine_) as s:
        s.add(Agency(code="TYT-HN-1", name_vi="Trạm Y tế Hà Nội", unit_code=OTHER_PROVINCE))
    elsewhere = {"code": "TYT-HN-2", "name_vi": "Trạm Y tế Hà Nội 2", "unit_code": OTHER_PROVINCE}
    assert_problem(client.post("/api/v1/agencies", json=elsewhere, headers=people["admin"]), 404, "not_found")
    assert_problem(client.post("/api/v1/agencies", headers=people["admin"],
                               json={**elsewhere, "unit_code": COMMUNE_A, "areas": [OTHER_PROVINCE]}), 404, "not_found")
    assert_problem(client.patch("/api/v1/agencies/TYT-HN-1", json={"emails": ["thu@example.vn"]},
                                headers=people["admin"]), 404, "not_found")
    with transaction(engine_) as s:
        unchanged = s.get(Agency, "TYT-HN-1")
        assert s.get(Agency, "TYT-HN-2") is None and unchanged is not None and unchanged.emails == []
    staff = {**body, "role": "agency_staff", "agency_code": "TYT-HN-1"}
    assert_problem(client.post(USERS, json=staff, headers=people["admin"]), 404, "not_found")
    with engine_.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(User).where(
            col(User.login) == "mai@05443")).scalar_one() == 0

    made = client.post(USERS, json=body, headers=people["admin"])
    assert made.status_code == 201, made.text
    assert made.headers["location"] == f"{USERS}/{made.json()['id']}"
    assert client.get(made.headers["location"], headers=people["admin"]).status_code == 200
    [created] = _trail(engine_, made.json()["id"])
    assert (created.action, created.actor_id, created.actor_role) == ("created", people.ids["admin"], "admin")
    assert created.payload == {"login": "mai@05443", "role": "supervisor", "unit_code": COMMUNE_A,
                               "agency_code": None}
    _no_password_in([created], body["password"])


def test_weak_passwords_are_refused_in_both_languages(client: TestClient, people: People) -> None:
    body = {"login": "thanh.nguyen", "role": "caseworker", "unit_code": COMMUNE_A, "full_name": "Nguyễn Văn Thành"}
    cases = {
        "thanh.nguyen2026": "password.has_login",
        "NguyenVanThanh!": "password.has_name",
        "nguyễn văn thành": "password.has_name",
        "Password123": "password.too_common",
        "anhyeuem123": "password.too_common",
    }
    for password, code in cases.items():
        for lang in ("vi", "en"):
            response = client.post(USERS, json={**body, "password": password},
                                   headers={**people["admin"], "Accept-Language": lang})
            problem = assert_problem(response, 422, code)
            assert problem["detail"] == translate(code, lang), problem
    assert translate("password.too_common", "vi").startswith("Mật khẩu này quá phổ biến")
    # too short: refused in the words of the rule, as the others are (not as a generic validation error)
    cw_id = people.ids["caseworker"]
    for lang in ("vi", "en"):
        asked = {**people["admin"], "Accept-Language": lang}
        for response in (
            client.post(USERS, json={**body, "password": "ngắn"}, headers=asked),
            client.post(f"{USERS}/{cw_id}/password", json={"new_password": "ngắn"}, headers=asked),
            client.post(f"{USERS}/me/password", json={"current_password": PASSWORD, "new_password": "ngắn"},
                        headers={**people["caseworker"], "Accept-Language": lang}),
        ):
            problem = assert_problem(response, 422, "password.too_short")
            assert problem["detail"] == translate("password.too_short", lang, minimum=MIN_PASSWORD_LENGTH)
    assert client.get(f"{USERS}/me", headers=people["caseworker"]).status_code == 200  # nothing changed
    assert client.post(USERS, json={**body, "password": "mot-mat-khau-dai"}, headers=people["admin"]).status_code == 201


# --- deactivation and reactivation ----------------------------------------------------------------


def test_deactivation_ends_every_token_and_reactivation_does_not_revive_them(
    client: TestClient, people: People, engine_: Engine
) -> None:
    cw_id, old_token = people.ids["caseworker"], people["caseworker"]
    assert client.get(f"{USERS}/me", headers=old_token).status_code == 200
    key = {"Idempotency-Key": "deactivate-cw-1"}
    off = client.post(f"{USERS}/{cw_id}/deactivate", headers={**people["admin"], **key})
    assert off.status_code == 200 and off.json()["active"] is False
    replay = client.post(f"{USERS}/{cw_id}/deactivate", headers={**people["admin"], **key})
    assert replay.json() == off.json() and replay.headers["idempotent-replayed"] == "true"
    again = client.post(f"{USERS}/{cw_id}/deactivate", headers=people["admin"])  # already inactive: no change
    assert again.status_code == 200 and again.json()["active"] is False
    assert_problem(client.get(f"{USERS}/me", headers=old_token), 401, "not_authenticated")
    refused = client.post("/api/v1/auth/token", data={"username": "caseworker@test", "password": PASSWORD})
    assert refused.status_code == 401
    assert [u["login"] for u in client.get(f"{USERS}?active=false", headers=people["admin"]).json()] == [
        "caseworker@test"]

    on = client.post(f"{USERS}/{cw_id}/reactivate", headers=people["admin"])
    assert on.status_code == 200 and on.json()["active"] is True
    assert_problem(client.get(f"{USERS}/me", headers=old_token), 401, "not_authenticated")  # ended for good
    assert client.get(f"{USERS}/me", headers=sign_in(client, "caseworker@test")).status_code == 200

    trail = _trail(engine_, cw_id)
    assert [e.action for e in trail] == ["created", "deactivated", "reactivated"]
    assert all(e.actor_id == people.ids["admin"] for e in trail[1:])


def test_users_outside_the_area_cannot_be_touched(client: TestClient, people: People, engine_: Engine) -> None:
    outsider = make_user(engine_, "an@hanoi", "supervisor", unit=OTHER_PROVINCE)
    admin = people["admin"]
    for path, body in ((f"{USERS}/{outsider.user_id}/deactivate", None),
                       (f"{USERS}/{outsider.user_id}/reactivate", None),
                       (f"{USERS}/{outsider.user_id}/password", {"new_password": NEW_PASSWORD})):
        assert_problem(client.post(path, json=body, headers=admin), 404, "not_found")
    assert client.get(f"{USERS}/me", headers=sign_in(client, "an@hanoi")).status_code == 200
    assert outsider.user_id is not None
    assert [e.action for e in _trail(engine_, outsider.user_id)] == ["created"]
    # the trail of a user made at the command line (or by a test helper) names no person
    assert _trail(engine_, outsider.user_id)[0].actor_role == "system"


def test_an_administrator_cannot_lock_themselves_out(client: TestClient, people: People) -> None:
    admin_id = people.ids["admin"]
    assert_problem(client.post(f"{USERS}/{admin_id}/deactivate", headers=people["admin"]), 422, "user.not_yourself")
    body = assert_problem(client.post(f"{USERS}/{admin_id}/password", json={"new_password": NEW_PASSWORD},
                                      headers={**people["admin"], "Accept-Language": "en"}), 422, "user.not_yourself")
    assert body["detail"] == "You cannot reset the password of your own account."
    assert client.get(f"{USERS}/me", headers=people["admin"]).json()["active"] is True


# --- passwords ------------------------------------------------------------------------------------


def test_an_administrator_resets_a_password_and_the_old_sessions_end(
    client: TestClient, people: People, engine_: Engine
) -> None:
    cw_id, old_token = people.ids["caseworker"], people["caseworker"]
    weak = client.post(f"{USERS}/{cw_id}/password", json={"new_password": "caseworker@test1"},
                       headers=people["admin"])
    assert_problem(weak, 422, "password.has_login")
    assert client.get(f"{USERS}/me", headers=old_token).status_code == 200  # a refusal changes nothing

    reset = client.post(f"{USERS}/{cw_id}/password", json={"new_password": NEW_PASSWORD}, headers=people["admin"])
    assert reset.status_code == 204 and reset.content == b""
    assert_problem(client.get(f"{USERS}/me", headers=old_token), 401, "not_authenticated")
    assert client.post("/api/v1/auth/token",
                       data={"username": "caseworker@test", "password": PASSWORD}).status_code == 401
    assert client.get(f"{USERS}/me", headers=sign_in(client, "caseworker@test", NEW_PASSWORD)).status_code == 200
    for who in ("supervisor", "caseworker_b"):
        assert_problem(client.post(f"{USERS}/{cw_id}/password", json={"new_password": NEW_PASSWORD},
                                   headers=people[who]), 403, "forbidden_role")
    trail = _trail(engine_, cw_id)
    assert [e.action for e in trail] == ["created", "password_reset"] and trail[1].actor_id == people.ids["admin"]
    _no_password_in(trail, NEW_PASSWORD, PASSWORD)


def test_a_user_changes_their_own_password_giving_the_current_one(
    client: TestClient, people: People, engine_: Engine
) -> None:
    me, token = people.ids["agency"], people["agency"]
    path = f"{USERS}/me/password"
    wrong = client.post(path, json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
                        headers=token)
    assert_problem(wrong, 422, "password.wrong_current")
    with engine_.connect() as conn:  # counted as a failed sign-in, though the request's transaction rolled back
        failures = conn.execute(sa.select(sa.func.count()).select_from(LoginAttempt).where(
            col(LoginAttempt.login) == "agency@test", col(LoginAttempt.ok).is_(False))).scalar_one()
    assert failures == 1
    assert_problem(client.post(path, json={"current_password": PASSWORD, "new_password": "qwerty123"}, headers=token),
                   422, "password.too_common")
    assert client.get(f"{USERS}/me", headers=token).status_code == 200

    changed = client.post(path, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=token)
    assert changed.status_code == 204
    assert_problem(client.get(f"{USERS}/me", headers=token), 401, "not_authenticated")  # this token ended too
    fresh = sign_in(client, "agency@test", NEW_PASSWORD)
    assert client.get(f"{USERS}/me", headers=fresh).json()["id"] == me
    trail = _trail(engine_, me)
    assert [e.action for e in trail] == ["created", "password_changed"] and trail[1].actor_id == me
    _no_password_in(trail, NEW_PASSWORD, PASSWORD)


def test_guessing_the_current_password_is_slowed_down_like_signing_in(client: TestClient, people: People) -> None:
    path, token = f"{USERS}/me/password", people["caseworker"]
    for _ in range(5):
        assert client.post(path, json={"current_password": "guess-guess", "new_password": NEW_PASSWORD},
                           headers=token).status_code == 422
    throttled = client.post(path, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=token)
    assert_problem(throttled, 429, "too_many_attempts")
    assert int(throttled.headers["retry-after"]) > 0
    assert client.post("/api/v1/auth/token",
                       data={"username": "caseworker@test", "password": PASSWORD}).status_code == 429


# --- pages: signing out and changing one's password -----------------------------------------------


def test_signing_out_ends_the_session_everywhere(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    api_token = sign_in(web, "lan")
    csrf = page_sign_in(web, "lan")
    old_cookie = web.cookies.get(SESSION_COOKIE)
    assert old_cookie
    out = web.post("/app/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/app/login"
    web.cookies.clear()
    replayed = web.get("/app/work", headers={"Cookie": f"{SESSION_COOKIE}={old_cookie}"}, follow_redirects=False)
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/app/login")
    assert web.get("/api/v1/users/me", headers=api_token).status_code == 401
    page_sign_in(web, "lan")  # signing in again, at once, works
    assert web.get("/app/work").status_code == 200


def test_the_password_page_changes_the_password_and_keeps_this_session(web: TestClient, db: Engine) -> None:
    make_user(db, "lan", "caseworker")
    other_device = sign_in(web, "lan")
    page_sign_in(web, "lan")
    old_cookie = web.cookies.get(SESSION_COOKIE)
    for lang in ("en", "vi"):
        page = web.get(f"/app/password?lang={lang}")
        assert page.status_code == 200 and translate("page.password.title", lang) in page.text
    csrf = csrf_of(page.text)
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}

    assert web.post("/app/password", data=form).status_code == 403  # no CSRF token
    mismatch = web.post("/app/password", data={**form, "csrf": csrf, "confirm_password": "something else"})
    assert mismatch.status_code == 422 and translate("page.password.mismatch", "vi") in mismatch.text
    wrong = web.post("/app/password", data={**form, "csrf": csrf, "current_password": "not-my-password"})
    assert wrong.status_code == 422 and translate("password.wrong_current", "vi") in wrong.text
    assert PASSWORD not in wrong.text and "not-my-password" not in wrong.text  # passwords are never shown again
    weak = web.post("/app/password", data={**form, "csrf": csrf, "new_password": "12345678",
                                           "confirm_password": "12345678"})
    assert weak.status_code == 422 and translate("password.too_common", "vi") in weak.text
    changed = web.post("/app/password", data={**form, "csrf": csrf}, follow_redirects=False)
    assert changed.status_code == 303 and changed.headers["location"] == "/app/password?done=1"
    done = web.get("/app/password?done=1")
    assert done.status_code == 200 and translate("page.password.changed", "vi") in done.text  # still signed in

    web.cookies.clear()
    stale = web.get("/app/work", headers={"Cookie": f"{SESSION_COOKIE}={old_cookie}"}, follow_redirects=False)
    assert stale.status_code == 303  # the session from before the change has ended
    assert web.get("/api/v1/users/me", headers=other_device).status_code == 401
    page_sign_in(web, "lan", NEW_PASSWORD)


def test_guessing_the_current_password_on_the_page_is_slowed_down_like_signing_in(
    web: TestClient, db: Engine
) -> None:
    make_user(db, "lan", "caseworker")
    csrf = page_sign_in(web, "lan")
    form = {"csrf": csrf, "current_password": "guess-guess", "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD}
    for _ in range(5):
        assert web.post("/app/password", data=form).status_code == 422
    with db.connect() as conn:  # each wrong guess counted, though its own transaction rolled back
        failures = conn.execute(sa.select(sa.func.count()).select_from(LoginAttempt).where(
            col(LoginAttempt.login) == "lan", col(LoginAttempt.ok).is_(False))).scalar_one()
    assert failures == 5
    throttled = web.post("/app/password", data={**form, "current_password": PASSWORD})
    assert throttled.status_code == 429
    assert translate("page.login.throttled", "vi").split("{")[0] in throttled.text
    with transaction(db) as s:  # the right password, refused unchecked, changed nothing
        user = s.execute(sa.select(User).where(col(User.login) == "lan")).scalar_one()
        assert verify_password(user.password_hash, PASSWORD) and not verify_password(user.password_hash, NEW_PASSWORD)
    assert user.id is not None and [e.action for e in _trail(db, user.id)] == ["created"]
    assert web.post("/api/v1/auth/token", data={"username": "lan", "password": PASSWORD}).status_code == 429
