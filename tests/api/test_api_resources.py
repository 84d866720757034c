"""The resources doing their jobs through HTTP: search without diacritics, the access log, the referral loop
from both sides, my work, case filters, the directory and users."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import CHILD, People, Scenario, act, open_case, register, sign_in
from tests.support.people import COMMUNE_A, COMMUNE_B


def test_search_ignores_diacritics_and_case(client: TestClient, people: People) -> None:
    cw = people["caseworker"]
    minh = register(client, cw)
    register(client, cw, full_name="Nguyễn Thị Đào")
    found = client.get("/api/v1/children", params={"q": "TRAN van minh"}, headers=cw).json()
    assert [c["id"] for c in found] == [minh["id"]]
    assert [c["full_name"] for c in client.get("/api/v1/children", params={"q": "dao"}, headers=cw).json()] == [
        "Nguyễn Thị Đào"]
    assert client.get("/api/v1/children", params={"q": "hoang"}, headers=cw).json() == []


def test_every_read_of_a_child_is_logged_for_supervisors(client: TestClient, people: People) -> None:
    child = register(client, people["caseworker"])
    case = open_case(client, people["caseworker"], child["id"])
    assert client.get(f"/api/v1/children/{child['id']}", headers=people["caseworker"]).status_code == 200
    assert client.get(f"/api/v1/cases/{case['id']}", headers=people["supervisor"]).status_code == 200
    log = client.get("/api/v1/access-log", params={"child_id": child["id"]}, headers=people["supervisor"]).json()
    seen = [(entry["user_login"], entry["action"]) for entry in log]
    assert seen == [("supervisor@test", "read_case"), ("caseworker@test", "read")]  # newest first
    # a supervisor of another commune sees none of it
    assert client.get("/api/v1/access-log", headers=people["supervisor_b"]).json() == []


def _referral_action(client: TestClient, headers: dict[str, str], referral: dict[str, Any], action: str,
                     payload: dict[str, Any] | None = None, expect: int = 200) -> dict[str, Any]:
    response = client.post(f"/api/v1/referrals/{referral['id']}/transitions",
                           json={"action": action, "payload": payload or {}},
                           headers={**headers, "If-Match": f'"{referral["version"]}"'})
    assert response.status_code == expect, response.text
    return dict(response.json())


def test_the_referral_loop_from_both_sides(client: TestClient, people: People, scenario: Scenario) -> None:
    agency, cw = people["agency"], people["caseworker"]
    referral = scenario.referral_a
    candidates = client.get(f"/api/v1/cases/{scenario.case_a['id']}/referral-candidates",
                            params={"service": "rehabilitation"}, headers=cw).json()
    assert candidates[0]["agency_code"] == referral["agency_code"] == "TYT-05443"
    assert candidates[0]["reason_vi"] and candidates[0]["reason_en"]
    inbox = client.get("/api/v1/referrals/inbox", headers=agency).json()
    assert [r["id"] for r in inbox] == [referral["id"]]

    # the sender cannot accept for the agency; the other agency cannot even see it
    _referral_action(client, cw, referral, "accept", expect=422)
    _referral_action(client, people["agency_other"], referral, "accept", expect=404)
    referral = _referral_action(client, agency, referral, "accept")
    referral = _referral_action(client, agency, referral, "start")
    assert referral["state"] == "in_progress"
    stale = client.post(f"/api/v1/referrals/{referral['id']}/transitions", json={"action": "hold"},
                        headers={**agency, "If-Match": f'"{referral["version"] - 1}"'})
    assert stale.status_code == 409
    read = client.get(f"/api/v1/referrals/{referral['id']}", headers=cw)
    assert read.headers["etag"] == f'"{referral["version"]}"'
    timeline = client.get(f"/api/v1/cases/{scenario.case_a['id']}/timeline", headers=cw).json()
    assert [e["action"] for e in timeline if e["entity"] == "referral"][-2:] == ["accept", "start"]


def test_my_work_lists_what_waits_on_me(client: TestClient, people: People) -> None:
    cw = people["caseworker"]
    case = open_case(client, cw, register(client, cw)["id"])
    mine = client.get("/api/v1/tasks/mine", headers=cw).json()
    assert [(t["case_id"], t["kind"]) for t in mine] == [(case["id"], "reported")]
    assert mine[0]["overdue"] is False and mine[0]["due_at"] is not None
    assert client.get("/api/v1/tasks/mine", headers=people["caseworker_b"]).json() == []


def test_case_list_filters(client: TestClient, people: People) -> None:
    cw, sup = people["caseworker"], people["supervisor"]
    first = open_case(client, cw, register(client, cw)["id"])
    second = open_case(client, cw, register(client, cw, full_name="Lò Thị Sen")["id"])
    act(client, cw, second, "verify", {"urgency": "urgent", "assessment": "khẩn"})
    other = open_case(client, people["caseworker_b"],
                      register(client, people["caseworker_b"], commune_code=COMMUNE_B)["id"])

    def ids(**params: Any) -> list[int]:
        response = client.get("/api/v1/cases", params=params, headers=sup)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()]

    assert ids() == [first["id"], second["id"], other["id"]]
    assert ids(step="verified") == [second["id"]]
    assert ids(stage="pre_intake", unit=COMMUNE_B) == [other["id"]]
    assert ids(stage="care") == []
    assert ids(owner=str(people.ids["caseworker"])) == [first["id"], second["id"]]
    assert ids(owner="me") == []
    assert ids(overdue="true") == []
    assert ids(overdue="false") == [first["id"], second["id"], other["id"]]
    actions = client.get(f"/api/v1/cases/{first['id']}/actions", headers=cw).json()
    assert {a["action"] for a in actions} == {"verify", "close_not_eligible"}


def test_directory_and_its_administration(client: TestClient, people: People) -> None:
    admin, cw = people["admin"], people["caseworker"]
    communes = client.get("/api/v1/units", params={"parent": "19"}, headers=cw).json()
    assert {COMMUNE_A, COMMUNE_B} <= {u["code"] for u in communes}
    assert all(u["parent_code"] == "19" for u in communes)
    health = client.get("/api/v1/agencies", params={"service": "rehabilitation", "unit": COMMUNE_A}, headers=cw).json()
    assert "TYT-05443" in {a["code"] for a in health}
    assert all("rehabilitation" in a["services"] for a in health)

    new = {"code": "TYT-05443B", "name_vi": "Điểm y tế thứ hai", "unit_code": COMMUNE_A, "services": ["rehabilitation"],
           "areas": [COMMUNE_A], "emails": ["diem2@example.vn"]}
    created = client.post("/api/v1/agencies", json=new, headers=admin)
    assert created.status_code == 201 and created.json()["areas"] == [COMMUNE_A]
    assert client.post("/api/v1/agencies", json=new, headers=admin).status_code == 422  # code taken
    assert client.post("/api/v1/agencies", json={**new, "code": "X-1", "unit_code": "nowhere"},
                       headers=admin).status_code == 422
    changed = client.patch("/api/v1/agencies/TYT-05443B", json={"status": "temporarily_closed", "services": []},
                           headers=admin)
    assert changed.status_code == 200
    assert changed.json()["status"] == "temporarily_closed" and changed.json()["services"] == []
    assert client.get("/api/v1/agencies/TYT-05443B", headers=cw).json()["status"] == "temporarily_closed"

    user = {"login": "hung@tyt", "password": "mat-khau-moi-123", "role": "agency_staff", "unit_code": COMMUNE_A,
            "agency_code": "TYT-05443"}
    made = client.post("/api/v1/users", json=user, headers=admin)
    assert made.status_code == 201 and "password" not in made.json() and "password_hash" not in made.json()
    assert client.get("/api/v1/users/me", headers=sign_in(client, "hung@tyt", "mat-khau-moi-123")).json()[
        "agency_code"] == "TYT-05443"
    assert client.post("/api/v1/users", json={**user, "login": "x@y", "agency_code": None},
                       headers=admin).status_code == 422  # agency staff need an agency


def test_an_agency_edit_follows_the_directorys_rules_and_a_refused_one_changes_nothing(
    client: TestClient, people: People
) -> None:
    """The API edits agencies through the directory's service: a supervision loop, an address that is not one and
    an unknown service are refused (problem+json, the field named), and the agency is as it was."""
    admin = people["admin"]
    before = client.get("/api/v1/agencies/SYT-19", headers=admin).json()
    loop = client.patch("/api/v1/agencies/SYT-19", json={"supervisor_code": "TYT-05443"}, headers=admin)
    assert loop.status_code == 422 and loop.headers["content-type"] == "application/problem+json", loop.text
    assert "SYT-19" in loop.json()["detail"] and "TYT-05443" in loop.json()["detail"]
    bad_email = client.patch("/api/v1/agencies/SYT-19", json={"emails": ["not-an-address"], "kind": "changed"},
                             headers=admin)
    assert bad_email.status_code == 422 and "emails" in bad_email.json()["detail"]
    unknown = client.patch("/api/v1/agencies/SYT-19", json={"services": ["teleport"], "status": "defunct"},
                           headers=admin)
    assert unknown.status_code == 422 and "teleport" in unknown.json()["detail"]
    assert client.get("/api/v1/agencies/SYT-19", headers=admin).json() == before
    new = {"code": "TYT-LOOP", "name_vi": "Trạm thử", "unit_code": COMMUNE_A, "supervisor_code": "NO-SUCH"}
    assert client.post("/api/v1/agencies", json=new, headers=admin).status_code == 422
    assert client.get("/api/v1/agencies/TYT-LOOP", headers=admin).status_code == 404


def test_registering_outside_ones_area_is_refused(client: TestClient, people: People) -> None:
    response = client.post("/api/v1/children", json={**CHILD, "commune_code": COMMUNE_B},
                           headers=people["caseworker"])
    assert response.status_code == 422 and "05710" in response.json()["detail"]
