"""Referral use cases, each inside the caller's one transaction (``engine.db.transaction``); nothing commits here.

A transition loads the referral, asks ``REFERRAL_MACHINE`` whether the action is allowed for this actor and
whether its guards hold, then writes the new state with a bumped version (a conditional UPDATE: a stale
version is a ``Conflict``, never a lost update), appends the event to the case's trail, moves the referral's
tasks and clocks, and writes the outbox. Every refusal raises before the first write.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine import deadlines, outbox, tasks
from engine.audit import append_event
from engine.cases import clean_payload, consent_facts, on_consent_withdrawn
from engine.db import utcnow
from engine.errors import Conflict, InvalidInput, NotFound, TransitionRefused
from engine.i18n import both, register
from engine.machine import Actor, Facts, Transition
from engine.models import Agency, Case, Event, Referral, ServiceDomain, ServiceType, User
from engine.text import nfc
from referrals.lifecycle import (
    AGENCY_STATES,
    CANCEL_REASONS,
    CONSENT_WITHDRAWN,
    ENDED_STATES,
    OPEN_STATES,
    REFERRAL_MACHINE,
    SENDERS,
    allowed_for_case,
)
from referrals.routing import Candidate, candidates

register({
    "referral.no_candidate": {
        "vi": "Không có cơ quan nào đang hoạt động cung cấp «{service}» cho địa bàn này.",
        "en": "No active agency provides '{service}' for this area.",
    },
    "referral.not_a_candidate": {
        "vi": "Cơ quan «{agency}» không cung cấp «{service}» cho địa bàn này (hoặc đang tạm ngừng hoạt động).",
        "en": "Agency '{agency}' does not provide '{service}' for this area (or is not active).",
    },
    "referral.override_reason_missing": {
        "vi": "Chọn cơ quan khác với đề xuất ({proposed}) cần ghi lý do.",
        "en": "Choosing an agency other than the proposed one ({proposed}) needs a reason.",
    },
    "referral.already_open": {
        "vi": "Trường hợp này đã có chuyển gửi đang mở cho «{service}» (REF-{referral_id}).",
        "en": "This case already has an open referral for '{service}' (REF-{referral_id}).",
    },
    "referral.assignee_invalid": {
        "vi": "Người được giao phải là cán bộ đang làm việc tại cơ quan «{agency}».",
        "en": "The assignee must be an active staff member of agency '{agency}'.",
    },
})

REFER_AGAIN = "refer_again"


def referral_facts(session: Session, referral: Referral, case: Case, actor: Actor, payload: dict[str, Any],
                   now: datetime) -> Facts:
    """What the lifecycle's guards may know: the referral, its case, the case's unrevoked consents, and the
    service's and domain's names as loaded (for refusals in the reader's language)."""
    plan = (case.data or {}).get("care_plan") or {}
    service = session.get(ServiceType, referral.service_code)
    domain = session.get(ServiceDomain, referral.domain) if referral.domain else None
    names = {
        "service_name_vi": service.name_vi if service else None,
        "service_name_en": (service.name_en or service.name_vi) if service else None,
        "domain_name_vi": domain.name_vi if domain else None,
        "domain_name_en": (domain.name_en or domain.name_vi) if domain else None,
    }
    return Facts(
        step=referral.state,
        actor=actor,
        payload=payload,
        now=now,
        data={
            "agency_code": referral.agency_code,
            "assignee_id": referral.assignee_id,
            "service_code": referral.service_code,
            "domain": referral.domain,
            "case_stage": case.stage,
            "case_urgency": case.urgency,
            "plan_services": list(plan.get("services") or []),
            **names,
        },
        consents=consent_facts(session, case.id or 0),
        owner_id=case.owner_id,
        urgency=case.urgency,
    )


def proposals(session: Session, case: Case, service_code: str) -> list[Candidate]:
    """Routing candidates for a case: agencies that already rejected or failed this service for it go last."""
    found = candidates(session, case.unit_code, service_code)
    turned_down = set(session.execute(
        sa.select(col(Referral.agency_code)).where(
            col(Referral.case_id) == case.id, col(Referral.service_code) == service_code,
            col(Referral.state).in_(("rejected", "failed")),
        )
    ).scalars())
    return [c for c in found if c.agency_code not in turned_down] + [c for c in found if c.agency_code in turned_down]


def create_referral(
    session: Session,
    *,
    case_id: int,
    service_code: str,
    actor: Actor,
    agency_code: str | None = None,
    override_reason: str | None = None,
    assignee_id: int | None = None,
    send: bool = True,
    now: datetime | None = None,
) -> Referral:
    """Refer a case's child for a service: to the first proposal, or to another candidate with a reason.

    The referral starts as ``draft``; ``send=True`` moves it straight to ``requested`` (the agency's queue,
    or ``assignee_id`` in it), which needs consent covering the service's domain.
    """
    now = now or utcnow()
    # Lock the case row (PostgreSQL; SQLite serialises writers anyway): a closure cannot be approved while a
    # referral for it is being created, and two people cannot open the same referral twice.
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise NotFound(what=f"case {case_id}")
    if actor.role not in SENDERS:
        raise TransitionRefused("role_not_allowed", role=actor.role, action="create_referral")
    service = session.get(ServiceType, service_code)
    if service is None:
        raise NotFound(what=f"service {service_code}")
    override_reason = nfc(override_reason or "").strip() or None
    if override_reason is not None and "\x00" in override_reason:
        raise InvalidInput(detail=both("lý do chọn cơ quan khác chứa ký tự NUL",
                                       "override_reason contains a NUL character"))

    draft = Referral(case_id=case_id, service_code=service_code, domain=service.domain, agency_code="",
                     state=REFERRAL_MACHINE.initial)
    allowed_for_case(referral_facts(session, draft, case, actor, {}, now))
    already = session.execute(
        sa.select(col(Referral.id)).where(
            col(Referral.case_id) == case_id, col(Referral.service_code) == service_code,
            col(Referral.state).in_(OPEN_STATES),
        )
    ).scalar()
    if already is not None:
        raise TransitionRefused("referral.already_open", service=service.name_vi, referral_id=already)

    proposed = proposals(session, case, service_code)
    if not proposed:
        raise TransitionRefused("referral.no_candidate", service=service.name_vi)
    if agency_code is None or agency_code == proposed[0].agency_code:
        chosen = proposed[0]
    else:
        match = [c for c in proposed if c.agency_code == agency_code]
        if not match:
            raise TransitionRefused("referral.not_a_candidate", agency=agency_code, service=service.name_vi)
        if override_reason is None:
            raise TransitionRefused("referral.override_reason_missing", proposed=proposed[0].agency_code)
        chosen = match[0]
    if chosen is proposed[0]:
        override_reason = None  # nothing was overridden
    if assignee_id is not None:
        _check_assignee(session, assignee_id, chosen.agency_code)

    previous = session.execute(
        sa.select(col(Referral.id)).where(
            col(Referral.case_id) == case_id, col(Referral.service_code) == service_code,
            col(Referral.state).in_(("rejected", "failed")),
        ).order_by(col(Referral.id).desc())
    ).scalar()
    referral = Referral(
        case_id=case_id, service_code=service_code, domain=service.domain, agency_code=chosen.agency_code,
        assignee_id=assignee_id, state=REFERRAL_MACHINE.initial, version=1, routing_reason=chosen.reason_vi,
        routing_reason_en=chosen.reason_en,
        override_reason=override_reason, previous_referral_id=previous, created_by=actor.user_id,
        created_at=now, updated_at=now,
    )
    if send:
        # Check the sending guards (consent...) before the first write, so a refusal leaves nothing behind.
        REFERRAL_MACHINE.decide(referral_facts(session, referral, case, actor, {}, now), "request")
    session.add(referral)
    session.flush()
    assert referral.id is not None and case.id is not None
    event = append_event(
        session, case_id=case.id, referral_id=referral.id, entity="referral", entity_version=1, action="create",
        from_state=None, to_state=referral.state, actor=actor, at=now, reason=override_reason,
        payload={"service_code": service_code, "agency_code": chosen.agency_code, "routing_reason": chosen.reason_vi,
                 "routing_reason_en": chosen.reason_en,
                 "override_reason": override_reason, "assignee_id": assignee_id,
                 "previous_referral_id": previous},
    )
    if previous is not None:  # the caseworker has referred again: that task is done
        tasks.close_tasks(session, case_id=case.id, referral_id=previous, kind=REFER_AGAIN, now=now)
        deadlines.on_leave(session, case_id=case.id, referral_id=previous, now=now)
    _enter_state(session, referral, case, referral.state, None, now)
    outbox.on_referral_event(session, referral, case, event)
    if send:
        referral = transition_referral(session, referral.id, "request", actor, referral.version, {}, now)
    return referral


@on_consent_withdrawn
def cancel_for_withdrawn_consent(session: Session, case: Case, event: Event, referral_ids: Sequence[int],
                                 actor: Actor, now: datetime) -> None:
    """Consent was withdrawn (``event``) and no consent in force covers these open referrals' domains: each is
    cancelled by the sender's own transition, with the reason ``consent_withdrawn``, in the withdrawal's
    transaction: its tasks and clocks close and the agency that had it is told (``engine.outbox``). The
    withdrawal's own reason stays on the case: the agency learns only that consent was withdrawn."""
    for referral_id in referral_ids:
        # lock it first (PostgreSQL): the version read is the one the cancellation writes over
        version = session.execute(
            sa.select(col(Referral.version)).where(col(Referral.id) == referral_id).with_for_update()
        ).scalar_one()
        transition_referral(session, referral_id, "cancel", actor, version,
                            {"reason": CONSENT_WITHDRAWN, "withdrawal_event_id": event.id}, now)


def _check_assignee(session: Session, assignee_id: int, agency_code: str) -> None:
    user = session.get(User, assignee_id)
    if user is None or not user.active or user.role != "agency_staff" or user.agency_code != agency_code:
        raise InvalidInput("referral.assignee_invalid", agency=agency_code)


def transition_referral(
    session: Session,
    referral_id: int,
    action: str,
    actor: Actor,
    expected_version: int,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Referral:
    """Apply ``action`` to a referral; a stale ``expected_version`` is a ``Conflict``."""
    now = now or utcnow()
    payload = clean_payload(payload)
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise NotFound(what=f"referral {referral_id}")
    if referral.version != expected_version:
        raise Conflict(current=referral.version, expected=expected_version)
    case = session.get(Case, referral.case_id)
    assert case is not None
    facts = referral_facts(session, referral, case, actor, payload, now)
    tr = REFERRAL_MACHINE.decide(facts, action)
    return _apply(session, referral, case, tr, facts, expected_version)


def _values_for(tr: Transition, facts: Facts) -> dict[str, Any]:
    """The referral's columns that this transition sets besides its state."""
    payload, now = facts.payload, facts.now
    values: dict[str, Any] = {}
    if tr.action == "request":
        values["requested_at"] = now
    elif tr.action == "accept":
        values["accepted_at"] = now
    elif tr.action == "start":
        values["started_at"] = now
    if tr.action in ("reject", "fail"):
        values["reason_code"] = payload["reason"]
        values["reason_text"] = nfc(str(payload.get("reason_text") or "")).strip() or None
    elif tr.action == "cancel" and payload["reason"] in CANCEL_REASONS:
        values["reason_code"] = payload["reason"]
        values["reason_text"] = nfc(str(payload.get("reason_text") or "")).strip() or None
    elif tr.action == "cancel":
        values["reason_code"] = "cancelled"
        values["reason_text"] = nfc(str(payload["reason"])).strip()
    elif tr.action == "complete":
        values["outcome"] = payload["outcome"]
        values["outcome_note"] = nfc(str(payload["note"])).strip()
    if tr.target in ENDED_STATES:
        values["ended_at"] = now
    return values


def _apply(session: Session, referral: Referral, case: Case, tr: Transition, facts: Facts,
           expected_version: int) -> Referral:
    now = facts.now
    assert referral.id is not None and case.id is not None
    values = {"state": tr.target, "version": expected_version + 1, "updated_at": now, **_values_for(tr, facts)}
    result = session.execute(
        sa.update(Referral)
        .where(col(Referral.id) == referral.id, col(Referral.version) == expected_version)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        current = session.execute(
            sa.select(col(Referral.version)).where(col(Referral.id) == referral.id)
        ).scalar()
        raise Conflict(current=current, expected=expected_version)
    session.refresh(referral)
    event = append_event(
        session, case_id=case.id, referral_id=referral.id, entity="referral", entity_version=referral.version,
        action=tr.action, from_state=tr.source, to_state=tr.target, actor=facts.actor, at=now,
        reason=_event_reason(facts.payload), payload=dict(facts.payload),
    )
    tasks.close_tasks(session, case_id=case.id, referral_id=referral.id, now=now)
    # Leaving keeps the in-progress clock across a hold (engine.deadlines decides, from the referral's new
    # state); the policy says whether that clock stops while on hold.
    deadlines.on_leave(session, case_id=case.id, referral_id=referral.id, now=now)
    if tr.action == "hold":
        deadlines.on_pause(session, referral_id=referral.id, now=now)
    elif tr.action == "resume":
        deadlines.on_resume(session, referral_id=referral.id, now=now)
    _enter_state(session, referral, case, tr.target, tr.deadline_key, now)
    if tr.target in ("rejected", "failed"):
        _open_refer_again(session, referral, case, now)
    outbox.on_referral_event(session, referral, case, event)
    return referral


def _event_reason(payload: Mapping[str, Any]) -> str | None:
    reason = payload.get("reason")
    text = payload.get("reason_text")
    if reason and text:
        return f"{reason}: {text}"
    return str(reason) if reason else None


def _enter_state(session: Session, referral: Referral, case: Case, state: str, deadline_key: str | None,
                 now: datetime) -> None:
    """Open the task (and the clock, when the transition names one) of a state that waits on someone."""
    assert referral.id is not None and case.id is not None
    owner: dict[str, Any]
    if state in AGENCY_STATES:
        owner = ({"owner_user_id": referral.assignee_id} if referral.assignee_id is not None
                 else {"owner_agency_code": referral.agency_code})
    elif state == "draft":
        owner = _case_owner(case, referral.created_by)
    else:
        return
    due: datetime | None = None
    if deadline_key:
        clock_owner = {**owner, "owner_agency_code": referral.agency_code} if state in AGENCY_STATES else owner
        due = deadlines.on_enter(session, policy_key=deadline_key, case_id=case.id, referral_id=referral.id,
                                 now=now, **clock_owner)
    tasks.open_task(session, case_id=case.id, referral_id=referral.id, kind=state, now=now, due_at=due, **owner)


def _case_owner(case: Case, fallback_user_id: int | None = None) -> dict[str, Any]:
    owner_id = case.owner_id if case.owner_id is not None else fallback_user_id
    if owner_id is not None:
        return {"owner_user_id": owner_id}
    return {"owner_unit_code": case.unit_code, "owner_role": "caseworker"}


def _open_refer_again(session: Session, referral: Referral, case: Case, now: datetime) -> None:
    """A rejection or failure hands the caseworker a task to refer again."""
    assert referral.id is not None and case.id is not None
    owner = _case_owner(case, referral.created_by)
    due = deadlines.on_enter(session, policy_key=f"referral.{REFER_AGAIN}", case_id=case.id,
                             referral_id=referral.id, now=now, **owner)
    tasks.open_task(session, case_id=case.id, referral_id=referral.id, kind=REFER_AGAIN, now=now, due_at=due,
                    note=f"{referral.service_code}: {referral.reason_code}", **owner)


def get_referral(session: Session, referral_id: int) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise NotFound(what=f"referral {referral_id}")
    return referral


def agency_inbox(session: Session, agency_code: str, states: Collection[str] | None = None) -> list[Referral]:
    """Referrals addressed to an agency; by default those waiting on it, oldest request first."""
    wanted = list(states) if states is not None else list(AGENCY_STATES)
    return list(session.exec(
        select(Referral)
        .where(col(Referral.agency_code) == agency_code, col(Referral.state).in_(wanted))
        .order_by(sa.func.coalesce(col(Referral.requested_at), col(Referral.created_at)), col(Referral.id))
    ).all())


def referrals_of_case(session: Session, case_id: int) -> list[Referral]:
    return list(session.exec(
        select(Referral).where(col(Referral.case_id) == case_id).order_by(col(Referral.id))
    ).all())


def referral_events(session: Session, referral_id: int) -> list[Event]:
    """One referral's part of the case's trail."""
    return list(session.exec(
        select(Event).where(col(Event.referral_id) == referral_id).order_by(col(Event.id))
    ).all())


def agency_of(session: Session, code: str) -> Agency:
    agency = session.get(Agency, code)
    if agency is None:
        raise NotFound(what=f"agency {code}")
    return agency
