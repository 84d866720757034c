"""Routing and the directory on a real PostgreSQL and a real SQLite file, with the demo province's agencies."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.db import transaction
from engine.errors import DomainError, InvalidInput, TransitionRefused
from engine.machine import Actor
from engine.models import Agency, AgencyArea, AgencyService, Unit
from engine.reference import load_reference
from referrals.directory import (
    create_agency,
    set_agency_areas,
    set_agency_services,
    set_agency_status,
    to_hsds,
    update_agency,
)
from referrals.routing import candidates
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE

ADMIN = Actor(user_id=None, role="admin", unit_code=DEMO_PROVINCE, login="admin")


def codes(db: Engine, commune: str, service: str) -> list[str]:
    with transaction(db) as s:
        return [c.agency_code for c in candidates(s, commune, service)]


def other_commune_of_province(db: Engine, province: str, *skip: str) -> str:
    with transaction(db) as s:
        return s.execute(
            sa.select(Unit.code).where(Unit.parent_code == province, Unit.code.not_in(skip)).order_by(Unit.code)
        ).scalars().first()


def test_nearest_level_first_with_reasons(db: Engine) -> None:
    with transaction(db) as s:
        found = candidates(s, COMMUNE_A, "rehabilitation")
    assert [(c.agency_code, c.unit_code, c.unit_level) for c in found] == [
        ("TYT-05443", COMMUNE_A, "commune"), ("PHCN-19", DEMO_PROVINCE, "province")]
    assert found[0].depth > found[1].depth
    assert found[0].reason_vi == (
        "Trạm Y tế phường Phan Đình Phùng cung cấp «Phục hồi chức năng dựa vào cộng đồng» "
        "và phụ trách Phường Phan Đình Phùng.")
    assert "covers all of Thái Nguyên, including Phường Phan Đình Phùng" in found[1].reason_en
    assert codes(db, COMMUNE_A, "inclusive_education") == ["TH-05443"]


def test_coverage_through_the_unit_tree(db: Engine) -> None:
    elsewhere = other_commune_of_province(db, DEMO_PROVINCE, COMMUNE_A, COMMUNE_B)
    # The province centre covers every commune of its province; the commune station only its own.
    assert codes(db, elsewhere, "rehabilitation") == ["PHCN-19"]
    with transaction(db) as s:
        far_away = s.execute(sa.select(Unit.code).where(Unit.level == "commune", Unit.parent_code != DEMO_PROVINCE)
                             .order_by(Unit.code)).scalars().first()
    assert codes(db, far_away, "rehabilitation") == []
    assert codes(db, COMMUNE_A, "special_education") == []


def test_any_depth_a_district_layer_ranks_between_commune_and_province(db: Engine, tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text(
        "code,name_vi,name_en,level,parent_code,division_type\n"
        "19-D1,Huyện Thử Nghiệm,Test District,district,19,huyện\n"
        "19-D1-X1,Xã Thử Nghiệm,Test Commune,commune,19-D1,xã\n", encoding="utf-8")
    with transaction(db) as s:
        load_reference(s, tmp_path)
        create_agency(s, ADMIN, code="TTYT-D1", name_vi="Trung tâm Y tế huyện Thử Nghiệm", unit_code="19-D1")
        set_agency_services(s, ADMIN, "TTYT-D1", ["rehabilitation"])
        set_agency_areas(s, ADMIN, "TTYT-D1", ["19-D1"])
        create_agency(s, ADMIN, code="TYT-X1", name_vi="Trạm Y tế xã Thử Nghiệm", unit_code="19-D1-X1")
        set_agency_services(s, ADMIN, "TYT-X1", ["rehabilitation", "health_care"])
        set_agency_areas(s, ADMIN, "TYT-X1", ["19-D1-X1"])
    assert codes(db, "19-D1-X1", "rehabilitation") == ["TYT-X1", "TTYT-D1", "PHCN-19"]
    assert codes(db, COMMUNE_A, "rehabilitation") == ["TYT-05443", "PHCN-19"]  # the district covers only its own


def test_temporarily_closed_and_defunct_agencies_are_skipped(db: Engine) -> None:
    assert codes(db, COMMUNE_B, "rehabilitation") == ["PHCN-19"]  # TYT-05710 is temporarily closed
    with transaction(db) as s:
        set_agency_status(s, ADMIN, "TYT-05710", "active")
    assert codes(db, COMMUNE_B, "rehabilitation") == ["TYT-05710", "PHCN-19"]
    with transaction(db) as s:
        set_agency_status(s, ADMIN, "PHCN-19", "defunct")
    assert codes(db, COMMUNE_B, "rehabilitation") == ["TYT-05710"]
    assert codes(db, COMMUNE_A, "assistive_devices") == []


def test_an_agency_covering_the_commune_twice_is_listed_once_at_its_nearest_level(db: Engine) -> None:
    with transaction(db) as s:
        set_agency_areas(s, ADMIN, "PHCN-19", [DEMO_PROVINCE, COMMUNE_A])
    with transaction(db) as s:
        found = candidates(s, COMMUNE_A, "rehabilitation")
    assert [(c.agency_code, c.unit_code) for c in found] == [("PHCN-19", COMMUNE_A), ("TYT-05443", COMMUNE_A)]


def test_directory_edits_are_validated_and_a_refusal_changes_nothing(db: Engine) -> None:
    with transaction(db) as s:
        before = s.get(Agency, "TYT-05443").model_dump()
    bad_edits = [
        {"emails": ["not-an-email"]},
        {"notify_urls": ["just text"]},
        {"phones": ["abc"]},
        {"status": "closed"},
        {"unit_code": "99999"},
        {"language": "fr"},
        {"supervisor_code": "NOPE"},
        {"name_vi": "  "},
        {"website": "x"},
    ]
    for edit in bad_edits:
        with pytest.raises(InvalidInput), transaction(db) as s:
            update_agency(s, ADMIN, "TYT-05443", **edit)
    with pytest.raises(InvalidInput) as refused, transaction(db) as s:
        update_agency(s, ADMIN, "SYT-19", supervisor_code="TYT-05443")  # TYT-05443 answers to SYT-19
    assert refused.value.code == "directory.supervisor_cycle"
    with pytest.raises(TransitionRefused), transaction(db) as s:
        update_agency(s, Actor(user_id=None, role="caseworker"), "TYT-05443", name_vi="Đổi tên")
    with pytest.raises(InvalidInput), transaction(db) as s:
        set_agency_services(s, ADMIN, "TYT-05443", ["rehabilitation", "no_such_service"])
    with pytest.raises(InvalidInput), transaction(db) as s:
        create_agency(s, ADMIN, code="TYT-05443", name_vi="Trùng mã", unit_code=COMMUNE_A)
    with transaction(db) as s:
        assert s.get(Agency, "TYT-05443").model_dump() == before
        offered = s.execute(sa.select(AgencyService.service_code).where(AgencyService.agency_code == "TYT-05443")
                            .order_by(AgencyService.service_code)).scalars().all()
        assert offered == ["health_care", "nutrition", "rehabilitation"]

    with transaction(db) as s:
        changed = update_agency(s, ADMIN, "TYT-05443", emails="a@example.vn; b@example.vn",
                                notify_urls=["mailto://127.0.0.1:8025?to=a@example.vn"], digest=True)
        assert changed.emails == ["a@example.vn", "b@example.vn"]
    with transaction(db) as s:
        stored = s.get(Agency, "TYT-05443")
        assert (stored.emails, stored.digest) == (["a@example.vn", "b@example.vn"], True)


def test_services_and_areas_are_replaced(db: Engine) -> None:
    with transaction(db) as s:
        assert set_agency_services(s, ADMIN, "TYT-05443", ["nutrition", "counselling"]) == ["counselling", "nutrition"]
        set_agency_areas(s, ADMIN, "TYT-05443", [COMMUNE_A, COMMUNE_B])
    with transaction(db) as s:
        offered = s.execute(sa.select(AgencyService.service_code).where(AgencyService.agency_code == "TYT-05443")
                            .order_by(AgencyService.service_code)).scalars().all()
        covered = s.execute(sa.select(AgencyArea.unit_code).where(AgencyArea.agency_code == "TYT-05443")
                            .order_by(AgencyArea.unit_code)).scalars().all()
    assert (offered, covered) == (["counselling", "nutrition"], [COMMUNE_A, COMMUNE_B])
    assert codes(db, COMMUNE_A, "rehabilitation") == ["PHCN-19"]
    assert codes(db, COMMUNE_B, "counselling") == ["TYT-05443", "CTXH-19"]


def test_hsds_export_maps_the_directory(db: Engine) -> None:
    with transaction(db) as s:
        export = to_hsds(s)
        agencies = s.execute(sa.select(sa.func.count()).select_from(Agency)).scalar()
        offers = s.execute(sa.select(sa.func.count()).select_from(AgencyService)).scalar()
    assert set(export) >= {"organization", "service", "location", "service_at_location", "service_area"}
    assert len(export["organization"]) == len(export["location"]) == agencies
    assert len(export["service"]) == len(export["service_at_location"]) == offers
    orgs = {o["organization_identifiers"][0]["identifier"]: o for o in export["organization"]}
    station = orgs["TYT-05443"]
    assert station["name"] == "Trạm Y tế phường Phan Đình Phùng"
    assert station["parent_organization_id"] == orgs["SYT-19"]["id"]
    assert [p["number"] for p in station["phones"]] == ["0912 000 001"]
    services = {s["id"]: s for s in export["service"]}
    closed = [s for s in export["service"] if s["organization_id"] == orgs["TYT-05710"]["id"]]
    assert {s["status"] for s in closed} == {"temporarily closed"}
    ids = {s["id"] for s in export["service"]}
    assert all(a["service_id"] in ids for a in export["service_area"])
    assert all(sal["service_id"] in services for sal in export["service_at_location"])
    centre = orgs["PHCN-19"]["id"]
    centre_rehab = [s for s in export["service"]
                    if s["organization_id"] == centre and s["attributes"][0]["value"] == "rehabilitation"]
    assert len(centre_rehab) == 1
    areas = [a for a in export["service_area"] if a["service_id"] == centre_rehab[0]["id"]]
    assert [a["uri"] for a in areas] == ["urn:vn-admin-unit:19"]
    with transaction(db) as s:
        assert to_hsds(s) == export  # stable identifiers


def test_errors_are_domain_errors_with_both_languages(db: Engine) -> None:
    with pytest.raises(DomainError) as refused, transaction(db) as s:
        update_agency(s, ADMIN, "TYT-05443", emails=["x"])
    assert "Giá trị không hợp lệ" in refused.value.message("vi")
    assert "Invalid value for 'emails'" in refused.value.message("en")
