"""The service directory: agencies, the services they offer, the areas they cover; edited by administrators.

Loaded from reference files by ``engine.reference``; these functions are the administrators' edits, each
inside the caller's transaction, validated before the first write (a refused edit changes nothing).

``to_hsds`` exports the directory shaped after Open Referral HSDS 3.x. The mapping:

=====================  ==========================================================================
HSDS 3.x               Kết Nối
=====================  ==========================================================================
organization           one per ``Agency``: ``name`` ← name_vi, ``alternate_name`` ← name_en,
                       ``description`` ← kind, ``email`` ← first of emails,
                       ``parent_organization_id`` ← the supervising agency, ``phones`` ← phones,
                       ``organization_identifiers`` ← the agency code (scope ``ketnoi``)
location               one per agency (``location_type`` physical): its seat, the unit ``unit_code``
                       (``external_identifier`` = the official unit code, type ``vn_admin_unit``)
service                one per ``AgencyService`` (the offer of a catalogue entry by one agency):
                       ``name`` ← the catalogue's name_vi, ``alternate_name`` ← name_en,
                       ``status`` ← the agency's status (``temporarily_closed`` → ``temporarily closed``),
                       ``attributes`` ← the service code and its domain (taxonomy ``ketnoi``)
service_at_location    one per service, at its agency's location
service_area           one per service and ``AgencyArea``: ``name`` ← the unit's name,
                       ``uri`` ← ``urn:vn-admin-unit:<code>`` (the whole subtree of that unit),
                       ``extent_type`` text
=====================  ==========================================================================

Identifiers are UUIDs (HSDS asks for them), derived with ``uuid5`` from the codes, so repeated exports
of the same directory give the same identifiers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.errors import InvalidInput, NotFound, TransitionRefused
from engine.i18n import LANGUAGES, register
from engine.machine import Actor
from engine.models import Agency, AgencyArea, AgencyService, ServiceType, Unit
from engine.reference import AGENCY_STATUSES
from engine.text import nfc
from engine.users import check_unit_administered

HSDS_VERSION = "3.1"
HSDS_NAMESPACE = uuid.UUID("6b1b7f0e-1c55-5f0a-9a51-6b65746e6f69")  # fixed: stable identifiers across exports
HSDS_SERVICE_STATUS = {"active": "active", "temporarily_closed": "temporarily closed", "defunct": "defunct"}

AGENCY_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,24}$")
APPRISE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")  # apprise's form: scheme://...; checked again on delivery
EDITABLE = ("name_vi", "name_en", "kind", "unit_code", "supervisor_code", "status", "emails", "phones",
            "notify_urls", "language", "digest")

register({
    "directory.field_invalid": {
        "vi": "Giá trị không hợp lệ cho «{field}»: {value}",
        "en": "Invalid value for '{field}': {value}",
    },
    "directory.agency_exists": {
        "vi": "Đã có cơ quan mã «{code}».",
        "en": "An agency with code '{code}' already exists.",
    },
    "directory.supervisor_cycle": {
        "vi": "Không thể đặt «{supervisor}» làm cơ quan quản lý của «{code}»: tạo thành vòng lặp.",
        "en": "'{supervisor}' cannot supervise '{code}': the supervision chain would loop.",
    },
})


def _require_admin(actor: Actor, action: str) -> None:
    if actor.role != "admin":
        raise TransitionRefused("role_not_allowed", role=actor.role, action=action)


def _invalid(field: str, value: Any) -> InvalidInput:
    return InvalidInput("directory.field_invalid", field=field, value=value)


def _clean_list(field: str, values: Iterable[str] | str | None, pattern: re.Pattern[str]) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in values.split(";")]
    out: list[str] = []
    for raw in values:
        value = nfc(str(raw)).strip()
        if not value:
            continue
        if not pattern.match(value):
            raise _invalid(field, value)
        if value not in out:
            out.append(value)
    return out


def _checked(session: Session, code: str, values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise editable agency fields; raise before anything is written."""
    clean: dict[str, Any] = {}
    for field, value in values.items():
        if field not in EDITABLE:
            raise _invalid(field, "not an editable field")
        if field in ("name_vi", "name_en", "kind"):
            text = nfc(str(value or "")).strip()
            if field == "name_vi" and not text:
                raise _invalid(field, "''")
            clean[field] = text
        elif field == "unit_code":
            if not value or session.get(Unit, value) is None:
                raise _invalid(field, value)
            clean[field] = value
        elif field == "supervisor_code":
            clean[field] = _checked_supervisor(session, code, value or None)
        elif field == "status":
            if value not in AGENCY_STATUSES:
                raise _invalid(field, value)
            clean[field] = value
        elif field == "emails":
            clean[field] = _clean_list(field, value, EMAIL)
        elif field == "phones":
            clean[field] = _clean_list(field, value, PHONE)
        elif field == "notify_urls":
            clean[field] = _clean_list(field, value, APPRISE_URL)
        elif field == "language":
            if value not in LANGUAGES:
                raise _invalid(field, value)
            clean[field] = value
        elif field == "digest":
            if value is not None and not isinstance(value, bool):
                raise _invalid(field, value)
            clean[field] = value
    return clean


