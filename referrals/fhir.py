"""A referral as an HL7 FHIR R4 ``Task`` (referral usage): the lifecycle maps onto ``Task.status`` one to one.

No personal data leaves in it: the child is referred to by the case reference only (``KN-000123``).

=======================  ======================================================================
FHIR Task                Kết Nối referral
=======================  ======================================================================
id / identifier          ``REF-<id>``
status                   ``FHIR_STATUS[state]``
intent                   ``order``
code                     ``fulfill`` (task-code): carry out the requested service
for                      the case reference (``KN-000123``), never the child's name
focus / input            the service code and its domain (catalogue ``ketnoi``)
requester                the user who created the referral (``Practitioner/<id>``)
owner                    the agency (``Organization/<code>``), or the named assignee
authoredOn / lastMod.    created_at / updated_at
executionPeriod          started_at → ended_at
statusReason             the rejection / failure reason (code and text), or the cancellation reason
businessStatus           the outcome of a completed referral
output                   the outcome note
input                    also the previous referral (``REF-<id>``) of a re-referral
=======================  ======================================================================
"""

from __future__ import annotations

from typing import Any

from engine.models import Referral
from referrals.lifecycle import CANCEL_REASON_LABELS, FHIR_STATUS, OUTCOME_LABELS, REASON_LABELS

KETNOI_SYSTEM = "urn:ketnoi"


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def to_fhir_task(referral: Referral, case_reference: str) -> dict[str, Any]:
    """The FHIR ``Task`` resource of one referral (a plain dict, ready for ``json.dumps``)."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"REF-{referral.id}",
        "identifier": [{"system": f"{KETNOI_SYSTEM}:referral", "value": f"REF-{referral.id}"}],
        "status": FHIR_STATUS[referral.state],
        "intent": "order",
        "code": _coding("http://hl7.org/fhir/CodeSystem/task-code", "fulfill"),
        "for": {"identifier": {"system": f"{KETNOI_SYSTEM}:case", "value": case_reference}},
        "focus": {"identifier": {"system": f"{KETNOI_SYSTEM}:service", "value": referral.service_code}},
        "input": [{"type": {"text": "service_domain"}, "valueCode": referral.domain}],
        "owner": ({"reference": f"Practitioner/{referral.assignee_id}"} if referral.assignee_id is not None
                  else {"reference": f"Organization/{referral.agency_code}"}),
        "authoredOn": referral.created_at.isoformat(),
        "lastModified": referral.updated_at.isoformat(),
    }
    if referral.created_by is not None:
        task["requester"] = {"reference": f"Practitioner/{referral.created_by}"}
    if referral.started_at is not None:
        period = {"start": referral.started_at.isoformat()}
        if referral.ended_at is not None:
            period["end"] = referral.ended_at.isoformat()
        task["executionPeriod"] = period
    if referral.state in ("rejected", "failed") and referral.reason_code:
        label = REASON_LABELS.get(referral.reason_code, ("", ""))[1]
        reason = _coding(f"{KETNOI_SYSTEM}:referral-reason", referral.reason_code, label)
        if referral.reason_text:
            reason["text"] = referral.reason_text
        task["statusReason"] = reason
    elif referral.state == "cancelled" and referral.reason_code in CANCEL_REASON_LABELS:  # consent withdrawn
        reason = _coding(f"{KETNOI_SYSTEM}:referral-reason", referral.reason_code,
                         CANCEL_REASON_LABELS[referral.reason_code][1])
        if referral.reason_text:
            reason["text"] = referral.reason_text
        task["statusReason"] = reason
    elif referral.state == "cancelled" and referral.reason_text:
        task["statusReason"] = {"text": referral.reason_text}
    if referral.outcome:
        label = OUTCOME_LABELS.get(referral.outcome, ("", ""))[1]
        task["businessStatus"] = _coding(f"{KETNOI_SYSTEM}:referral-outcome", referral.outcome, label)
    if referral.outcome_note:
        task["output"] = [{"type": {"text": "outcome_note"}, "valueString": referral.outcome_note}]
    if referral.previous_referral_id is not None:  # a re-referral after a rejection or failure
        task["input"].append({"type": {"text": "previous_referral"},
                              "valueString": f"REF-{referral.previous_referral_id}"})
    return task
