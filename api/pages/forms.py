"""What each action's form asks for, and how a submitted form becomes the action's payload.

The rules themselves (which fields are required, which values are allowed) stay in the engine's guards;
these specs only choose a widget per field so that a person can fill the payload in. An action without a
spec gets one text field per ``requires_<field>`` guard of its transition, so a new action still works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.cases import REPORT_SOURCES, URGENCY_LEVELS
from engine.children import DISABILITY_TYPES, HOUSEHOLD_STATUSES, SEVERITIES
from engine.machine import Transition
from engine.states.guards import CLOSURE_REASONS, NOT_ELIGIBLE_REASONS

SERVICES = "services"  # choices from the service catalogue
DOMAINS = "domains"  # choices from the service domains



@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str = "text"  # text, textarea, select, checkboxes
    choices: Sequence[str] | str = ()  # values (labelled by ``page.<prefix>.<value>``) or SERVICES / DOMAINS
    prefix: str = ""  # catalogue prefix of the choice labels
    required: bool = False
    labels: Mapping[str, tuple[str, str]] | None = None  # (vi, en) labels given by the owning room
    label: str = ""  # the field's own catalogue key, when ``page.field.<name>`` does not say it for this form


@dataclass(frozen=True)
class FormSpec:
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)


def _select(name: str, values: Sequence[str], prefix: str, required: bool = True) -> FieldSpec:
    return FieldSpec(name, "select", tuple(values), prefix, required)


CASE_ACTION_FORMS: dict[str, FormSpec] = {
    "verify": FormSpec((_select("urgency", URGENCY_LEVELS, "urgency"),
                        FieldSpec("assessment", "textarea", required=True))),
    "record_consent": FormSpec((_select("given_by", ("guardian", "child"), "given_by"),
                                FieldSpec("name", required=True),
                                FieldSpec("domains", "checkboxes", DOMAINS))),
    "accept_for_intake": FormSpec(),
    "close_not_eligible": FormSpec((_select("reason", NOT_ELIGIBLE_REASONS, "reason"),
                                    FieldSpec("note", "textarea"))),
    "complete_assessment": FormSpec((FieldSpec("needs", "checkboxes", SERVICES, required=True),
                                     FieldSpec("note", "textarea"))),
    "submit_plan": FormSpec((FieldSpec("services", "checkboxes", SERVICES, required=True),
                             FieldSpec("goals", "textarea"))),
    "approve_plan": FormSpec((FieldSpec("note", "textarea"),)),
    "return_plan": FormSpec((FieldSpec("reason", "textarea", required=True),)),
    "record_review": FormSpec((FieldSpec("summary", "textarea", required=True),)),
    "replan": FormSpec((FieldSpec("reason", "textarea", required=True),)),
    "propose_closure": FormSpec((_select("reason", CLOSURE_REASONS, "reason"), FieldSpec("note", "textarea"))),
    "approve_closure": FormSpec((FieldSpec("note", "textarea"),)),
    "reject_closure": FormSpec((FieldSpec("reason", "textarea", required=True),)),
    "record_follow_up": FormSpec((FieldSpec("note", "textarea", required=True),)),
    "reopen": FormSpec((FieldSpec("reason", "textarea", required=True),)),
    # no domain ticked: everything that person consented to is withdrawn
    "withdraw_consent": FormSpec((FieldSpec("given_by", "select", ("guardian", "child"), "given_by", required=True,
                                            label="page.field.withdrawn_by"),
                                  FieldSpec("domains", "checkboxes", DOMAINS, label="page.field.withdrawn_domains"),
                                  FieldSpec("reason", "textarea"))),
}

def referral_form(action: str) -> FormSpec:
    """The referral actions' payloads as ``referrals.lifecycle`` documents them (its codes and labels)."""
    from referrals import lifecycle

    def reason() -> FieldSpec:
        return FieldSpec("reason", "select", lifecycle.REASONS, required=True, labels=lifecycle.REASON_LABELS)

    forms = {
        "reject": FormSpec((reason(), FieldSpec("reason_text", "textarea"))),
        "fail": FormSpec((reason(), FieldSpec("reason_text", "textarea"))),
        "hold": FormSpec((FieldSpec("reason", "textarea"),)),
        "complete": FormSpec((FieldSpec("outcome", "select", lifecycle.OUTCOMES, required=True,
                                        labels=lifecycle.OUTCOME_LABELS),
                              FieldSpec("note", "textarea", required=True))),
        "cancel": FormSpec((FieldSpec("reason", "textarea", required=True),)),
    }
    return forms.get(action, FormSpec())


CHILD_CHOICES = {
    "sex": (("male", "female", "other"), "sex"),
    "disability_types": (DISABILITY_TYPES, "disability"),
    "severity": (SEVERITIES, "severity"),
    "household_status": (HOUSEHOLD_STATUSES, "household"),
    "source": (REPORT_SOURCES, "source"),
    "urgency": (URGENCY_LEVELS, "urgency"),
}


def case_form(tr: Transition) -> FormSpec:
    spec = CASE_ACTION_FORMS.get(tr.action)
    if spec is not None:
        return spec
    required = [g.__name__.removeprefix("requires_") for g in tr.guards if g.__name__.startswith("requires_")]
    return FormSpec(tuple(FieldSpec(name, "textarea", required=True) for name in required))


def payload_from_form(spec: FormSpec, form: Any) -> dict[str, Any]:
    """Only the spec's fields are read; empty values are left out so that the engine's guards speak."""
    payload: dict[str, Any] = {}
    for f in spec.fields:
        if f.kind == "checkboxes":
            values = [str(v).strip() for v in form.getlist(f.name) if str(v).strip()]
            if values:
                payload[f.name] = values
        else:
            value = str(form.get(f.name) or "").strip()
            if value:
                payload[f.name] = value
    return payload