def _checked_supervisor(session: Session, code: str, supervisor: str | None) -> str | None:
    if supervisor is None:
        return None
    if supervisor == code:
        raise InvalidInput("directory.supervisor_cycle", supervisor=supervisor, code=code)
    seen: set[str] = set()
    current: str | None = supervisor
    while current is not None:
        agency = session.get(Agency, current)
        if agency is None:
            raise _invalid("supervisor_code", supervisor)
        if current == code or current in seen:
            raise InvalidInput("directory.supervisor_cycle", supervisor=supervisor, code=code)
        seen.add(current)
        current = agency.supervisor_code
    return supervisor


def get_agency(session: Session, code: str) -> Agency:
    agency = session.get(Agency, code)
    if agency is None:
        raise NotFound(what=f"agency {code}")
    return agency


def list_agencies(session: Session, *, within_unit: str | None = None, status: str | None = None) -> list[Agency]:
    """Agencies seated in a unit's subtree (all when ``within_unit`` is None), by code."""
    stmt = sa.select(Agency)
    if within_unit is not None:
        root = sa.select(col(Unit.path)).where(col(Unit.code) == within_unit).scalar_subquery()
        stmt = stmt.where(col(Agency.unit_code).in_(
            sa.select(col(Unit.code)).where(col(Unit.path).like(root + "%"))))
    if status is not None:
        stmt = stmt.where(col(Agency.status) == status)
    return list(session.execute(stmt.order_by(col(Agency.code))).scalars())


def create_agency(session: Session, actor: Actor, *, code: str, name_vi: str, unit_code: str,
                  services: Iterable[str] | None = None, areas: Iterable[str] | None = None,
                  **fields: Any) -> Agency:
    """Add an agency; ``fields`` are any of ``EDITABLE``. It offers ``services`` and covers ``areas`` (none unless
    given). An administrator seats it, and lets it cover, only units of their own subtree: elsewhere is not found,
    so that one province's administrator cannot redirect another's referrals or their notices."""
    _require_admin(actor, "create_agency")
    code = (code or "").strip()
    if not AGENCY_CODE.match(code):
        raise _invalid("code", code)
    check_unit_administered(session, actor, unit_code)
    if session.get(Agency, code) is not None:
        raise InvalidInput("directory.agency_exists", code=code)
    values = _checked(session, code, {"name_vi": name_vi, "unit_code": unit_code, **fields})
    wanted_services = _known_services(session, services or [])
    wanted_areas = _administered_units(session, actor, areas or [])
    agency = Agency(code=code, **values)
    session.add(agency)
    session.flush()
    _replace_pairs(session, AgencyService, code, "service_code", wanted_services)
    _replace_pairs(session, AgencyArea, code, "unit_code", wanted_areas)
    return agency


