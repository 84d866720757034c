"""The delivery log through the API: a case's log and an agency's, after real deliveries to a real HTTP receiver
(one refused, then accepted), each reader seeing only what their role may see."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow
from engine.models import AccessLog, Agency
from notifications.delivery import RetryPolicy, deliver_due
from tests.api.conftest import People, Scenario
from tests.support.notification_receivers import WebhookReceiver

POLICY = RetryPolicy(max_attempts=4, base_delay=timedelta(seconds=1), max_delay=timedelta(minutes=1),
                     claim_timeout=timedelta(minutes=5))


def _deliver(db: Engine, minutes: int = 0) -> dict[str, int]:
    return deliver_due(db, utcnow() + timedelta(minutes=minutes), base_url="https://ketnoi.example.vn",
                       policy=POLICY)


def _log(client: TestClient, headers: dict[str, str], path: str) -> list[dict[str, object]]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def test_the_case_and_agency_logs_show_each_try_and_only_to_those_allowed(
    client: TestClient, people: People, scenario: Scenario, engine_: Engine, webhook: WebhookReceiver
) -> None:
    with transaction(engine_) as s:
        agency = s.get(Agency, "TYT-05443")
        assert agency is not None
        agency.notify_urls = [webhook.url()]
    case_id, referral_id = scenario.case_a["id"], scenario.referral_a["id"]

    webhook.status = 503  # the station's receiver is down: the first try fails and is kept
    _deliver(engine_)
    webhook.status = 200
    _deliver(engine_, minutes=5)  # past the retry's backoff
    assert [post.payload["title"] for post in webhook.snapshot()], "the referral reached the station"

    # The station rejects: the caseworker is told, about the station's referral but not addressed to it.
    referral = client.get(f"/api/v1/referrals/{referral_id}", headers=people["agency"])
    rejected = client.post(f"/api/v1/referrals/{referral_id}/transitions",
                           json={"action": "reject", "payload": {"reason": "no_capacity"}},
                           headers={**people["agency"], "If-Match": referral.headers["etag"]})
    assert rejected.status_code == 200, rejected.text

    case_log = _log(client, people["caseworker"], f"/api/v1/cases/{case_id}/notifications")
    [request] = [e for e in case_log if e["template"] == "referral_requested"]
    assert (request["recipient_kind"], request["recipient_ref"], request["status"]) == (
        "agency", "TYT-05443", "delivered")
    assert (request["referral_id"], request["attempts"], request["last_error"]) == (referral_id, 2, None)
    first, second = request["tries"]  # type: ignore[misc]
    assert (first["ok"], second["ok"]) == (False, True) and first["error"]
    assert first["channel"] == second["channel"] and first["channel"].startswith("json://127.0.0.1")
    [told] = [e for e in case_log if e["template"] == "referral_rejected"]
    assert (told["recipient_kind"], told["recipient_ref"], told["agency_code"]) == (
        "user", str(people.ids["caseworker"]), "TYT-05443")
    assert case_log == sorted(case_log, key=lambda e: (e["created_at"], e["outbox_id"]), reverse=True)
    assert _log(client, people["supervisor"], f"/api/v1/cases/{case_id}/notifications") == case_log
    assert len(_log(client, people["caseworker"], f"/api/v1/cases/{case_id}/notifications?limit=1")) == 1

    # Reading a case's log is an access to the child's record.
    with engine_.connect() as conn:
        reads = conn.execute(sa.select(AccessLog.user_id).where(
            AccessLog.child_id == scenario.child_a, AccessLog.action == "read_notifications")).scalars().all()
    assert sorted(reads) == sorted([people.ids["caseworker"], people.ids["supervisor"], people.ids["caseworker"]])

    # The station's own staff see what was sent to the station, not what was sent about it to others.
    station = _log(client, people["agency"], "/api/v1/agencies/TYT-05443/notifications")
    assert [e["outbox_id"] for e in station] == [request["outbox_id"]]
    # The province's supervisor sees both.
    path = "/api/v1/agencies/TYT-05443/notifications"
    supervised = {e["outbox_id"] for e in _log(client, people["supervisor"], path)}
    assert supervised == {request["outbox_id"], told["outbox_id"]}
    # A commune supervisor elsewhere, another agency, the caseworker and the admin: it does not exist.
    for subject in ("supervisor_b", "agency_other", "caseworker", "admin"):
        response = client.get("/api/v1/agencies/TYT-05443/notifications", headers=people[subject])
        assert response.status_code == 404, (subject, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/agencies/NO-SUCH/notifications", headers=people["supervisor"]).status_code == 404
    assert client.get(f"/api/v1/cases/{case_id}/notifications", headers=people["agency"]).status_code == 404
