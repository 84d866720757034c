"""The children's registry: register (with the possible-duplicate check), read, search without diacritics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, col

from engine.db import utcnow
from engine.errors import InvalidInput, NotFound, PossibleDuplicate
from engine.i18n import both
from engine.machine import Actor
from engine.models import Child, Unit
from engine.text import nfc, search_key

DISABILITY_TYPES = ("mobility", "hearing_speech", "vision", "neurological_mental", "intellectual", "other")
SEVERITIES = ("extremely_severe", "severe", "mild")
HOUSEHOLD_STATUSES = ("poor", "near_poor", "average", "other")
SPECIAL_CIRCUMSTANCES = (
    "orphaned", "abandoned", "hiv_affected", "agent_orange", "severely_disabled", "disaster_affected", "other",
)
CHILD_AGE_LIMIT = 16  # a child is under 16 (Law on Children 2016)


class Guardian(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(default="parent", max_length=50)
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=500)

    @field_validator("name")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _no_nul(nfc(v))


def _no_nul(text: str) -> str:
    """PostgreSQL cannot store a NUL character in text; refused on every store, so both behave the same."""
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    return text


class ChildCreate(BaseModel):
    """What a caseworker records to register a child."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{
                "full_name": "Trần Văn Minh", "date_of_birth": "2019-05-02", "sex": "male",
                "commune_code": "05443", "guardians": [{"name": "Nguyễn Thị Hoa", "relation": "mother",
                                                        "phone": "0912345678"}],
                "disability_types": ["mobility"], "severity": "severe", "household_status": "poor",
            }]
        },
    )
    full_name: str = Field(min_length=2, max_length=200)
    date_of_birth: date
    sex: Literal["male", "female", "other"]
    commune_code: str = Field(min_length=1, max_length=32)
    guardians: list[Guardian] = Field(default_factory=list, max_length=10)
    disability_types: list[Literal[DISABILITY_TYPES]] = Field(min_length=1)  # type: ignore[valid-type]
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    disability_certificate: str | None = Field(default=None, max_length=100)
    special_circumstances: list[Literal[SPECIAL_CIRCUMSTANCES]] = Field(default_factory=list)  # type: ignore[valid-type]
    household_status: Literal[HOUSEHOLD_STATUSES] | None = None  # type: ignore[valid-type]
    personal_id: str | None = Field(default=None, description="12-digit personal identification number")

    @field_validator("full_name")
    @classmethod
    def _name_nfc(cls, v: str) -> str:
        v = _no_nul(nfc(v))
        if not search_key(v):
            raise ValueError("name is empty")
        return v

    @field_validator("personal_id")
    @classmethod
    def _personal_id(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        v = v.strip()
        if len(v) != 12 or not v.isdigit():
            raise ValueError("must be exactly 12 digits")
        return v

    @field_validator("date_of_birth")
    @classmethod
    def _not_future(cls, v: date) -> date:
        if v > utcnow().date():
            raise ValueError("date of birth is in the future")
        if utcnow().date().year - v.year > CHILD_AGE_LIMIT + 2:
            raise ValueError(f"a child is under {CHILD_AGE_LIMIT}")
        return v


def _summary(child: Child) -> dict[str, Any]:
    return {
        "id": child.id, "full_name": child.full_name, "date_of_birth": child.date_of_birth.isoformat(),
        "commune_code": child.commune_code,
    }


def find_duplicates(session: Session, name_key: str, dob: date, commune_code: str) -> list[Child]:
    return list(
        session.execute(
            sa.select(Child).where(
                col(Child.name_key) == name_key, col(Child.date_of_birth) == dob,
                col(Child.commune_code) == commune_code,
            )
        ).scalars()
    )


def register_child(
    session: Session, data: ChildCreate, actor: Actor, *, confirm_duplicate: bool = False,
    now: datetime | None = None,
) -> Child:
    """Register a child. A same-name, same-birthday, same-commune record asks for confirmation first."""
    unit = session.get(Unit, data.commune_code)
    if unit is None:
        raise InvalidInput(detail=both(f"không có xã, phường «{data.commune_code}»",
                                         f"unknown commune '{data.commune_code}'"))
    if unit.level != "commune":  # a child lives in a commune, not in a province or district as a whole
        raise InvalidInput(detail=both(f"«{data.commune_code}» không phải là xã, phường",
                                         f"'{data.commune_code}' is not a commune"))
    key = search_key(data.full_name)
    if not confirm_duplicate:
        dupes = find_duplicates(session, key, data.date_of_birth, data.commune_code)
        if dupes:
            raise PossibleDuplicate([_summary(c) for c in dupes])
    if data.personal_id is not None:
        taken = session.execute(sa.select(col(Child.id)).where(col(Child.personal_id) == data.personal_id)).first()
        if taken:
            raise InvalidInput("personal_id_taken")
    child = Child(
        full_name=data.full_name,
        name_key=key,
        date_of_birth=data.date_of_birth,
        sex=data.sex,
        commune_code=data.commune_code,
        guardians=[g.model_dump() for g in data.guardians],
        disability_types=list(data.disability_types),
        severity=data.severity,
        disability_certificate=data.disability_certificate,
        special_circumstances=list(data.special_circumstances),
        household_status=data.household_status,
        personal_id=data.personal_id,
        created_at=now or utcnow(),
        created_by=actor.user_id,
    )
    session.add(child)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:
        # Two people registering the same personal ID at once: the check above saw neither, the unique
        # index refuses the second. Say so plainly; the caller's transaction rolls back.
        if data.personal_id is not None and "personal_id" in str(exc.orig):
            raise InvalidInput("personal_id_taken") from exc
        raise
    return child


def get_child(session: Session, child_id: int) -> Child:
    child = session.get(Child, child_id)
    if child is None:
        raise NotFound(what=f"child {child_id}")
    return child


def subtree_condition(column: Any, unit_code: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """``column`` (a unit code) lies in the subtree rooted at ``unit_code`` (the unit itself included).

    ``unit_code`` may be a bound parameter, for a statement built once and run for many units.

    A prefix test on the materialised path rather than ``LIKE path || '%'``: unit codes come from files and
    may contain ``_`` or ``%``, which LIKE would read as wildcards. An unknown ``unit_code`` matches nothing.
    """
    root_path = sa.select(col(Unit.path)).where(col(Unit.code) == unit_code).scalar_subquery()
    in_subtree = sa.func.substr(col(Unit.path), 1, sa.func.length(root_path)) == root_path
    return column.in_(sa.select(col(Unit.code)).where(in_subtree))  # type: ignore[no-any-return]


def search_children(
    session: Session, query: str, *, within_unit: str | None = None, limit: int = 50
) -> list[Child]:
    """Names match without caring about diacritics or case: 'nguyen van an' finds 'Nguyễn Văn An'."""
    key = search_key(query)
    if not key:
        return []
    pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = sa.select(Child).where(col(Child.name_key).like(pattern, escape="\\"))
    if within_unit is not None:
        stmt = stmt.where(subtree_condition(Child.commune_code, within_unit))
    return list(session.execute(stmt.order_by(col(Child.name_key), col(Child.id)).limit(limit)).scalars())