def update_agency(session: Session, actor: Actor, code: str, *, services: Iterable[str] | None = None,
                  areas: Iterable[str] | None = None, **changes: Any) -> Agency:
    """Change an agency's fields (any of ``EDITABLE``), and, when given, replace its services and areas. An
    agency seated outside the administrator's subtree is not found."""
    _require_admin(actor, "update_agency")
    agency = get_agency(session, code)
    check_unit_administered(session, actor, agency.unit_code)
    if "unit_code" in changes:
        check_unit_administered(session, actor, changes["unit_code"])
    values = _checked(session, code, changes)
    wanted_services = None if services is None else _known_services(session, services)
    wanted_areas = None if areas is None else _administered_units(session, actor, areas)
    for field, value in values.items():
        setattr(agency, field, value)
    session.add(agency)
    session.flush()
    if wanted_services is not None:
        _replace_pairs(session, AgencyService, code, "service_code", wanted_services)
    if wanted_areas is not None:
        _replace_pairs(session, AgencyArea, code, "unit_code", wanted_areas)
    return agency


def set_agency_status(session: Session, actor: Actor, code: str, status: str) -> Agency:
    """Active, temporarily closed or defunct: routing proposes active agencies only."""
    return update_agency(session, actor, code, status=status)


def set_agency_services(session: Session, actor: Actor, code: str, service_codes: Iterable[str]) -> list[str]:
    """Replace the catalogue services an agency offers; returns them sorted."""
    _require_admin(actor, "set_agency_services")
    check_unit_administered(session, actor, get_agency(session, code).unit_code)
    wanted = _known_services(session, service_codes)
    _replace_pairs(session, AgencyService, code, "service_code", wanted)
    return wanted


def set_agency_areas(session: Session, actor: Actor, code: str, unit_codes: Iterable[str]) -> list[str]:
    """Replace the units an agency covers (each with its whole subtree); returns them sorted."""
    _require_admin(actor, "set_agency_areas")
    check_unit_administered(session, actor, get_agency(session, code).unit_code)
    wanted = _administered_units(session, actor, unit_codes)
    _replace_pairs(session, AgencyArea, code, "unit_code", wanted)
    return wanted


def _known_services(session: Session, service_codes: Iterable[str]) -> list[str]:
    """The codes, sorted and once each, all in the catalogue (else refused, naming the unknown ones)."""
    wanted = sorted(set(service_codes))
    known = set(session.execute(
        sa.select(col(ServiceType.code)).where(col(ServiceType.code).in_(wanted))
    ).scalars())
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise _invalid("services", ", ".join(unknown))
    return wanted


def _administered_units(session: Session, actor: Actor, unit_codes: Iterable[str]) -> list[str]:
    """The codes, sorted and once each: units of the administrator's subtree (unknown: refused; elsewhere: not
    found)."""
    wanted = sorted(set(unit_codes))
    known = set(session.execute(sa.select(col(Unit.code)).where(col(Unit.code).in_(wanted))).scalars())
    unknown = [u for u in wanted if u not in known]
    if unknown:
        raise _invalid("areas", ", ".join(unknown))
    for unit_code in wanted:
        check_unit_administered(session, actor, unit_code)
    return wanted


def _replace_pairs(session: Session, model: type[AgencyService] | type[AgencyArea], agency_code: str,
                   column: str, wanted: list[str]) -> None:
    table: sa.Table = model.__table__  # type: ignore[union-attr]
    current = set(session.execute(
        sa.select(table.c[column]).where(table.c.agency_code == agency_code)
    ).scalars())
    gone = sorted(current - set(wanted))
    new = [w for w in wanted if w not in current]
    if gone:
        session.execute(sa.delete(table).where(table.c.agency_code == agency_code, table.c[column].in_(gone)))
    if new:
        session.execute(sa.insert(table), [{"agency_code": agency_code, column: w} for w in new])
    session.flush()


def _hsds_id(kind: str, *parts: str) -> str:
    return str(uuid.uuid5(HSDS_NAMESPACE, ":".join((kind, *parts))))


