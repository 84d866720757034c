"""The delivery log: what was sent about a case, or to an agency, to whom, when, through which channel, and
what failed. Scoped like the records it is about; reading a case's log is an access to the child's record."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from sqlmodel import col

from api.deps import CurrentActor, DbSession
from api.schemas import DeliveryLogPublic, RecordId
from api.scope import case_condition, case_in_scope, record_reads, unit_in_scope
from engine.errors import NotFound
from engine.models import Agency, Case, Outbox
from notifications.log import DeliveryLogEntry, delivery_log_for_agency, delivery_log_for_case

router = APIRouter(tags=["delivery log"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "not found, or outside your area"}}
Limit = Annotated[int, Query(ge=1, le=500, description="newest first, at most this many")]


def _public(entries: list[DeliveryLogEntry]) -> list[DeliveryLogPublic]:
    return [DeliveryLogPublic.model_validate(entry.as_dict()) for entry in entries]


@router.get("/cases/{case_id}/notifications", response_model=list[DeliveryLogPublic], responses=NOT_FOUND,
            summary="The case's delivery log: every notification about it and its referrals")
def case_notifications(case_id: RecordId, session: DbSession, actor: CurrentActor,
                       limit: Limit = 100) -> list[DeliveryLogPublic]:
    """What was sent about the case, to whom, when, through which channel, and what failed."""
    case = case_in_scope(session, actor, case_id)
    record_reads(session, actor, [case.child_id], "read_notifications")
    return _public(delivery_log_for_case(session, case_id, limit=limit))


@router.get("/agencies/{code}/notifications", response_model=list[DeliveryLogPublic], responses=NOT_FOUND,
            summary="An agency's delivery log (its own staff, and supervisors of its area)")
def agency_notifications(code: str, session: DbSession, actor: CurrentActor,
                         limit: Limit = 100) -> list[DeliveryLogPublic]:
    """Its own staff see what was sent to the agency and to its staff. A supervisor whose area holds the agency
    sees everything about it, for the cases of that area."""
    if actor.role == "agency_staff" and actor.agency_code == code:
        return _public(delivery_log_for_agency(session, code, limit=limit, addressed_only=True))
    agency = session.get(Agency, code) if actor.role == "supervisor" else None
    if agency is None or not unit_in_scope(session, actor, agency.unit_code):
        raise NotFound(what=f"agency log {code}")
    in_area = sa.or_(col(Outbox.case_id).is_(None),
                     col(Outbox.case_id).in_(sa.select(col(Case.id)).where(case_condition(actor))))
    return _public(delivery_log_for_agency(session, code, limit=limit, where=in_area))
