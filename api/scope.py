"""Who may see what: the one place scope rules live (the pages and supervision reuse it).

- caseworker and supervisor: children, cases and referrals whose unit lies in their own unit's subtree;
- agency_staff: referrals addressed to their agency, with only a minimal summary of the case;
- admin: reference data and users, no children's data.

Outside a user's scope a record does not exist: the loaders raise ``NotFound`` (404), never 403.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, col

from engine.children import subtree_condition
from engine.db import utcnow
from engine.errors import NotFound
from engine.machine import Actor
from engine.models import AccessLog, Case, Child, Referral, Unit

CASE_ROLES = frozenset({"caseworker", "supervisor"})


def sees_cases(actor: Actor) -> bool:
    return actor.role in CASE_ROLES and bool(actor.unit_code)


def unit_condition(actor: Actor, column: sa.ColumnElement[str] | object) -> sa.ColumnElement[bool]:
    """``column`` (a unit code) is within the actor's area; false for roles without one."""
    if not sees_cases(actor):
        return sa.false()
    assert actor.unit_code is not None
    return subtree_condition(column, actor.unit_code)


def child_condition(actor: Actor) -> sa.ColumnElement[bool]:
    return unit_condition(actor, Child.commune_code)


def case_condition(actor: Actor) -> sa.ColumnElement[bool]:
    return unit_condition(actor, Case.unit_code)


def referral_condition(actor: Actor) -> sa.ColumnElement[bool]:
    if actor.role == "agency_staff" and actor.agency_code:
        return col(Referral.agency_code) == actor.agency_code
    if sees_cases(actor):
        return col(Referral.case_id).in_(sa.select(col(Case.id)).where(case_condition(actor)))
    return sa.false()


def record_reads(session: Session, actor: Actor, child_ids: Iterable[int | None], action: str) -> None:
    """Log that ``actor`` read these children's records (a list counts: it shows what a read shows)."""
    if actor.user_id is None:
        return
    at = utcnow()
    session.add_all(AccessLog(user_id=actor.user_id, child_id=child_id, at=at, action=action)
                    for child_id in dict.fromkeys(child_ids) if child_id is not None)


def unit_in_scope(session: Session, actor: Actor, unit_code: str) -> bool:
    found = session.execute(
        sa.select(col(Unit.code)).where(col(Unit.code) == unit_code, unit_condition(actor, Unit.code))
    ).first()
    return found is not None


def _one(session: Session, stmt: sa.Select[tuple[object]], what: str) -> object:
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise NotFound(what=what)
    return row


def child_in_scope(session: Session, actor: Actor, child_id: int) -> Child:
    stmt = sa.select(Child).where(col(Child.id) == child_id, child_condition(actor))
    child = _one(session, stmt, f"child {child_id}")  # type: ignore[arg-type]
    assert isinstance(child, Child)
    return child


# the case routes' loader, built once: the case by id within the subtree of a unit
_CASE_IN_AREA = sa.select(Case).where(
    col(Case.id) == sa.bindparam("case_id"), subtree_condition(Case.unit_code, sa.bindparam("unit_code"))
)


def case_in_scope(session: Session, actor: Actor, case_id: int) -> Case:
    if not sees_cases(actor):
        raise NotFound(what=f"case {case_id}")
    case = session.execute(_CASE_IN_AREA, {"case_id": case_id, "unit_code": actor.unit_code}).scalar_one_or_none()
    if case is None:
        raise NotFound(what=f"case {case_id}")
    return case


def referral_in_scope(session: Session, actor: Actor, referral_id: int) -> Referral:
    stmt = sa.select(Referral).where(col(Referral.id) == referral_id, referral_condition(actor))
    referral = _one(session, stmt, f"referral {referral_id}")  # type: ignore[arg-type]
    assert isinstance(referral, Referral)
    return referral
