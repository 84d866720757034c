"""Mends from a review of the API as its users and an attacker would use it: no existence oracle through audit
notes, every list of children's records logged as reads, notification secrets kept from non-administrators,
null refused where nothing can be stored, the supervision POSTs idempotent, and an agency's log for its
supervisor showing what was sent about its referrals to others."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow
from engine.models import AccessLog, Agency, Event, TrainingSession
from engine.outbox import enqueue
from tests.api.conftest import People, Scenario, snapshot
from tests.support.people import COMMUNE_A, DEMO_PROVINCE

API = "/api/v1"


def test_an_audit_note_outside_your_area_looks_like_one_on_nothing(
    client: TestClient, people: People, scenario: Scenario
) -> None:
    referral_id = scenario.referral_a["id"]
    note = {"reason_found": "x", "action_taken": "y", "follow_up_date": (date.today() + timedelta(days=3)).isoformat()}
    outside = client.post(f"{API}/supervision/audit-notes", json={**note, "referral_id": referral_id},
                          headers=people["supervisor_b"])
    absent = client.post(f"{API}/supervision/audit-notes", json={**note, "referral_id": 999_999},
                         headers=people["supervisor_b"])
    assert outside.status_code == absent.status_code == 404
    assert outside.json()["detail"].replace(str(referral_id), "N") == absent.json()["detail"].replace("999999", "N")
    assert f"case {scenario.case_a['id']}" not in outside.text


def test_lists_of_childrens_records_are_logged_as_reads(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine
) -> None:
    def logged(action: str, user: str) -> list[int]:
        with engine_.connect() as conn:
            return list(conn.execute(sa.select(AccessLog.child_id).where(
                AccessLog.action == action, AccessLog.user_id == people.ids[user])).scalars())

    assert client.get(f"{API}/cases", headers=people["caseworker"]).status_code == 200
    assert logged("list_cases", "caseworker") == [scenario.child_a]
    assert client.get(f"{API}/children?q=tran van minh", headers=people["caseworker"]).status_code == 200
    assert scenario.child_a in logged("search", "caseworker")
    assert client.get(f"{API}/referrals/{scenario.referral_a['id']}", headers=people["agency"]).status_code == 200
    assert logged("read_referral", "agency") == [scenario.child_a]
    assert client.get(f"{API}/referrals/inbox", headers=people["agency"]).status_code == 200
    assert logged("list_referrals", "agency") == [scenario.child_a]
    # a list with nobody in it logs nothing
    assert client.get(f"{API}/referrals/inbox", headers=people["agency_other"]).status_code == 200
    assert logged("list_referrals", "agency_other") == []


def test_notification_addresses_keep_their_secrets_from_all_but_administrators(
    client: TestClient, people: People
) -> None:
    secret = "json://hookuser:s3cretTOKEN@hooks.example.vn/ketnoi"
    changed = client.patch(f"{API}/agencies/TYT-05443", json={"notify_urls": [secret]}, headers=people["admin"])
    assert changed.status_code == 200 and changed.json()["notify_urls"] == [secret]
    assert client.get(f"{API}/agencies/TYT-05443", headers=people["admin"]).json()["notify_urls"] == [secret]
    for subject in ("caseworker", "agency", "agency_other", "supervisor"):
        for path in ("/agencies/TYT-05443", "/agencies?unit=05443"):
            response = client.get(API + path, headers=people[subject])
            assert response.status_code == 200 and "s3cretTOKEN" not in response.text, (subject, path)
    shown = client.get(f"{API}/agencies/TYT-05443", headers=people["agency_other"]).json()["notify_urls"]
    assert len(shown) == 1 and shown[0].startswith("json://") and "hooks.example.vn" in shown[0]


def test_null_where_nothing_can_be_stored_is_refused_by_name_and_changes_nothing(
    client: TestClient, people: People, engine_: Engine
) -> None:
    before = snapshot(engine_)
    for field in ("name_vi", "status", "language", "kind", "emails", "phones", "notify_urls", "services"):
        response = client.patch(f"{API}/agencies/TYT-05443", json={field: None}, headers=people["admin"])
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
    assert snapshot(engine_) == before
    # the two that may be cleared
    cleared = client.patch(f"{API}/agencies/TYT-05443", json={"digest": None, "supervisor_code": None},
                           headers=people["admin"])
    assert cleared.status_code == 200, cleared.text


def test_supervision_posts_replay_instead_of_repeating(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine
) -> None:
    soon = (date.today() + timedelta(days=3)).isoformat()
    posts = [
        ("/supervision/audit-notes", {"referral_id": scenario.referral_a["id"], "reason_found": "x",
                                      "action_taken": "y", "follow_up_date": soon}, "supervisor"),
        ("/supervision/trainings", {"unit_code": COMMUNE_A, "topic": "Chăm sóc trẻ", "audience": "caregivers",
                                    "held_on": date.today().isoformat(), "participants": []}, "caseworker"),
        ("/supervision/roster", {"unit_code": COMMUNE_A, "person_name": "Nguyễn Văn An", "kind": "collaborator"},
         "caseworker"),
        (f"/reports?unit={DEMO_PROVINCE}&period=2026", None, "supervisor"),
    ]
    for index, (path, body, who) in enumerate(posts):
        headers = {**people[who], "Idempotency-Key": f"replay-{index}"}
        first = client.post(API + path, json=body, headers=headers)
        assert first.status_code == 201, (path, first.text)
        before = snapshot(engine_)
        again = client.post(API + path, json=body, headers=headers)
        assert (again.status_code, again.json()) == (201, first.json()), path
        assert again.headers.get("idempotent-replayed") == "true"
        assert snapshot(engine_) == before, path
    with engine_.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Event).where(Event.entity == "audit")).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(TrainingSession)).scalar() == 1
    # the same key for another period is another request, refused rather than replayed
    other = client.post(f"{API}/reports?unit={DEMO_PROVINCE}&period=2025",
                        headers={**people["supervisor"], "Idempotency-Key": "replay-3"})
    assert other.status_code == 422, other.text


def test_an_agencys_log_shows_its_supervisor_what_was_sent_about_it_to_others(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine
) -> None:
    case_id, referral_id = scenario.case_a["id"], scenario.referral_a["id"]
    with transaction(engine_) as s:  # as the sweep writes an escalation about the station to the province
        enqueue(s, template="escalation", recipient_kind="unit_role", recipient_ref=f"{DEMO_PROVINCE}:supervisor",
                dedupe_key=f"esc:1:4:unit_role:{DEMO_PROVINCE}:supervisor", context={}, case_id=case_id,
                referral_id=referral_id, now=utcnow())
        assert s.get(Agency, "TYT-05443") is not None
    path = f"{API}/agencies/TYT-05443/notifications"
    seen = {(e["template"], e["recipient_ref"]) for e in client.get(path, headers=people["supervisor"]).json()}
    assert ("escalation", f"{DEMO_PROVINCE}:supervisor") in seen
    assert ("referral_requested", "TYT-05443") in seen
    staff = {(e["template"], e["recipient_ref"]) for e in client.get(path, headers=people["agency"]).json()}
    assert staff == {("referral_requested", "TYT-05443")}


def test_the_candidates_shown_are_the_routing_applied(client: TestClient, people: People, scenario: Scenario) -> None:
    case_id, referral_id = scenario.case_a["id"], scenario.referral_a["id"]
    path = f"{API}/cases/{case_id}/referral-candidates?service=rehabilitation"
    before = [c["agency_code"] for c in client.get(path, headers=people["caseworker"]).json()]
    assert before[0] == "TYT-05443" and len(before) > 1
    read = client.get(f"{API}/referrals/{referral_id}", headers=people["agency"])
    rejected = client.post(f"{API}/referrals/{referral_id}/transitions",
                           json={"action": "reject", "payload": {"reason": "no_capacity"}},
                           headers={**people["agency"], "If-Match": read.headers["etag"]})
    assert rejected.status_code == 200, rejected.text
    after = [c["agency_code"] for c in client.get(path, headers=people["caseworker"]).json()]
    assert after[-1] == "TYT-05443" and sorted(after) == sorted(before)
    # the first one shown is the one a referral without a chosen agency goes to
    sent = client.post(f"{API}/cases/{case_id}/referrals", json={"service_code": "rehabilitation"},
                       headers=people["caseworker"])
    assert sent.status_code == 201 and sent.json()["agency_code"] == after[0], sent.text


def test_bad_input_that_was_stored_is_refused_and_changes_nothing(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine
) -> None:
    from tests.api.conftest import CHILD

    before = snapshot(engine_)
    child = {**CHILD, "confirm_duplicate": True}
    refused = [
        ("/children", {**child, "full_name": "Trần\u0000Minh"}, "caseworker"),
        ("/children", {**child, "guardians": [{"name": "Hoa\u0000", "relation": "mother"}]}, "caseworker"),
        ("/children", {**child, "commune_code": DEMO_PROVINCE}, "supervisor"),  # a province is not a commune
        ("/supervision/trainings", {"unit_code": COMMUNE_A, "topic": "Chăm sóc", "audience": "caregivers",
                                    "held_on": "9999-12-31", "participants": []}, "caseworker"),
        ("/supervision/trainings", {"unit_code": COMMUNE_A, "topic": "Chăm sóc", "audience": "caregivers",
                                    "held_on": date.today().isoformat(), "participants": [
                                        {"person_name": "Nguyễn Thị Hoa", "kind": "caregiver",
                                         "child_id": scenario.child_a}]}, "admin"),  # admins see no children
    ]
    for path, body, who in refused:
        response = client.post(API + path, json=body, headers=people[who])
        assert response.status_code == 422, (path, who, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert snapshot(engine_) == before


def test_a_referral_keeps_why_it_was_routed_in_both_languages(client: TestClient, people: People,
                                                               scenario: Scenario) -> None:
    referral = client.get(f"{API}/referrals/{scenario.referral_a['id']}", headers=people["caseworker"]).json()
    assert "phụ trách" in referral["routing_reason"] and "covers" in referral["routing_reason_en"]


def test_a_list_or_object_where_one_value_is_expected_is_refused(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine
) -> None:
    from tests.api.conftest import act, open_case, register

    cw = people["caseworker"]
    case = open_case(client, cw, register(client, cw, full_name="Đỗ Văn Bình")["id"])
    referral_id = scenario.referral_a["id"]
    read = client.get(f"{API}/referrals/{referral_id}", headers=people["agency"])
    before = snapshot(engine_)
    act(client, cw, case, "verify", {"urgency": ["normal"], "assessment": "x"}, expect=422)
    act(client, cw, case, "verify", {"urgency": "normal", "assessment": {"text": "x"}}, expect=422)
    refused = client.post(f"{API}/referrals/{referral_id}/transitions",
                          json={"action": "reject", "payload": {"reason": "other", "reason_text": {"a": [1, 2]}}},
                          headers={**people["agency"], "If-Match": read.headers["etag"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "guard.payload_invalid"
    assert snapshot(engine_) == before
