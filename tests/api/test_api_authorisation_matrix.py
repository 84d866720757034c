"""Every role × every route × inside and outside scope, with the exact status expected.

Outside a user's scope a record does not exist (404); a function a role cannot use at all is 403; without a
token everything under /api/v1 is 401. Statuses come from this table, written by hand from the rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.api.conftest import CHILD, People, Scenario
from tests.support.people import COMMUNE_A, PASSWORD, make_user

SUBJECTS = ("caseworker", "caseworker_b", "supervisor", "supervisor_b", "agency", "agency_other", "admin", "anon")
_counter = itertools.count(1)


def expect(default: int, **overrides: int) -> dict[str, int]:
    table = {s: default for s in SUBJECTS}
    table.update(overrides)
    table.setdefault("anon", 401)
    if "anon" not in overrides:
        table["anon"] = 401
    return table


# A record of commune A: caseworker and supervisor (province) see it; the others do not.
RECORD_A = expect(404, caseworker=200, supervisor=200)
CASE_FUNCTION = expect(403, caseworker=200, caseworker_b=200, supervisor=200, supervisor_b=200)
EVERYONE = expect(200)
ADMIN_ONLY_CREATE = expect(403, admin=201)
ADMIN_ONLY = expect(403, admin=200)
# a user outside the administrator's area (another province) does not exist for them
ADMIN_OUTSIDE = expect(403, admin=404)
STALE = expect(404, caseworker=409, supervisor=409)

Body = Callable[[Scenario], dict[str, Any] | None]
# (method, path template, body, extra headers, expected statuses)
Route = tuple[str, str, Body, dict[str, str], dict[str, int]]


def _no_body(_: Scenario) -> None:
    return None


def _agency_body(_: Scenario) -> dict[str, Any]:
    return {"code": f"TEST-{next(_counter)}", "name_vi": "Cơ sở thử", "unit_code": COMMUNE_A,
            "services": ["rehabilitation"], "areas": [COMMUNE_A]}


def _user_body(_: Scenario) -> dict[str, Any]:
    return {"login": f"new{next(_counter)}@test", "password": "mat-khau-du-dai", "role": "caseworker",
            "unit_code": COMMUNE_A}


def _user_body_outside(_: Scenario) -> dict[str, Any]:
    return {**_user_body(_), "unit_code": "01"}


NEW_PASSWORD = {"new_password": "mot cau mat khau moi"}

ROUTES: list[Route] = [
    ("GET", "/api/v1/children/{child_a}", _no_body, {}, RECORD_A),
    ("GET", "/api/v1/children?q=minh", _no_body, {}, CASE_FUNCTION),
    ("POST", "/api/v1/children", lambda s: {**CHILD, "confirm_duplicate": True}, {},
     expect(403, caseworker=201, supervisor=201, caseworker_b=422, supervisor_b=422)),
    ("POST", "/api/v1/cases", lambda s: {"child_id": s.child_a, "source": "family"}, {},
     expect(403, caseworker=201, supervisor=201, caseworker_b=404, supervisor_b=404)),
    ("GET", "/api/v1/cases", _no_body, {}, CASE_FUNCTION),
    ("GET", "/api/v1/cases?stage=care&overdue=false", _no_body, {}, CASE_FUNCTION),
    ("GET", "/api/v1/cases/{case_a}", _no_body, {}, RECORD_A),
    ("POST", "/api/v1/cases/{case_a}/transitions", lambda s: {"action": "record_review", "payload": {"summary": "x"}},
     {"If-Match": '"999"'}, STALE),
    ("GET", "/api/v1/cases/{case_a}/timeline", _no_body, {}, RECORD_A),
    ("GET", "/api/v1/cases/{case_a}/actions", _no_body, {}, RECORD_A),
    ("GET", "/api/v1/cases/{case_a}/notifications", _no_body, {}, RECORD_A),
    ("GET", "/api/v1/cases/{case_a}/referral-candidates?service=rehabilitation", _no_body, {}, RECORD_A),
    ("GET", "/api/v1/cases/{case_a}/referrals", _no_body, {}, RECORD_A),
    # an open referral for the service exists already: in scope the engine refuses (422), outside it is 404
    ("POST", "/api/v1/cases/{case_a}/referrals", lambda s: {"service_code": "rehabilitation"}, {},
     expect(404, caseworker=422, supervisor=422)),
    ("GET", "/api/v1/referrals/{referral_a}", _no_body, {}, expect(404, caseworker=200, supervisor=200, agency=200)),
    ("POST", "/api/v1/referrals/{referral_a}/transitions", lambda s: {"action": "accept"}, {"If-Match": '"999"'},
     expect(404, caseworker=409, supervisor=409, agency=409)),
    ("GET", "/api/v1/referrals", _no_body, {}, EVERYONE),
    ("GET", "/api/v1/referrals/inbox", _no_body, {}, expect(403, agency=200, agency_other=200)),
    ("GET", "/api/v1/agencies/TYT-05443/inbox", _no_body, {}, expect(404, agency=200)),
    ("GET", "/api/v1/agencies/TYT-05443/notifications", _no_body, {}, expect(404, agency=200, supervisor=200)),
    ("GET", "/api/v1/tasks/mine", _no_body, {}, EVERYONE),
    ("GET", "/api/v1/units?parent=19", _no_body, {}, EVERYONE),
    ("GET", "/api/v1/units/05443", _no_body, {}, EVERYONE),
    ("GET", "/api/v1/services", _no_body, {}, EVERYONE),
    ("GET", "/api/v1/agencies?unit=19", _no_body, {}, EVERYONE),
    ("GET", "/api/v1/agencies/TYT-05443", _no_body, {}, EVERYONE),
    ("POST", "/api/v1/agencies", _agency_body, {}, ADMIN_ONLY_CREATE),
    ("PATCH", "/api/v1/agencies/TYT-05443", lambda s: {"phones": ["0912 000 001"]}, {}, expect(403, admin=200)),
    ("POST", "/api/v1/users", _user_body, {}, ADMIN_ONLY_CREATE),
    ("POST", "/api/v1/users", _user_body_outside, {}, ADMIN_OUTSIDE),
    ("GET", "/api/v1/users/me", _no_body, {}, EVERYONE),
    ("GET", "/api/v1/users?role=caseworker", _no_body, {}, ADMIN_ONLY),
    ("GET", "/api/v1/users/{user_in}", _no_body, {}, ADMIN_ONLY),
    ("GET", "/api/v1/users/{user_out}", _no_body, {}, ADMIN_OUTSIDE),
    ("GET", "/api/v1/users/{user_in}/events", _no_body, {}, ADMIN_ONLY),
    ("GET", "/api/v1/users/{user_out}/events", _no_body, {}, ADMIN_OUTSIDE),
    ("POST", "/api/v1/users/{user_in}/deactivate", _no_body, {}, ADMIN_ONLY),
    ("POST", "/api/v1/users/{user_out}/deactivate", _no_body, {}, ADMIN_OUTSIDE),
    ("POST", "/api/v1/users/{user_in}/reactivate", _no_body, {}, ADMIN_ONLY),
    ("POST", "/api/v1/users/{user_out}/reactivate", _no_body, {}, ADMIN_OUTSIDE),
    ("POST", "/api/v1/users/{user_in}/password", lambda s: NEW_PASSWORD, {}, expect(403, admin=204)),
    ("POST", "/api/v1/users/{user_out}/password", lambda s: NEW_PASSWORD, {}, ADMIN_OUTSIDE),
    # anyone signed in may change their own password; a common one is refused (a change would end the caller's
    # token, and the routes after this one would be refused)
    ("POST", "/api/v1/users/me/password", lambda s: {"current_password": PASSWORD, "new_password": "password123"},
     {}, expect(422)),
    ("GET", "/api/v1/access-log", _no_body, {}, expect(403, supervisor=200, supervisor_b=200)),
    ("GET", "/healthz", _no_body, {}, {**EVERYONE, "anon": 200}),
    ("GET", "/readyz", _no_body, {}, {**EVERYONE, "anon": 200}),
    # last: signing out ends the caller's token, so no route may come after it
    ("POST", "/api/v1/auth/logout", _no_body, {}, expect(204)),
]


def test_every_role_on_every_route_gets_the_exact_status(client: TestClient, people: People,
                                                         scenario: Scenario, engine_: Engine) -> None:
    ids = {"child_a": scenario.child_a, "case_a": scenario.case_a["id"], "referral_a": scenario.referral_a["id"],
           # users no subject signs in as: one in the administrator's area, one in another province
           "user_in": make_user(engine_, "in@test", "caseworker").user_id,
           "user_out": make_user(engine_, "out@test", "supervisor", unit="01").user_id}
    mismatches = []
    for method, template, body, extra, expected in ROUTES:
        path = template.format(**ids)
        for subject in SUBJECTS:
            headers = {**({} if subject == "anon" else people[subject]), **extra}
            response = client.request(method, path, json=body(scenario), headers=headers)
            if response.status_code != expected[subject]:
                mismatches.append(f"{subject:13} {method} {path}: {response.status_code} != {expected[subject]}"
                                  f" {response.text[:160]}")
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json"), path
    assert not mismatches, "\n".join(mismatches)


def test_lists_only_show_what_is_in_scope(client: TestClient, people: People, scenario: Scenario) -> None:
    def ids(subject: str, path: str) -> set[int]:
        response = client.get(path, headers=people[subject])
        assert response.status_code == 200, response.text
        return {row["id"] for row in response.json()}

    assert scenario.child_a in ids("caseworker", "/api/v1/children?q=tran van minh")
    assert scenario.child_a not in ids("caseworker_b", "/api/v1/children?q=tran van minh")
    assert ids("caseworker_b", "/api/v1/cases") == {scenario.case_b["id"]}
    assert ids("supervisor", "/api/v1/cases") == {scenario.case_a["id"], scenario.case_b["id"]}
    assert ids("caseworker", "/api/v1/cases") == {scenario.case_a["id"]}
    assert ids("agency", "/api/v1/referrals") == {scenario.referral_a["id"]}
    assert ids("agency_other", "/api/v1/referrals") == set()
    assert ids("agency", "/api/v1/referrals/inbox") == {scenario.referral_a["id"]}
    assert ids("agency_other", "/api/v1/referrals/inbox") == set()
    assert ids("admin", "/api/v1/referrals") == set()
    assert ids("caseworker_b", "/api/v1/referrals") == set()


def test_agency_sees_only_the_minimum_of_the_case(client: TestClient, people: People, scenario: Scenario) -> None:
    response = client.get(f"/api/v1/referrals/{scenario.referral_a['id']}", headers=people["agency"])
    assert response.status_code == 200
    case = response.json()["case"]
    assert case == {"case_id": scenario.case_a["id"], "reference": scenario.case_a["reference"], "initials": "T.V.M.",
                    "age": case["age"], "commune_code": COMMUNE_A, "disability_types": ["mobility"]}
    assert 6 <= case["age"] <= 8
    text = response.text
    assert "Trần Văn Minh" not in text and "Nguyễn Thị Hoa" not in text  # no name, no guardian
    # and the case itself stays out of reach
    assert client.get(f"/api/v1/cases/{scenario.case_a['id']}", headers=people["agency"]).status_code == 404
    assert client.get(f"/api/v1/children/{scenario.child_a}", headers=people["agency"]).status_code == 404
