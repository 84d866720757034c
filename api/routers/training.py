"""The training register behind two indicators: trainings held (with who attended) and the staff roster.

Caseworkers and supervisors keep it for units within their own unit's subtree (admins too); outside that
subtree a unit does not exist (404), and other roles cannot use it at all (403). A training and its
participants are recorded in one transaction: one bad participant refuses the whole request.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col

from api.deps import CurrentActor, DbSession, require_roles
from api.idempotency import Idem
from api.schemas import MAX_ID
from engine.children import subtree_condition
from engine.models import StaffRoster, TrainingParticipant, TrainingSession
from supervision.training import (
    REGISTER_ROLES,
    ParticipantIn,
    add_participants,
    add_roster_person,
    add_training_session,
    check_register_scope,
)

router = APIRouter(prefix="/supervision", tags=["supervision"])
RegisterRole = require_roles(*REGISTER_ROLES)
PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "your role does not keep the training register"},
    404: {"description": "the unit lies outside your area"},
    422: {"description": "unknown kind or audience, empty name, a caregiver without their child"},
}
UnitQuery = Annotated[str, Query(max_length=32, description="a unit within your area (its subtree)", examples=["19"])]


class ParticipantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_name: str = Field(min_length=2, max_length=200, examples=["Nguyễn Thị Hoa"])
    kind: Literal["caregiver", "official", "collaborator"]
    unit_code: str | None = Field(default=None, max_length=32, description="default: the training's unit")
    child_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="caregivers only: the child cared for")


class TrainingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "unit_code": "05443", "topic": "Chăm sóc trẻ khuyết tật tại nhà", "audience": "caregivers",
        "held_on": "2026-10-12",
        "participants": [{"person_name": "Nguyễn Thị Hoa", "kind": "caregiver", "child_id": 1}],
    }]})
    unit_code: str = Field(max_length=32)
    topic: str = Field(min_length=1, max_length=300)
    audience: Literal["caregivers", "officials"]
    held_on: date
    participants: list[ParticipantCreate] = Field(default_factory=list, max_length=2000)


class TrainingPublic(BaseModel):
    id: int
    unit_code: str
    topic: str
    audience: str
    held_on: date
    participants: int


class RosterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_code: str = Field(max_length=32, examples=["05443"])
    person_name: str = Field(min_length=2, max_length=200, examples=["Lê Văn Nam"])
    kind: Literal["official", "collaborator"]


class RosterPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    unit_code: str
    person_name: str
    kind: str


@router.post("/trainings", status_code=201, response_model=TrainingPublic, responses=PROBLEMS,
             dependencies=[RegisterRole], summary="Record a training held, with who attended")
def post_training(body: TrainingCreate, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    if (replayed := idem.replay()) is not None:
        return replayed
    record = add_training_session(session, actor=actor, unit_code=body.unit_code, topic=body.topic,
                                  audience=body.audience, held_on=body.held_on)
    assert record.id is not None
    people = [ParticipantIn(person_name=p.person_name, kind=p.kind, unit_code=p.unit_code or body.unit_code,
                            child_id=p.child_id) for p in body.participants]
    added = add_participants(session, actor=actor, session_id=record.id, participants=people) if people else []
    return idem.respond(201, TrainingPublic(id=record.id, unit_code=record.unit_code, topic=record.topic,
                                            audience=record.audience, held_on=record.held_on, participants=len(added)))


@router.get("/trainings", response_model=list[TrainingPublic], responses=PROBLEMS, dependencies=[RegisterRole],
            summary="Trainings held within a unit's subtree, newest first")
def get_trainings(session: DbSession, actor: CurrentActor, unit: UnitQuery) -> list[TrainingPublic]:
    check_register_scope(session, actor, unit)
    attended = (
        sa.select(sa.func.count()).where(col(TrainingParticipant.session_id) == col(TrainingSession.id))
        .scalar_subquery()
    )
    rows = session.execute(
        sa.select(TrainingSession, attended)
        .where(subtree_condition(TrainingSession.unit_code, unit))
        .order_by(col(TrainingSession.held_on).desc(), col(TrainingSession.id).desc())
        .limit(500)
    ).all()
    return [TrainingPublic(id=t.id, unit_code=t.unit_code, topic=t.topic, audience=t.audience, held_on=t.held_on,
                           participants=int(n)) for t, n in rows]


@router.post("/roster", status_code=201, response_model=RosterPublic, responses=PROBLEMS,
             dependencies=[RegisterRole], summary="Add an official or collaborator to a unit's staff roster")
def post_roster(body: RosterCreate, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    if (replayed := idem.replay()) is not None:
        return replayed
    person = add_roster_person(session, actor=actor, unit_code=body.unit_code, person_name=body.person_name,
                               kind=body.kind)
    return idem.respond(201, RosterPublic.model_validate(person))


@router.get("/roster", response_model=list[RosterPublic], responses=PROBLEMS, dependencies=[RegisterRole],
            summary="The staff roster within a unit's subtree")
def get_roster(session: DbSession, actor: CurrentActor, unit: UnitQuery) -> list[RosterPublic]:
    check_register_scope(session, actor, unit)
    rows = session.execute(
        sa.select(StaffRoster).where(subtree_condition(StaffRoster.unit_code, unit))
        .order_by(col(StaffRoster.unit_code), col(StaffRoster.person_name)).limit(5000)
    ).scalars()
    return [RosterPublic.model_validate(p) for p in rows]
