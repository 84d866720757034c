"""The directory: units (a tree of any depth), agencies, services; administrators edit agencies (through
``referrals.directory``, where the rules of an edit live)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from sqlmodel import Session, col

from api.deps import CurrentActor, DbSession, require_roles
from api.idempotency import Idem
from api.schemas import AgencyCreate, AgencyPublic, AgencyUpdate, ServicePublic, UnitPublic
from engine.children import subtree_condition
from engine.errors import NotFound
from engine.models import Agency, AgencyArea, AgencyService, ServiceType, Unit
from notifications.delivery import channel_label
from referrals import directory

router = APIRouter(tags=["directory"])
Admin = require_roles("admin")
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "not found"}}


@router.get("/units", response_model=list[UnitPublic], summary="Units: the children of a unit (or the roots)")
def list_units(
    session: DbSession, _actor: CurrentActor,
    parent: Annotated[str | None, Query(max_length=32, description="parent unit code; none: the top level",
                                        examples=["19"])] = None,
) -> list[UnitPublic]:
    cond = col(Unit.parent_code).is_(None) if parent is None else col(Unit.parent_code) == parent
    rows = session.execute(sa.select(Unit).where(cond).order_by(col(Unit.code))).scalars()
    return [UnitPublic.model_validate(u) for u in rows]


@router.get("/units/{code}", response_model=UnitPublic, responses=NOT_FOUND, summary="One unit")
def read_unit(code: str, session: DbSession, _actor: CurrentActor) -> UnitPublic:
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFound(what=f"unit {code}")
    return UnitPublic.model_validate(unit)


@router.get("/services", response_model=list[ServicePublic], summary="The service catalogue")
def list_services(
    session: DbSession, _actor: CurrentActor,
    domain: Annotated[str | None, Query(max_length=32, examples=["health"])] = None,
) -> list[ServicePublic]:
    stmt = sa.select(ServiceType).order_by(ServiceType.domain, ServiceType.code)
    if domain is not None:
        stmt = stmt.where(col(ServiceType.domain) == domain)
    return [ServicePublic.model_validate(s) for s in session.execute(stmt).scalars()]


def _agency_public(session: Session, agencies: list[Agency], *, secrets: bool) -> list[AgencyPublic]:
    """The agencies as the API shows them. Notification addresses may hold credentials (a webhook's token, a
    mail password): only administrators, who keep them, see them whole; others see them as the delivery log
    does, without their secrets."""
    codes = [a.code for a in agencies]
    services: dict[str, list[str]] = {c: [] for c in codes}
    areas: dict[str, list[str]] = {c: [] for c in codes}
    if codes:
        for agency_code, service_code in session.execute(
            sa.select(col(AgencyService.agency_code), col(AgencyService.service_code))
            .where(AgencyService.agency_code.in_(codes)).order_by(AgencyService.service_code)  # type: ignore[attr-defined]
        ):
            services[agency_code].append(service_code)
        for agency_code, unit_code in session.execute(
            sa.select(col(AgencyArea.agency_code), col(AgencyArea.unit_code))
            .where(AgencyArea.agency_code.in_(codes)).order_by(AgencyArea.unit_code)  # type: ignore[attr-defined]
        ):
            areas[agency_code].append(unit_code)
    out = []
    for agency in agencies:
        public = AgencyPublic.model_validate(agency)
        public.services, public.areas = services[agency.code], areas[agency.code]
        if not secrets:
            public.notify_urls = [channel_label(url) for url in public.notify_urls]
        out.append(public)
    return out


@router.get("/agencies", response_model=list[AgencyPublic], summary="Agencies")
def list_agencies(
    session: DbSession, actor: CurrentActor,
    unit: Annotated[str | None, Query(max_length=32, description="agencies located in this unit's subtree")] = None,
    service: Annotated[str | None, Query(max_length=64, examples=["rehabilitation"])] = None,
    status: Annotated[str | None, Query(max_length=32, examples=["active"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AgencyPublic]:
    stmt = sa.select(Agency)
    if unit is not None:
        stmt = stmt.where(subtree_condition(Agency.unit_code, unit))
    if service is not None:
        stmt = stmt.where(Agency.code.in_(  # type: ignore[attr-defined]
            sa.select(col(AgencyService.agency_code)).where(col(AgencyService.service_code) == service)))
    if status is not None:
        stmt = stmt.where(col(Agency.status) == status)
    return _agency_public(session, list(session.execute(stmt.order_by(Agency.code).limit(limit)).scalars()),
                          secrets=actor.role == "admin")


@router.get("/agencies/{code}", response_model=AgencyPublic, responses=NOT_FOUND, summary="One agency")
def read_agency(code: str, session: DbSession, actor: CurrentActor) -> AgencyPublic:
    return _agency_public(session, [directory.get_agency(session, code)], secrets=actor.role == "admin")[0]


@router.post("/agencies", status_code=201, response_model=AgencyPublic, dependencies=[Admin],
             responses={422: {"description": "invalid input, or the code is taken"}},
             summary="Add an agency (administrators)")
def create_agency(body: AgencyCreate, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    if (replayed := idem.replay()) is not None:
        return replayed
    agency = directory.create_agency(session, actor, **body.model_dump())
    return idem.respond(201, _agency_public(session, [agency], secrets=True)[0],
                        headers={"Location": f"/api/v1/agencies/{agency.code}"})


@router.patch("/agencies/{code}", response_model=AgencyPublic, dependencies=[Admin],
              responses={**NOT_FOUND, 422: {"description": "invalid input"}},
              summary="Change an agency (administrators)")
def update_agency(code: str, body: AgencyUpdate, session: DbSession, actor: CurrentActor) -> AgencyPublic:
    agency = directory.update_agency(session, actor, code, **body.model_dump(exclude_unset=True))
    return _agency_public(session, [agency], secrets=True)[0]
