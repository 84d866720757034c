"""Supervision and report routes: scoped to supervisors' subtrees (404 for everyone else), on a real database.

Data: tests/support/supervision_data.py (hand counts in tests/integration/test_indicators_hand_built.py).
"""

from __future__ import annotations

from io import BytesIO

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from tests.api.conftest import People
from tests.support.people import COMMUNE_B, DEMO_PROVINCE
from tests.support.supervision_data import build

API = "/api/v1"
FEB_23 = "2026-02-23T09:00:00+07:00"


def test_overdue_audit_is_for_supervisors_of_the_area(client: TestClient, people: People, engine_: Engine) -> None:
    build(engine_)
    response = client.get(f"{API}/supervision/overdue", params={"as_of": FEB_23}, headers=people["supervisor"])
    assert response.status_code == 200, response.text
    audit = response.json()
    assert audit["within_unit"] == DEMO_PROVINCE
    assert {g["key"]: g["total"] for g in audit["groups"]["step"]}.get("referral.requested") == 1  # R3 in B

    own = client.get(f"{API}/supervision/overdue", params={"as_of": FEB_23}, headers=people["supervisor_b"])
    assert own.status_code == 200 and own.json()["within_unit"] == COMMUNE_B
    assert {g["key"] for g in own.json()["groups"]["unit"]} <= {COMMUNE_B}
    assert client.get(f"{API}/supervision/overdue", params={"unit": DEMO_PROVINCE},
                      headers=people["supervisor_b"]).status_code == 404
    for outsider in ("caseworker", "agency", "admin"):
        refused = client.get(f"{API}/supervision/overdue", headers=people[outsider])
        assert refused.status_code == 404, outsider
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_drill_down_and_audit_note(client: TestClient, people: People, engine_: Engine) -> None:
    build(engine_)
    items = client.get(f"{API}/supervision/overdue/items", headers=people["supervisor"],
                       params={"as_of": FEB_23, "step": "referral.requested"})
    assert items.status_code == 200, items.text
    [item] = items.json()
    assert (item["agency_code"], item["domain"], item["days_late"], item["bucket"]) == ("CTXH-19", "social", 1, "1-3")

    note = {"deadline_id": item["deadline_id"], "reason_found": "Trung tâm thiếu người tư vấn",
            "action_taken": "Đã đề nghị điều phối cán bộ", "follow_up_date": "2099-01-05"}
    assert client.post(f"{API}/supervision/audit-notes", json=note, headers=people["caseworker"]).status_code == 404
    past = client.post(f"{API}/supervision/audit-notes", json={**note, "follow_up_date": "2020-01-01"},
                       headers=people["supervisor"])
    assert past.status_code == 422
    created = client.post(f"{API}/supervision/audit-notes", json=note, headers=people["supervisor"])
    assert created.status_code == 201, created.text
    assert created.json()["deadline_id"] == item["deadline_id"]
    notes = client.get(f"{API}/supervision/cases/{item['case_id']}/audit-notes", headers=people["supervisor"])
    assert [n["action_taken"] for n in notes.json()] == ["Đã đề nghị điều phối cán bộ"]
    assert client.get(f"{API}/supervision/cases/{item['case_id']}/audit-notes",
                      headers=people["caseworker"]).status_code == 404


def test_indicators_and_stored_reports(client: TestClient, people: People, engine_: Engine) -> None:
    build(engine_)
    sup = people["supervisor"]
    live = client.get(f"{API}/reports/indicators", params={"period": "2026-H1"}, headers=sup)
    assert live.status_code == 200, live.text
    reached = next(i for i in live.json()["indicators"] if i["key"] == "reached_service")
    assert (reached["numerator"], reached["denominator"], reached["target"]) == (2, 4, 0.9)
    assert client.get(f"{API}/reports/indicators", params={"period": "2026-Q9"}, headers=sup).status_code == 422

    made = client.post(f"{API}/reports", params={"period": "2026-H1"}, headers=sup)
    assert made.status_code == 201, made.text
    report_id = made.json()["id"]
    listed = client.get(f"{API}/reports", headers=sup).json()
    assert [r["id"] for r in listed] == [report_id]
    download = client.get(f"{API}/reports/{report_id}/download", params={"format": "xlsx"}, headers=sup)
    assert download.status_code == 200
    assert "bao-cao-19-2026-H1.xlsx" in download.headers["content-disposition"]
    summary = load_workbook(BytesIO(download.content))["Chỉ tiêu"]
    assert {r[0].value: r[3].value for r in summary.iter_rows(min_row=2)}["reached_service"] == 4
    as_csv = client.get(f"{API}/reports/{report_id}/download", params={"format": "csv"}, headers=sup)
    assert as_csv.status_code == 200 and "Mã chỉ tiêu" in as_csv.content.decode("utf-8-sig")

    # a commune's supervisor sees neither the province's report nor the province's list
    assert client.get(f"{API}/reports/{report_id}", headers=people["supervisor_b"]).status_code == 404
    assert client.get(f"{API}/reports", headers=people["supervisor_b"]).json() == []
    assert client.get(f"{API}/reports/{report_id}", headers=people["agency"]).status_code == 404
