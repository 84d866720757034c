"""Cases: open, read (ETag = version), list with filters, transitions (If-Match), timeline, allowed actions."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from sqlmodel import col

from api.deps import CurrentActor, DbSession, require_roles
from api.idempotency import Idem, IfMatch, etag_of, expected_version
from api.schemas import ActionPublic, CaseOpen, CasePublic, EventPublic, RecordId, TransitionRequest, case_public
from api.scope import CASE_ROLES, case_condition, case_in_scope, child_in_scope, record_reads, unit_condition
from engine.audit import timeline
from engine.cases import open_case, transition_case
from engine.children import subtree_condition
from engine.db import utcnow
from engine.models import Case, Task
from engine.states import CASE_MACHINE, STAGE_NAMES

router = APIRouter(prefix="/cases", tags=["cases"])
CaseRole = require_roles(*CASE_ROLES)

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "not found, or outside your area"}}
TRANSITION_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"description": "stale version: the case changed since you read it"},
    422: {"description": "action unknown, not allowed now, or a guard refused (e.g. consent missing)"},
    428: {"description": "If-Match header missing"},
}


@router.post("", status_code=201, response_model=CasePublic, dependencies=[CaseRole], responses=NOT_FOUND,
             summary="Open a case (record a report about a child)")
def open_case_route(body: CaseOpen, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    if (replayed := idem.replay()) is not None:
        return replayed
    child_in_scope(session, actor, body.child_id)
    case = open_case(session, child_id=body.child_id, actor=actor, source=body.source, urgency=body.urgency,
                     note=body.note)
    return idem.respond(201, case_public(case),
                        headers={"ETag": etag_of(case.version), "Location": f"/api/v1/cases/{case.id}"})


@router.get("", response_model=list[CasePublic], dependencies=[CaseRole], summary="List cases in your area")
def list_cases(
    session: DbSession, actor: CurrentActor,
    stage: Annotated[str | None, Query(description="pre_intake, intake, care, closure", examples=["intake"])] = None,
    step: Annotated[str | None, Query(max_length=64, examples=["plan_awaiting_approval"])] = None,
    unit: Annotated[str | None, Query(max_length=32, description="a unit within your area (its subtree)")] = None,
    owner: Annotated[str | None, Query(max_length=16, description="a user id, or `me`")] = None,
    overdue: Annotated[bool | None, Query(description="only cases with an open task past its due time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[CasePublic]:
    stmt = sa.select(Case).where(case_condition(actor))
    if stage is not None:
        stmt = stmt.where(col(Case.stage) == stage) if stage in STAGE_NAMES else stmt.where(sa.false())
    if step is not None:
        stmt = stmt.where(col(Case.step) == step)
    if unit is not None:
        stmt = stmt.where(subtree_condition(Case.unit_code, unit), unit_condition(actor, Case.unit_code))
    if owner is not None:
        owner_id = actor.user_id if owner == "me" else (int(owner) if owner.isdigit() else -1)
        stmt = stmt.where(col(Case.owner_id) == owner_id)
    if overdue is not None:
        late = sa.exists().where(col(Task.case_id) == col(Case.id), col(Task.closed_at).is_(None),
                                 col(Task.due_at) < utcnow())
        stmt = stmt.where(late if overdue else ~late)
    rows = list(session.execute(stmt.order_by(col(Case.id)).limit(limit).offset(offset)).scalars())
    record_reads(session, actor, (c.child_id for c in rows), "list_cases")
    return [case_public(c) for c in rows]


@router.get("/{case_id}", response_model=CasePublic, responses=NOT_FOUND, summary="Read a case")
def read_case(case_id: RecordId, session: DbSession, actor: CurrentActor, response: Response) -> CasePublic:
    """The `ETag` header carries the version to send back in `If-Match` with a transition."""
    case = case_in_scope(session, actor, case_id)
    record_reads(session, actor, [case.child_id], "read_case")
    response.headers["ETag"] = etag_of(case.version)
    return case_public(case)


@router.post("/{case_id}/transitions", response_model=CasePublic, responses=TRANSITION_PROBLEMS,
             summary="Apply an action to a case")
def transition_case_route(
    case_id: RecordId, body: TransitionRequest, session: DbSession, actor: CurrentActor, idem: Idem,
    if_match: IfMatch = None,
) -> object:
    """Moves the case one step, if the action is allowed now for you and its rules hold."""
    case = case_in_scope(session, actor, case_id)
    if (replayed := idem.replay()) is not None:
        return replayed
    version = expected_version(if_match)
    case = transition_case(session, case_id, body.action, actor, version, body.payload, case=case)
    return idem.respond(200, case_public(case), headers={"ETag": etag_of(case.version)})


@router.get("/{case_id}/timeline", response_model=list[EventPublic], responses=NOT_FOUND,
            summary="The case's timeline (its audit trail)")
def case_timeline(case_id: RecordId, session: DbSession, actor: CurrentActor) -> list[EventPublic]:
    case = case_in_scope(session, actor, case_id)
    record_reads(session, actor, [case.child_id], "read_timeline")
    return [EventPublic.model_validate(e) for e in timeline(session, case_id)]


@router.get("/{case_id}/actions", response_model=list[ActionPublic], responses=NOT_FOUND,
            summary="Actions you may take on this case now")
def case_actions(case_id: RecordId, session: DbSession, actor: CurrentActor) -> list[ActionPublic]:
    """The actions of the current step open to your role; their rules are checked when you apply one."""
    case = case_in_scope(session, actor, case_id)
    return [
        ActionPublic(action=tr.action, target=tr.target, label_vi=tr.label_vi, label_en=tr.label_en)
        for tr in CASE_MACHINE.available(case.step, actor.role)
    ]
