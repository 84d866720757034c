"""The audit trail: append events, read a timeline, replay events into a state; user administration's own trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.machine import Actor, Machine
from engine.models import Event, UserEvent

_EVENT: sa.Table = Event.__table__  # type: ignore[attr-defined]
_INSERT_EVENT = sa.insert(_EVENT).returning(_EVENT.c.id)
_USER_EVENT: sa.Table = UserEvent.__table__  # type: ignore[attr-defined]
_INSERT_USER_EVENT = sa.insert(_USER_EVENT).returning(_USER_EVENT.c.id)


def append_event(
    session: Session,
    *,
    case_id: int,
    entity: str,
    entity_version: int,
    action: str,
    from_state: str | None,
    to_state: str | None,
    actor: Actor,
    at: datetime,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    referral_id: int | None = None,
) -> Event:
    """Write one event (after anything the session still holds unwritten) and return it with its id.

    A plain INSERT ... RETURNING id: the event is never changed afterwards, so it needs no unit of work.
    The returned ``Event`` is a detached record of what was written.
    """
    values: dict[str, Any] = {
        "case_id": case_id,
        "referral_id": referral_id,
        "entity": entity,
        "entity_version": entity_version,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "actor_id": actor.user_id,
        "actor_role": actor.role,
        "at": at,
        "reason": reason,
        "payload": dict(payload or {}),
    }
    session.flush()  # keep the order of writes: what the caller added before the event goes first
    event_id = session.connection().execute(_INSERT_EVENT, values).scalar_one()
    return Event(id=event_id, **values)


def append_user_event(
    session: Session, *, user_id: int, action: str, actor: Actor, at: datetime, payload: dict[str, Any] | None = None,
) -> UserEvent:
    """Record one act of user administration done to ``user_id`` (by ``Actor.system()``: an operator at the server).

    Like ``append_event``: a plain INSERT ... RETURNING id after what the session holds unwritten. The payload
    says what changed (a role, a unit), never a password or its hash.
    """
    values: dict[str, Any] = {
        "user_id": user_id, "action": action, "actor_id": actor.user_id, "actor_role": actor.role, "at": at,
        "payload": dict(payload or {}),
    }
    session.flush()
    event_id = session.connection().execute(_INSERT_USER_EVENT, values).scalar_one()
    return UserEvent(id=event_id, **values)


def user_timeline(session: Session, user_id: int) -> list[UserEvent]:
    """Every act of administration done to a user, in the order it happened."""
    return list(session.exec(
        select(UserEvent).where(UserEvent.user_id == user_id).order_by(sa.asc(col(UserEvent.id)))))


def timeline(session: Session, case_id: int) -> list[Event]:
    """Every event of a case and of its referrals, in the order they happened."""
    return list(session.exec(select(Event).where(Event.case_id == case_id).order_by(sa.asc(col(Event.id)))))


@dataclass(frozen=True)
class Replayed:
    state: str | None
    version: int


class ReplayMismatch(AssertionError):
    pass


def replay(events: list[Event], machine: Machine, entity: str = "case", referral_id: int | None = None) -> Replayed:
    """Fold the events of one record through its machine; every event must be a declared transition."""
    state: str | None = None
    version = 0
    for ev in events:
        if ev.entity != entity or (entity == "referral" and ev.referral_id != referral_id):
            continue
        if state is None:
            if ev.to_state != machine.initial or ev.from_state is not None:
                raise ReplayMismatch(f"event {ev.id}: first state {ev.to_state!r} is not {machine.initial!r}")
            state = ev.to_state
        elif ev.action in {a for _, a in machine.transitions}:
            tr = machine.transitions.get((state, ev.action))
            if tr is None or tr.target != ev.to_state or ev.from_state != state:
                raise ReplayMismatch(f"event {ev.id}: {ev.action!r} from {state!r} is not declared")
            state = tr.target
        else:
            # events that do not move the record (audit notes, access records) keep its state
            if ev.to_state is not None and ev.to_state != state:
                raise ReplayMismatch(f"event {ev.id}: non-transition {ev.action!r} changes state")
        if ev.entity_version <= version:
            raise ReplayMismatch(f"event {ev.id}: version {ev.entity_version} does not increase")
        version = ev.entity_version
    return Replayed(state, version)
