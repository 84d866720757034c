"""A small training register: sessions, their participants, and the staff roster (the officials' denominator).

Names are stored in NFC with single spaces, so that a roster person and a participant of the same unit
and kind match on their name (the "officials trained" indicator joins on unit, kind and name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

import supervision.messages  # noqa: F401  (registers the messages)
from engine.children import subtree_condition
from engine.db import utcnow
from engine.errors import InvalidInput, NotFound, TransitionRefused
from engine.machine import Actor
from engine.models import Child, StaffRoster, TrainingParticipant, TrainingSession, Unit
from engine.text import nfc
from supervision.overdue import can_supervise

AUDIENCES = ("caregivers", "officials")
PARTICIPANT_KINDS = ("caregiver", "official", "collaborator")
STAFF_KINDS = ("official", "collaborator")
REGISTER_ROLES = ("caseworker", "supervisor", "admin")


@dataclass(frozen=True)
class ParticipantIn:
    person_name: str
    kind: str
    unit_code: str
    child_id: int | None = None


def check_register_scope(session: Session, actor: Actor, unit_code: str) -> None:
    """The unit exists, the role keeps the register, and the unit lies in the actor's subtree (else 404)."""
    if session.get(Unit, unit_code) is None:
        raise InvalidInput("supervision.unit_unknown", unit=unit_code)
    if actor.role not in REGISTER_ROLES:
        raise TransitionRefused("supervision.register_role", role=actor.role)
    # caseworkers keep the register of their own subtree too; supervisors' rule is the same subtree rule
    scoped = Actor(user_id=actor.user_id, role="supervisor", unit_code=actor.unit_code)
    if not can_supervise(session, scoped, unit_code):
        raise NotFound(what=f"unit {unit_code}")


def _name(value: str) -> str:
    name = nfc(value or "")
    if len(name) < 2 or "\x00" in name:
        raise InvalidInput("supervision.name_empty")
    return name[:200]


def add_training_session(
    session: Session, *, actor: Actor, unit_code: str, topic: str, audience: str, held_on: date
) -> TrainingSession:
    check_register_scope(session, actor, unit_code)
    if audience not in AUDIENCES:
        raise InvalidInput("supervision.training_audience", audience=audience)
    if not nfc(topic or "") or "\x00" in topic:
        raise InvalidInput("supervision.topic_empty")
    if held_on > utcnow().date() + timedelta(days=1):  # held, not planned (a day's grace for time zones)
        raise InvalidInput("supervision.training_future", date=held_on.strftime("%d/%m/%Y"))
    record = TrainingSession(unit_code=unit_code, topic=nfc(topic), audience=audience, held_on=held_on)
    session.add(record)
    session.flush()
    return record


def add_participants(
    session: Session, *, actor: Actor, session_id: int, participants: list[ParticipantIn]
) -> list[TrainingParticipant]:
    """Add people to a session; all or nothing (the first bad row refuses the whole list)."""
    training = session.get(TrainingSession, session_id)
    if training is None:
        raise NotFound(what=f"training session {session_id}")
    # each unit and each child once, however long the list (a training may count hundreds of people)
    for unit_code in sorted({training.unit_code} | {p.unit_code for p in participants}):
        check_register_scope(session, actor, unit_code)
    # a caregiver's child must lie in the recorder's own area: a child elsewhere is refused as an unknown one
    named = {p.child_id for p in participants if p.child_id is not None}
    known = set(session.execute(
        sa.select(col(Child.id)).where(col(Child.id).in_(named), subtree_condition(Child.commune_code, actor.unit_code))
    ).scalars()) if named and actor.unit_code and actor.role != "admin" else set()  # admins see no children
    rows = []
    for person in participants:
        if person.kind not in PARTICIPANT_KINDS:
            raise InvalidInput("supervision.training_kind", kind=person.kind)
        if person.kind == "caregiver":
            if person.child_id not in known:
                raise InvalidInput("supervision.caregiver_child")
        elif person.child_id is not None:
            raise InvalidInput("supervision.child_for_caregivers")
        rows.append(TrainingParticipant(session_id=session_id, person_name=_name(person.person_name),
                                        kind=person.kind, child_id=person.child_id, unit_code=person.unit_code))
    session.add_all(rows)
    session.flush()
    return rows


def add_roster_person(session: Session, *, actor: Actor, unit_code: str, person_name: str, kind: str) -> StaffRoster:
    """An official or collaborator of a unit; the same name twice in one unit and kind is refused."""
    check_register_scope(session, actor, unit_code)
    if kind not in STAFF_KINDS:
        raise InvalidInput("supervision.training_kind", kind=kind)
    name = _name(person_name)
    taken = session.execute(
        sa.select(col(StaffRoster.id)).where(
            col(StaffRoster.unit_code) == unit_code, col(StaffRoster.kind) == kind, col(StaffRoster.person_name) == name
        )
    ).first()
    if taken is not None:
        raise InvalidInput("supervision.roster_taken", name=name, unit=unit_code)
    person = StaffRoster(unit_code=unit_code, person_name=name, kind=kind)
    session.add(person)
    session.flush()
    return person
