"""The training register through the API: scoped like the rest, all or nothing, and feeding the indicators."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.api.conftest import People, Scenario, snapshot
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE

API = "/api/v1/supervision"


def caregivers_training(child_id: int, **overrides: Any) -> dict[str, Any]:
    return {"unit_code": COMMUNE_A, "topic": "Chăm sóc trẻ khuyết tật tại nhà", "audience": "caregivers",
            "held_on": "2026-10-12",
            "participants": [{"person_name": "Nguyễn  Thị Hoa", "kind": "caregiver", "child_id": child_id}],
            **overrides}


def test_a_training_is_recorded_with_its_participants_and_seen_up_the_tree(
    client: TestClient, people: People, scenario: Scenario
) -> None:
    created = client.post(f"{API}/trainings", json=caregivers_training(scenario.child_a), headers=people["caseworker"])
    assert created.status_code == 201, created.text
    assert created.json()["participants"] == 1 and created.json()["unit_code"] == COMMUNE_A

    own = client.get(f"{API}/trainings", params={"unit": COMMUNE_A}, headers=people["caseworker"])
    province = client.get(f"{API}/trainings", params={"unit": DEMO_PROVINCE}, headers=people["supervisor"])
    assert [t["id"] for t in own.json()] == [created.json()["id"]]
    assert [(t["id"], t["participants"]) for t in province.json()] == [(created.json()["id"], 1)]
    # commune B's people see nothing of commune A's register
    assert client.get(f"{API}/trainings", params={"unit": COMMUNE_B}, headers=people["caseworker_b"]).json() == []


def test_outside_the_area_it_does_not_exist_and_other_roles_cannot_use_it(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine
) -> None:
    before = snapshot(engine_)
    body = caregivers_training(scenario.child_a)
    assert client.post(f"{API}/trainings", json=body, headers=people["caseworker_b"]).status_code == 404
    assert client.get(f"{API}/trainings", params={"unit": COMMUNE_A},
                      headers=people["supervisor_b"]).status_code == 404
    for role in ("agency", "agency_other"):
        refused = client.post(f"{API}/trainings", json=body, headers=people[role])
        assert refused.status_code == 403, role
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"{API}/trainings", json=body).status_code == 401
    assert snapshot(engine_) == before


def test_one_bad_participant_refuses_the_whole_training(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine
) -> None:
    before = snapshot(engine_)
    body = caregivers_training(scenario.child_a)
    body["participants"].append({"person_name": "Trần Văn Ba", "kind": "caregiver"})  # no child named
    refused = client.post(f"{API}/trainings", json=body, headers=people["caseworker"])
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    unknown_child = caregivers_training(999_999)
    assert client.post(f"{API}/trainings", json=unknown_child, headers=people["caseworker"]).status_code == 422
    # commune B's child, named by commune A's caseworker: refused as an unknown child, and nothing said of it
    elsewhere = client.post(f"{API}/trainings", json=caregivers_training(scenario.child_b),
                            headers=people["caseworker"])
    assert elsewhere.status_code == 422
    assert elsewhere.json()["detail"] == client.post(
        f"{API}/trainings", json=unknown_child, headers=people["caseworker"]).json()["detail"]
    wrong_kind = client.post(f"{API}/trainings", json={**body, "audience": "everyone"}, headers=people["caseworker"])
    assert wrong_kind.status_code == 422 and "audience" in wrong_kind.text
    assert snapshot(engine_) == before  # not even the training itself was kept


def test_roster_and_officials_trainings_feed_the_indicator(client: TestClient, people: People) -> None:
    sup = people["supervisor"]
    for name, kind in (("Lê Văn Nam", "official"), ("Phạm Thị Thu", "collaborator")):
        added = client.post(f"{API}/roster", json={"unit_code": COMMUNE_A, "person_name": name, "kind": kind},
                            headers=sup)
        assert added.status_code == 201, added.text
    again = client.post(f"{API}/roster", json={"unit_code": COMMUNE_A, "person_name": "Lê  Văn Nam",
                                               "kind": "official"}, headers=sup)
    assert again.status_code == 422  # the same person twice (names compare after normalising spaces)
    roster = client.get(f"{API}/roster", params={"unit": DEMO_PROVINCE}, headers=sup).json()
    assert sorted(p["person_name"] for p in roster) == ["Lê Văn Nam", "Phạm Thị Thu"]

    training = {"unit_code": COMMUNE_A, "topic": "Quản lý trường hợp", "audience": "officials",
                "held_on": "2026-05-20", "participants": [{"person_name": "Lê Văn Nam", "kind": "official"}]}
    assert client.post(f"{API}/trainings", json=training, headers=sup).status_code == 201

    report = client.get("/api/v1/reports/indicators", params={"unit": COMMUNE_A, "period": "2026"}, headers=sup)
    assert report.status_code == 200, report.text
    officials = next(i for i in report.json()["indicators"] if i["key"] == "officials_trained")
    assert (officials["numerator"], officials["denominator"]) == (1, 2)


def test_refusals_read_in_the_language_asked_for(client: TestClient, people: People) -> None:
    person = {"unit_code": COMMUNE_A, "person_name": "Lê Văn Nam", "kind": "official"}
    assert client.post(f"{API}/roster", json=person, headers=people["caseworker"]).status_code == 201
    vi = client.post(f"{API}/roster", json=person, headers=people["caseworker"])
    en = client.post(f"{API}/roster", json=person, headers={**people["caseworker"], "Accept-Language": "en"})
    assert vi.status_code == en.status_code == 422
    assert vi.json()["detail"] == "«Lê Văn Nam» đã có trong danh sách cán bộ của đơn vị 05443."
    assert en.json()["detail"] == "'Lê Văn Nam' is already on the staff roster of 05443."
