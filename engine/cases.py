"""Case use cases: open a case and apply a transition, each in the caller's one transaction.

A transition loads the case, asks the stage tables whether the action is allowed for this actor and
whether its guards hold, then writes the new step with a bumped version (a conditional UPDATE: a stale
version is a ``Conflict``, never a lost update), appends the event, moves tasks and deadlines and writes
the outbox. Any refusal raises before the first write, and the caller's rollback undoes any partial work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from engine import deadlines, outbox, tasks
from engine.audit import append_event
from engine.db import utcnow
from engine.errors import Conflict, InvalidInput, NotFound
from engine.i18n import Localized, Phrase, both, term
from engine.machine import Actor, Facts, Transition
from engine.models import Case, Child, Consent, Event, Referral, ServiceDomain, ServiceType
from engine.states import CASE_MACHINE
from engine.states.guards import withdrawn_domains
from engine.text import nfc

OPEN_REFERRAL_STATES = ("draft", "requested", "accepted", "in_progress", "on_hold")
REPORT_SOURCES = ("helpline_111", "school", "health_station", "family", "collaborator", "survey", "other")
URGENCY_LEVELS = ("normal", "urgent")
# The transition's statements, built once: Core (no unit of work, no ORM object where none is needed) and
# run on the session's connection, with only their parameters changing from one transition to the next.
_CASE: sa.Table = Case.__table__  # type: ignore[attr-defined]
_CONSENT: sa.Table = Consent.__table__  # type: ignore[attr-defined]
_BIRTH_DATE = sa.select(col(Child.date_of_birth)).where(col(Child.id) == sa.bindparam("child_id"))
_CONSENT_FACTS = (
    sa.select(col(Consent.given_by), col(Consent.domains)).distinct()
    .where(col(Consent.case_id) == sa.bindparam("case_id"), col(Consent.revoked_at).is_(None))
)
_OPEN_ITEMS = (
    sa.select(
        col(Referral.id), col(Referral.service_code), col(Referral.state),
        col(ServiceType.name_vi), col(ServiceType.name_en),
    )
    .outerjoin(ServiceType, col(ServiceType.code) == col(Referral.service_code))
    .where(col(Referral.case_id) == sa.bindparam("case_id"), col(Referral.state).in_(OPEN_REFERRAL_STATES))
    .order_by(col(Referral.id))
)
_INSERT_CONSENT = sa.insert(_CONSENT)
_ACTIVE_CONSENTS = (
    sa.select(_CONSENT).where(_CONSENT.c.case_id == sa.bindparam("case_id"), _CONSENT.c.revoked_at.is_(None))
    .order_by(_CONSENT.c.id)
)
_REVOKE_CONSENT = (
    sa.update(_CONSENT)
    .where(_CONSENT.c.id == sa.bindparam("consent_id"), _CONSENT.c.revoked_at.is_(None))
    .values(revoked_at=sa.bindparam("revoked_at"))
)

# What withdrawing consent does to the case's referrals is the referral lifecycle's to do (``referrals`` imports
# the engine, never the other way): ``referrals.services`` registers here, at import, the function that cancels
# them through its own transition. Its arguments: the session, the case, the withdrawal's event, the ids of the
# open referrals to end, the actor and the time.
ReferralStopper = Callable[[Session, Case, Event, Sequence[int], Actor, datetime], None]
_referral_stoppers: list[ReferralStopper] = []


def on_consent_withdrawn(stopper: ReferralStopper) -> ReferralStopper:
    """Register what ends the referrals a withdrawal leaves without consent (once per function)."""
    if stopper not in _referral_stoppers:
        _referral_stoppers.append(stopper)
    return stopper
# SET takes the columns named in the parameters; the WHERE holds the version check (a stale one matches nothing)
_UPDATE_CASE = (
    sa.update(_CASE)
    .where(_CASE.c.id == sa.bindparam("case_id"), _CASE.c.version == sa.bindparam("expected_version"))
    .returning(*_CASE.c)
)


def open_case(
    session: Session,
    *,
    child_id: int,
    actor: Actor,
    source: str,
    urgency: str = "normal",
    note: str | None = None,
    now: datetime | None = None,
) -> Case:
    """Record a report about a child: the case starts at pre-intake, step ``reported``."""
    now = now or utcnow()
    child = session.get(Child, child_id)
    if child is None:
        raise NotFound(what=f"child {child_id}")
    if actor.role not in ("caseworker", "supervisor"):
        raise InvalidInput(detail=both(f"vai trò {actor.role} không mở được hồ sơ",
                                       f"role {actor.role} cannot open cases"))
    if source not in REPORT_SOURCES:
        raise InvalidInput(detail=both(f"nguồn thông tin phải là một trong {', '.join(REPORT_SOURCES)}",
                                         f"source must be one of {', '.join(REPORT_SOURCES)}"))
    if urgency not in URGENCY_LEVELS:
        raise InvalidInput(detail=both(f"mức khẩn cấp phải là một trong {', '.join(URGENCY_LEVELS)}",
                                         f"urgency must be one of {', '.join(URGENCY_LEVELS)}"))
    initial = CASE_MACHINE.initial
    case = Case(
        child_id=child_id,
        unit_code=child.commune_code,
        stage=CASE_MACHINE.stage_of(initial),
        step=initial,
        version=1,
        owner_id=actor.user_id,
        urgency=urgency,
        source=source,
        data={"report": {"source": source, "note": note, "at": now.isoformat()}},
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    assert case.id is not None
    event = append_event(
        session, case_id=case.id, entity="case", entity_version=1, action="report", from_state=None,
        to_state=initial, actor=actor, at=now, payload={"source": source, "urgency": urgency, "note": note},
    )
    _enter_step(session, case, initial, "case.reported", now)
    outbox.on_case_event(session, case, event)
    return case


def transition_case(
    session: Session,
    case_id: int,
    action: str,
    actor: Actor,
    expected_version: int,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
    *,
    case: Case | None = None,
) -> Case:
    """Apply ``action`` to the case if its version is ``expected_version`` and the stage tables allow it.

    ``case`` is the case as this same transaction has just read it (e.g. the caller's scope check), which
    saves reading it twice; without it the row is read here. Either way the guards see what is stored, and
    the version check in the UPDATE itself catches anything committed since.
    """
    now = now or utcnow()
    payload = clean_payload(payload)
    if case is None:
        # Read the row afresh even if this session holds the case already: the guards must see what is stored.
        case = session.get(Case, case_id, populate_existing=True)
        if case is None:
            raise NotFound(what=f"case {case_id}")
    elif case.id != case_id:
        raise ValueError(f"case {case.id} given for case {case_id}")
    if case.version != expected_version:
        raise Conflict(current=case.version, expected=expected_version)
    facts = gather_facts(session, case, actor, payload, now)
    tr = CASE_MACHINE.decide(facts, action)
    return _apply(session, case, tr, facts, expected_version)


def clean_payload(payload: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of the payload that both stores can keep as JSON, or ``InvalidInput`` before any write.

    PostgreSQL's ``jsonb`` and ``text`` refuse NUL characters and NaN, which SQLite would accept: refusing
    them here keeps the two stores behaving the same and keeps a bad payload from failing halfway.
    """
    if payload is None:
        return {}
    if not isinstance(payload, dict) or not all(isinstance(k, str) for k in payload):
        raise InvalidInput(detail=both("payload phải là một đối tượng có khóa là chữ",
                                         "payload must be an object with text keys"))
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")  # lone surrogates cannot be stored
    except (TypeError, ValueError) as exc:
        raise InvalidInput(detail=both(f"payload không phải JSON thuần ({exc})",
                                       f"payload is not plain JSON ({exc})")) from exc
    cleaned: dict[str, Any] = json.loads(text)
    if _has_nul(cleaned):
        raise InvalidInput(detail=both("payload chứa ký tự NUL", "payload contains a NUL character"))
    return cleaned


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def gather_facts(session: Session, case: Case, actor: Actor, payload: dict[str, Any], now: datetime) -> Facts:
    birth_date = session.connection().execute(_BIRTH_DATE, {"child_id": case.child_id}).scalar_one_or_none()
    names: dict[str, dict[str, str]] = {}
    codes = payload.get("domains")
    if codes and isinstance(codes, list | str):  # a refusal names the domains in words (a withdrawal's, say)
        wanted = [c for c in ([codes] if isinstance(codes, str) else codes) if isinstance(c, str)][:50]
        rows = session.execute(
            sa.select(col(ServiceDomain.code), col(ServiceDomain.name_vi), col(ServiceDomain.name_en))
            .where(col(ServiceDomain.code).in_(wanted))
        ).all() if wanted else []
        names = {code: {"vi": vi, "en": en or vi} for code, vi, en in rows}
    return Facts(
        step=case.step,
        actor=actor,
        payload=payload,
        now=now,
        data=case.data,
        child_birth_date=birth_date,
        consents=consent_facts(session, case.id or 0),
        open_items=tuple(open_items(session, case.id or 0)),
        owner_id=case.owner_id,
        urgency=case.urgency,
        names=names,
    )


def consent_facts(session: Session, case_id: int) -> tuple[tuple[str, frozenset[str]], ...]:
    """The case's unrevoked consents as the guards read them: each distinct (given by, domains covered).

    Only those two columns, and each pair once: a case that records the same consent again and again
    (a renewal, a correction) costs the guards nothing more.
    """
    rows = session.connection().execute(_CONSENT_FACTS, {"case_id": case_id}).all()
    return tuple((given_by, frozenset(domains)) for given_by, domains in rows)


def open_items(session: Session, case_id: int) -> list[str]:
    """What the case started and is still open: its referrals that have not ended.

    Each item is ``REF-<id> <service code> (<state>)`` as a value and reads in the reader's language as the
    referral with its service's name and its state's label (``referral.state.<state>`` in the catalogue,
    registered by ``referrals.lifecycle``).
    """
    rows = session.connection().execute(_OPEN_ITEMS, {"case_id": case_id}).all()
    return [
        Phrase(
            "guard.open_referral", f"REF-{rid} {service} ({state})", referral_id=rid,
            service=Localized(service, {"vi": name_vi, "en": name_en}), state=term("referral.state", state),
        )
        for rid, service, state, name_vi, name_en in rows
    ]


def _apply(session: Session, case: Case, tr: Transition, facts: Facts, expected_version: int) -> Case:
    now = facts.now
    assert case.id is not None
    new_data = dict(case.data)
    if tr.effect is not None:
        new_data.update(tr.effect(facts))
    target_stage = CASE_MACHINE.stage_of(tr.target)
    closing = CASE_MACHINE.steps[tr.target].final
    values: dict[str, Any] = {
        "step": tr.target,
        "stage": target_stage,
        "version": expected_version + 1,
        "data": new_data,
        "updated_at": now,
    }
    if closing and not CASE_MACHINE.steps[tr.source].final:
        values["closed_at"] = now
    if tr.source == "closed" and not closing:
        values["closed_at"] = None
    if tr.action == "verify" and facts.payload.get("urgency"):
        values["urgency"] = facts.payload["urgency"]
    stored = session.connection().execute(
        _UPDATE_CASE, {**values, "case_id": case.id, "expected_version": expected_version}
    ).first()
    if stored is None:
        # Someone else moved the case since we read it. Nothing has been written yet; the caller's
        # transaction rolls back (a service never commits or rolls back itself).
        current = session.execute(sa.select(col(Case.version)).where(col(Case.id) == case.id)).scalar()
        raise Conflict(current=current, expected=expected_version)
    for key, value in stored._mapping.items():  # the row as stored, as a refresh would read it
        set_committed_value(case, key, value)
    side = _record_side_facts(session, case, tr, facts)
    event = append_event(
        session, case_id=case.id, entity="case", entity_version=case.version, action=tr.action,
        from_state=tr.source, to_state=tr.target, actor=facts.actor, at=now,
        reason=_reason_text(facts.payload.get("reason")), payload={**facts.payload, **side},
    )
    _stop_referrals(session, case, event, side.get("cancelled_referral_ids") or [], facts)
    moved = tr.source != tr.target
    if moved and closing:
        # A closed case waits on nobody: its leftover tasks (refer again, escalations, audit follow-ups) end too.
        tasks.close_tasks(session, case_id=case.id, now=now)
    if moved or tr.deadline_key:
        tasks.close_tasks(session, case_id=case.id, now=now, case_level_only=True)
        deadlines.on_leave(session, case_id=case.id, now=now)
        _enter_step(session, case, tr.target, tr.deadline_key, now)
    outbox.on_case_event(session, case, event)
    return case


def _reason_text(reason: Any) -> str | None:
    if reason is None or reason == "":
        return None
    return reason if isinstance(reason, str) else json.dumps(reason, ensure_ascii=False)


def _record_side_facts(session: Session, case: Case, tr: Transition, facts: Facts) -> dict[str, Any]:
    """Records that an action creates or ends beside the case itself; what the event should say about them."""
    if tr.action == "record_consent":
        domains = facts.payload.get("domains") or []
        if not isinstance(domains, list):
            domains = [domains]
        session.connection().execute(_INSERT_CONSENT, {
            "case_id": case.id or 0,
            "given_by": facts.payload["given_by"],
            "name": nfc(str(facts.payload["name"])),
            "domains": [str(d) for d in domains],
            "recorded_at": facts.now,
            "recorded_by": facts.actor.user_id,
            "revoked_at": None,
        })
    elif tr.action == "withdraw_consent":
        return withdraw_consents(session, case.id or 0, str(facts.payload["given_by"]),
                                 withdrawn_domains(facts.payload), facts.now)
    elif tr.action == "approve_closure" and (facts.data.get("closure") or {}).get("reason") == "family_withdrew":
        # The family withdrew: a case closed for that keeps no consent in force (nothing is open any more: the
        # closure guard saw to it). Coming back means recording consent again (reopening asks for it).
        return withdraw_consents(session, case.id or 0, None, None, facts.now)
    return {}


def withdraw_consents(session: Session, case_id: int, given_by: str | None, domains: Sequence[str] | None,
                      now: datetime) -> dict[str, Any]:
    """Revoke the case's consents in force of ``given_by`` (everyone's for None) for ``domains`` (all for None).

    A consent covering more domains than those withdrawn is revoked and recorded again for the rest (same person,
    name and original recording), so that what stays given stays in force. Returns what the event records: the
    consents revoked, the domains withdrawn, and the open referrals that no consent in force covers any more
    (the referral lifecycle cancels them, see ``on_consent_withdrawn``).
    """
    conn = session.connection()
    active = conn.execute(_ACTIVE_CONSENTS.with_for_update(), {"case_id": case_id}).mappings().all()
    wanted = None if domains is None else set(domains)
    revoked: list[int] = []
    withdrawn: set[str] = set()
    for row in active:
        covers = set(row["domains"] or [])
        if given_by is not None and row["given_by"] != given_by:
            continue
        if wanted is not None and not covers & wanted:
            continue
        taken = covers if wanted is None else covers & wanted
        conn.execute(_REVOKE_CONSENT, {"consent_id": row["id"], "revoked_at": now})
        revoked.append(row["id"])
        withdrawn |= taken
        kept = covers - taken
        if kept:
            conn.execute(_INSERT_CONSENT, {
                "case_id": case_id, "given_by": row["given_by"], "name": row["name"], "domains": sorted(kept),
                "recorded_at": row["recorded_at"], "recorded_by": row["recorded_by"], "revoked_at": None,
            })
    still = set().union(*(domains for _, domains in consent_facts(session, case_id)))
    lost = sorted(withdrawn - still)
    stop = list(session.execute(
        sa.select(col(Referral.id)).where(
            col(Referral.case_id) == case_id, col(Referral.state).in_(OPEN_REFERRAL_STATES),
            col(Referral.domain).in_(lost),
        ).order_by(col(Referral.id))
    ).scalars()) if lost else []
    return {"revoked_consent_ids": revoked, "withdrawn_domains": sorted(withdrawn),
            "domains_still_covered": sorted(withdrawn & still), "cancelled_referral_ids": stop}


def _stop_referrals(session: Session, case: Case, event: Event, referral_ids: Sequence[int], facts: Facts) -> None:
    """End, through the referral lifecycle, the open referrals a withdrawal left without consent."""
    if not referral_ids:
        return
    if not _referral_stoppers:
        # Never withdraw consent and leave the child's data flowing: the whole transaction rolls back.
        raise RuntimeError("withdrawing consent needs the referral lifecycle loaded (import referrals.services)")
    for stopper in _referral_stoppers:
        stopper(session, case, event, referral_ids, facts.actor, facts.now)


def _enter_step(session: Session, case: Case, step: str, deadline_key: str | None, now: datetime) -> None:
    """Open the clock and the task of a step that waits on someone."""
    waits_on = CASE_MACHINE.steps[step].waits_on
    if waits_on is None:
        return
    assert case.id is not None
    owner: dict[str, Any]
    if waits_on == "supervisor" or case.owner_id is None:
        role = "supervisor" if waits_on == "supervisor" else "caseworker"
        owner = {"owner_unit_code": case.unit_code, "owner_role": role}
    else:
        owner = {"owner_user_id": case.owner_id}
    due = None
    if deadline_key:
        due = deadlines.on_enter(session, policy_key=deadline_key, case_id=case.id, now=now, **owner)
    tasks.open_task(session, case_id=case.id, kind=step, now=now, due_at=due, **owner)


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(what=f"case {case_id}")
    return case