def to_hsds(session: Session) -> dict[str, Any]:
    """The whole directory as HSDS 3.x lists (see the module docstring for the mapping)."""
    agencies = list(session.exec(select(Agency).order_by(col(Agency.code))).all())
    units = {u.code: u for u in session.exec(select(Unit).where(col(Unit.code).in_(
        sa.select(col(Agency.unit_code)).union(sa.select(col(AgencyArea.unit_code)))
    ))).all()}
    services = {s.code: s for s in session.exec(select(ServiceType)).all()}
    offers = session.execute(
        sa.select(col(AgencyService.agency_code), col(AgencyService.service_code))
        .order_by(col(AgencyService.agency_code), col(AgencyService.service_code))
    ).all()
    areas: dict[str, list[str]] = {}
    for agency_code, unit_code in session.execute(
        sa.select(col(AgencyArea.agency_code), col(AgencyArea.unit_code))
        .order_by(col(AgencyArea.agency_code), col(AgencyArea.unit_code))
    ):
        areas.setdefault(agency_code, []).append(unit_code)
    by_code = {a.code: a for a in agencies}

    organizations, locations = [], []
    for a in agencies:
        org_id = _hsds_id("organization", a.code)
        seat = units.get(a.unit_code)
        organizations.append({
            "id": org_id,
            "name": a.name_vi,
            "alternate_name": a.name_en or None,
            "description": a.kind or a.name_vi,
            "email": a.emails[0] if a.emails else None,
            "parent_organization_id": _hsds_id("organization", a.supervisor_code) if a.supervisor_code else None,
            "phones": [{"id": _hsds_id("phone", a.code, p), "organization_id": org_id, "number": p, "type": "voice"}
                       for p in a.phones],
            "contacts": [{"id": _hsds_id("contact", a.code, e), "organization_id": org_id, "email": e}
                         for e in a.emails],
            "organization_identifiers": [{"id": _hsds_id("organization_identifier", a.code),
                                          "organization_id": org_id, "identifier_scope": "ketnoi",
                                          "identifier_type": "agency_code", "identifier": a.code}],
        })
        locations.append({
            "id": _hsds_id("location", a.code),
            "location_type": "physical",
            "organization_id": org_id,
            "name": seat.name_vi if seat else a.unit_code,
            "external_identifier": a.unit_code,
            "external_identifier_type": "vn_admin_unit",
        })

    hsds_services, at_locations, service_areas = [], [], []
    for agency_code, service_code in offers:
        agency, catalogue = by_code[agency_code], services[service_code]
        service_id = _hsds_id("service", agency_code, service_code)
        hsds_services.append({
            "id": service_id,
            "organization_id": _hsds_id("organization", agency_code),
            "name": catalogue.name_vi,
            "alternate_name": catalogue.name_en,
            "status": HSDS_SERVICE_STATUS.get(agency.status, "inactive"),
            "email": agency.emails[0] if agency.emails else None,
            "attributes": [
                {"id": _hsds_id("attribute", agency_code, service_code, "service"), "link_id": service_id,
                 "link_type": "service_type", "link_entity": "service", "value": service_code,
                 "label": "ketnoi:service"},
                {"id": _hsds_id("attribute", agency_code, service_code, "domain"), "link_id": service_id,
                 "link_type": "service_domain", "link_entity": "service", "value": catalogue.domain,
                 "label": "ketnoi:domain"},
            ],
        })
        at_locations.append({
            "id": _hsds_id("service_at_location", agency_code, service_code),
            "service_id": service_id,
            "location_id": _hsds_id("location", agency_code),
        })
        for unit_code in areas.get(agency_code, []):
            unit = units.get(unit_code)
            service_areas.append({
                "id": _hsds_id("service_area", agency_code, service_code, unit_code),
                "service_id": service_id,
                "name": unit.name_vi if unit else unit_code,
                "description": f"{unit.level if unit else 'unit'} {unit_code} and every unit under it",
                "extent": unit_code,
                "extent_type": "text",
                "uri": f"urn:vn-admin-unit:{unit_code}",
            })
    return {
        "hsds_version": HSDS_VERSION,
        "organization": organizations,
        "service": hsds_services,
        "location": locations,
        "service_at_location": at_locations,
        "service_area": service_areas,
    }
