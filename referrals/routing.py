"""Routing: which agencies may receive a referral for this service in this commune, nearest level first.

An agency is a candidate when it is active, offers the service, and one of its areas covers the commune:
an area covers its unit's whole subtree (``Unit.path``), so a province centre covers every commune under it.
The deepest covering area ranks first (the commune's own health station before the province centre).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from engine.models import Agency, AgencyArea, AgencyService, ServiceType, Unit


@dataclass(frozen=True)
class Candidate:
    agency_code: str
    name_vi: str
    name_en: str
    unit_code: str  # the covering area's unit
    unit_level: str
    depth: int
    reason_vi: str
    reason_en: str

    def reason(self, lang: str = "vi") -> str:
        return self.reason_en if lang == "en" else self.reason_vi


def candidates(
    session: Session, commune_code: str, service_code: str, *, exclude: Collection[str] = ()
) -> list[Candidate]:
    """Active agencies offering ``service_code`` whose areas cover ``commune_code``; one query.

    ``exclude`` lists agency codes to leave out.
    """
    area_unit = aliased(Unit, name="area_unit")
    commune = aliased(Unit, name="commune")
    stmt = (
        sa.select(
            col(Agency.code), col(Agency.name_vi), col(Agency.name_en),
            col(area_unit.code), col(area_unit.level), col(area_unit.depth),
            col(area_unit.name_vi), col(area_unit.name_en),
            col(commune.code), col(commune.name_vi), col(commune.name_en),
            col(ServiceType.name_vi), col(ServiceType.name_en),
        )
        .select_from(Agency)
        .join(AgencyService, sa.and_(col(AgencyService.agency_code) == col(Agency.code),
                                     col(AgencyService.service_code) == service_code))
        .join(ServiceType, col(ServiceType.code) == col(AgencyService.service_code))
        .join(AgencyArea, col(AgencyArea.agency_code) == col(Agency.code))
        .join(area_unit, col(area_unit.code) == col(AgencyArea.unit_code))
        .join(commune, sa.and_(col(commune.code) == commune_code,
                               col(commune.path).like(col(area_unit.path) + "%")))
        .where(col(Agency.status) == "active")
        .order_by(col(area_unit.depth).desc(), col(Agency.code))
    )
    if exclude:
        stmt = stmt.where(col(Agency.code).not_in(list(exclude)))
    out: list[Candidate] = []
    seen: set[str] = set()
    for row in session.execute(stmt):
        (code, name_vi, name_en, unit_code, level, depth, unit_vi, unit_en,
         commune_code_, commune_vi, commune_en, service_vi, service_en) = row
        if code in seen:  # an agency covering the commune through several areas: keep the nearest
            continue
        seen.add(code)
        name_en = name_en or name_vi
        if unit_code == commune_code_:
            reason_vi = f"{name_vi} cung cấp «{service_vi}» và phụ trách {unit_vi}."
            reason_en = f"{name_en} provides '{service_en}' and covers {unit_en}."
        else:
            reason_vi = f"{name_vi} cung cấp «{service_vi}» và phụ trách toàn địa bàn {unit_vi}, gồm {commune_vi}."
            reason_en = f"{name_en} provides '{service_en}' and covers all of {unit_en}, including {commune_en}."
        out.append(Candidate(code, name_vi, name_en, unit_code, level, depth, reason_vi, reason_en))
    return out
