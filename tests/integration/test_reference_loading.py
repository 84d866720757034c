"""Reference data from files: the country's defaults, idempotent loads, refusals that load nothing, any depth.

The three-tier fixture (tests/fixtures/three_tier/) is an older province → district → commune layout in the
style of the plans written before the 2025 reform (Bắc Kạn before it merged into Thái Nguyên); its codes sit
beside the current tree, so it also shows that a file adds units to the shipped defaults.
"""

from __future__ import annotations

import shutil
import unicodedata
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from engine.children import search_children, subtree_condition
from engine.db import transaction
from engine.errors import ReferenceDataError
from engine.models import Agency, AgencyArea, AgencyService, ServiceDomain, ServiceType, Unit
from engine.reference import load_reference
from tests.support.people import make_child, make_user

DEMO = Path(__file__).resolve().parents[2] / "ketnoi" / "demo"
THREE_TIER = Path(__file__).resolve().parents[1] / "fixtures" / "three_tier"
REFERENCE_TABLES: tuple[type[SQLModel], ...] = (Unit, ServiceDomain, ServiceType, Agency, AgencyService, AgencyArea)


def table_contents(db: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every reference table, sorted: equal contents mean nothing was loaded or changed."""
    out = {}
    with transaction(db) as s:
        for model in REFERENCE_TABLES:
            table = model.__table__  # type: ignore[attr-defined]
            rows = s.execute(sa.select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def counts(contents: dict[str, list[tuple[object, ...]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in contents.items()}


def test_the_defaults_are_the_whole_country_since_the_2025_reform(db: Engine) -> None:
    with transaction(db) as s:
        units = {u.code: u for u in s.execute(sa.select(Unit)).scalars()}
    provinces = [u for u in units.values() if u.level == "province"]
    communes = [u for u in units.values() if u.level == "commune"]
    assert len(provinces) == 34
    assert len(communes) == 3321
    assert len(units) == 34 + 3321
    for p in provinces:
        assert (p.parent_code, p.path, p.depth) == (None, f"/{p.code}/", 0)
    for c in communes:
        assert units[c.parent_code].level == "province"  # type: ignore[index]
        assert (c.path, c.depth) == (f"/{c.parent_code}/{c.code}/", 1)
    assert units["19"].name_vi == "Thái Nguyên"
    assert units["05443"].name_vi == "Phường Phan Đình Phùng"
    assert units["05443"].parent_code == "19"
    assert all(unicodedata.is_normalized("NFC", u.name_vi) for u in units.values())


def test_the_service_catalogue_has_every_domain_of_the_glossary(db: Engine) -> None:
    with transaction(db) as s:
        domains = set(s.execute(sa.select(ServiceDomain.code)).scalars())
        per_domain = dict(s.execute(sa.select(ServiceType.domain, sa.func.count()).group_by(ServiceType.domain)).all())
        names = s.execute(sa.select(ServiceType.name_vi, ServiceType.name_en)).all()
    assert len(domains) >= 9
    assert set(per_domain) == domains, "a domain without any service"
    assert all(vi and en and vi != en for vi, en in names)


def test_loading_the_same_files_twice_changes_nothing(db: Engine) -> None:
    before = table_contents(db)
    with transaction(db) as s:
        again = load_reference(s, DEMO)
    assert not again.changed
    assert table_contents(db) == before

    with transaction(db) as s:
        first = load_reference(s, THREE_TIER)
    assert first.changed and first.inserted["unit"] == 6 and first.inserted["agency"] == 2
    loaded = table_contents(db)
    with transaction(db) as s:
        second = load_reference(s, THREE_TIER)
    assert not second.changed
    assert table_contents(db) == loaded


def test_a_file_replaces_what_it_names(db: Engine, tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text(
        "code,name_vi,name_en,level,parent_code,division_type\n"
        "05443,Phường Phan Đình Phùng (tên mới),Phan Dinh Phung Ward,commune,19,phường\n", encoding="utf-8")
    with transaction(db) as s:
        result = load_reference(s, tmp_path)
        assert result.updated["unit"] == 1 and result.inserted["unit"] == 0
        assert s.get(Unit, "05443").name_vi == "Phường Phan Đình Phùng (tên mới)"  # type: ignore[union-attr]


# --- refusals: file, line and reason; nothing half-loaded -------------------------------------------

VALID_UNITS = "code,name_vi,name_en,level,parent_code,division_type\n99901,Xã Thử Nghiệm,Test Commune,commune,19,xã\n"
AGENCY_HEADER = "code,name_vi,name_en,kind,unit_code,supervisor_code,status,emails,phones,notify_urls,language,digest\n"
# Renames an existing agency: must not stick when anything else in the folder is bad.
RENAMED_AGENCY = "TYT-05443,Trạm Y tế đã đổi tên,Renamed station,health_station,05443,,active,,,,vi,\n"


def latin1_line_after(utf8_text: str, line: str) -> bytes:
    """A file edited in two encodings: good UTF-8 first, then a line saved as Latin-1."""
    return utf8_text.encode("utf-8") + line.encode("latin-1")


BAD_FOLDERS = {
    "unknown-parent": ({"units.csv": VALID_UNITS + "99902,Xã Mồ Côi,Orphan Commune,commune,88888,xã\n"},
                       "units.csv", 3, "unknown parent unit '88888'"),
    "agency-in-unknown-unit": ({"units.csv": VALID_UNITS,
                                "agencies.csv": AGENCY_HEADER + RENAMED_AGENCY
                                + "TYT-X,Trạm Y tế X,X station,health_station,99999,,active,,,,vi,\n"},
                               "agencies.csv", 3, "unknown unit '99999'"),
    "unknown-service": ({"agencies.csv": AGENCY_HEADER + RENAMED_AGENCY,
                         "agency_services.csv": "agency_code,service_code\nTYT-05443,nutrition\nTYT-05443,teleport\n"},
                        "agency_services.csv", 3, "unknown service 'teleport'"),
    "bad-status": ({"agencies.csv": AGENCY_HEADER + RENAMED_AGENCY.replace(",active,", ",closed_forever,")},
                   "agencies.csv", 2, "status 'closed_forever' is not one of"),
    "missing-column": ({"units.csv": "code,name_vi,name_en,parent_code\n99901,Xã Thử,Test,19\n"},
                       "units.csv", 1, "missing column(s): level"),
    "not-utf8": ({"units.csv": latin1_line_after(VALID_UNITS, "99903,Xã Cà Mâu,Ca Mau,commune,19,xã\n")},
                 "units.csv", 3, "not UTF-8 text"),
    "repeated-code": ({"units.csv": VALID_UNITS + "99901,Xã Thử Lại,Again,commune,19,xã\n"},
                      "units.csv", 3, "'99901' repeats line 2"),
    "empty-name": ({"units.csv": VALID_UNITS + "99904,,Nameless,commune,19,xã\n"},
                   "units.csv", 3, "'name_vi' is empty"),
    "too-many-fields": ({"units.csv": VALID_UNITS + "99905,Xã A,A,commune,19,xã,extra\n"},
                        "units.csv", 3, "too many fields"),
    "unknown-domain": ({"services.csv": "code,domain,name_vi,name_en\nmagic,wizardry,Phép thuật,Magic\n"},
                       "services.csv", 2, "unknown domain 'wizardry'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_a_bad_file_is_refused_with_its_line_and_reason_and_nothing_is_loaded(
    db: Engine, tmp_path: Path, case: str
) -> None:
    files, bad_file, line, reason = BAD_FOLDERS[case]
    for name, content in files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = table_contents(db)
    with pytest.raises(ReferenceDataError) as refused, transaction(db) as s:
        load_reference(s, tmp_path)
    error = refused.value
    assert error.params["file"] == bad_file
    assert error.params["line"] == line
    assert reason in error.params["reason"]
    assert error.message("vi").startswith(f"{bad_file}, dòng {line}: ")
    assert error.message("en").startswith(f"{bad_file}, line {line}: ")
    assert reason in error.message("en") and reason not in error.message("vi")  # the reason in each language
    after = table_contents(db)
    assert counts(after) == counts(before)
    assert after == before


def test_a_missing_folder_is_refused(db: Engine, tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError) as refused, transaction(db) as s:
        load_reference(s, tmp_path / "nowhere")
    assert refused.value.params["reason"] == "not a folder"


# --- any depth: an older three-tier layout ---------------------------------------------------------


def test_an_older_three_tier_layout_works_and_subtrees_see_communes_under_the_district(
    db: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "three_tier"
    shutil.copytree(THREE_TIER, folder)
    with transaction(db) as s:
        load_reference(s, folder)
    with transaction(db) as s:
        units = {u.code: u for u in s.execute(sa.select(Unit).where(Unit.path.like("/06/%"))).scalars()}

        def subtree(code: str) -> set[str]:
            return set(s.execute(sa.select(Unit.code).where(subtree_condition(Unit.code, code))).scalars())

        assert {c: (u.level, u.depth, u.path) for c, u in units.items()} == {
            "06": ("province", 0, "/06/"),
            "058": ("district", 1, "/06/058/"),
            "060": ("district", 1, "/06/060/"),
            "01834": ("commune", 2, "/06/058/01834/"),
            "01837": ("commune", 2, "/06/058/01837/"),
            "01990": ("commune", 2, "/06/060/01990/"),
        }
        assert subtree("058") == {"058", "01834", "01837"}
        assert subtree("060") == {"060", "01990"}
        assert subtree("06") == set(units)
        assert not subtree("06") & subtree("19")
        station = s.get(Agency, "TYT-01834")
        assert station is not None and station.supervisor_code == "PLDTBXH-058"
        assert ("PLDTBXH-058", "058") in set(s.execute(sa.select(AgencyArea.agency_code, AgencyArea.unit_code)))

    worker = make_user(db, "cb-bac-kan", "caseworker", unit="01837")
    make_child(db, worker, full_name="Hoàng Thị Lụa", commune_code="01837", date_of_birth=date(2018, 3, 1))
    with transaction(db) as s:
        assert [c.full_name for c in search_children(s, "hoang thi lua", within_unit="058")] == ["Hoàng Thị Lụa"]
        assert [c.full_name for c in search_children(s, "hoang thi lua", within_unit="06")] == ["Hoàng Thị Lụa"]
        assert search_children(s, "hoang thi lua", within_unit="060") == []
        assert search_children(s, "hoang thi lua", within_unit="19") == []


def test_unit_codes_with_like_wildcards_do_not_leak_into_other_subtrees(db: Engine, tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text(
        "code,name_vi,name_en,level,parent_code\n"
        "T_1,Tỉnh Thử,Test Province,province,\n"
        "TX1,Tỉnh Khác,Other Province,province,\n"
        "TX1-A,Xã Khác,Other Commune,commune,TX1\n", encoding="utf-8")
    with transaction(db) as s:
        load_reference(s, tmp_path)
        assert set(s.execute(sa.select(Unit.code).where(subtree_condition(Unit.code, "T_1"))).scalars()) == {"T_1"}
        assert set(s.execute(sa.select(Unit.code).where(subtree_condition(Unit.code, "TX1"))).scalars()) == {
            "TX1", "TX1-A"}
