"""A referral exported as a FHIR Task: status one to one, reasons and outcomes, no personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from engine.models import Referral
from referrals.fhir import to_fhir_task
from referrals.lifecycle import FHIR_STATUS

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def referral(**fields: object) -> Referral:
    base: dict[str, object] = {
        "id": 42, "case_id": 7, "service_code": "rehabilitation", "domain": "rehabilitation",
        "agency_code": "PHCN-19", "state": "requested", "created_by": 3, "created_at": T0, "updated_at": T0,
    }
    base.update(fields)
    return Referral(**base)


def test_every_state_maps_to_its_fhir_status() -> None:
    for state, status in FHIR_STATUS.items():
        task = to_fhir_task(referral(state=state), "KN-000007")
        assert (task["resourceType"], task["status"], task["intent"]) == ("Task", status, "order")
        assert task["for"]["identifier"]["value"] == "KN-000007"
        assert task["owner"] == {"reference": "Organization/PHCN-19"}


def test_completed_referral_carries_outcome_and_period() -> None:
    task = to_fhir_task(referral(state="completed", started_at=T0, ended_at=T1, outcome="delivered_partly",
                                 outcome_note="tập 8/12 buổi", assignee_id=9, previous_referral_id=41),
                        "KN-000007")
    assert task["businessStatus"]["coding"][0]["code"] == "delivered_partly"
    assert task["output"][0]["valueString"] == "tập 8/12 buổi"
    assert task["executionPeriod"] == {"start": T0.isoformat(), "end": T1.isoformat()}
    assert task["owner"] == {"reference": "Practitioner/9"}
    assert {"type": {"text": "previous_referral"}, "valueString": "REF-41"} in task["input"]
    assert "statusReason" not in task


def test_rejection_reason_and_cancellation_reason() -> None:
    rejected = to_fhir_task(referral(state="rejected", reason_code="other", reason_text="xe hỏng"), "KN-000007")
    assert rejected["statusReason"]["coding"][0]["code"] == "other"
    assert rejected["statusReason"]["text"] == "xe hỏng"
    cancelled = to_fhir_task(referral(state="cancelled", reason_code="cancelled", reason_text="chuyển nhà"),
                             "KN-000007")
    assert cancelled["statusReason"] == {"text": "chuyển nhà"}
    assert "businessStatus" not in cancelled


def test_the_task_is_plain_json() -> None:
    text = json.dumps(to_fhir_task(referral(state="in_progress", started_at=T0), "KN-000007"), ensure_ascii=False)
    assert json.loads(text)["status"] == "in-progress"
