"""Reference data from files: units, service domains and catalogue, agencies, what they offer and cover.

The default units are the whole country since the 1 July 2025 reform (34 provinces, 3,321 communes),
taken from the ``vietnam-provinces`` package. ``units.csv`` in a reference folder adds or replaces units
(a tree of any depth: an older province → district → commune layout works the same).

Everything is parsed and checked before anything is written; a bad file is refused with its line and
reason, and the whole load is one transaction. Loading the same files twice changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col

from engine.errors import ReferenceDataError
from engine.i18n import both
from engine.models import Agency, AgencyArea, AgencyService, ServiceDomain, ServiceType, Unit
from engine.text import nfc

DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"
AGENCY_STATUSES = ("active", "temporarily_closed", "defunct")
FILES = ("domains.csv", "services.csv", "units.csv", "agencies.csv", "agency_services.csv", "agency_areas.csv")


@dataclass
class ReferenceSet:
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    agencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    agency_services: set[tuple[str, str]] = field(default_factory=set)
    agency_areas: set[tuple[str, str]] = field(default_factory=set)


def national_units() -> Iterator[dict[str, Any]]:
    """The 34 provinces and 3,321 communes, with official codes and names, from ``vietnam-provinces``."""
    from vietnam_provinces import Province, Ward

    for p in Province.iter_all():
        yield {
            "code": f"{int(p.code):02d}", "name_vi": p.name, "name_en": p.name, "level": "province",
            "parent_code": None, "division_type": p.division_type.value,
        }
    for w in Ward.iter_all():
        yield {
            "code": f"{int(w.code):05d}", "name_vi": w.name, "name_en": w.name, "level": "commune",
            "parent_code": f"{int(w.province_code):02d}", "division_type": w.division_type.value,
        }


# what a reference file may name that must exist: (Vietnamese, English) names, for "unknown ..." refusals
KINDS = {"domain": ("lĩnh vực", "domain"), "unit": ("đơn vị", "unit"), "agency": ("cơ quan", "agency"),
         "service": ("dịch vụ", "service"), "parent unit": ("đơn vị cấp trên", "parent unit"),
         "supervising agency": ("cơ quan giám sát", "supervising agency")}


def _refused(file: str, line: int, vi: str, en: str) -> ReferenceDataError:
    """A refusal of ``file`` at ``line``, its reason in Vietnamese and English."""
    return ReferenceDataError(file=file, line=line, reason=both(vi, en))


def _unknown(file: str, line: int, kind: str, code: str) -> ReferenceDataError:
    vi, en = KINDS[kind]
    return _refused(file, line, f"không có {vi} «{code}»", f"unknown {en} '{code}'")


def _rows(path: Path, required: Iterable[str], key: str | None = "code") -> Iterator[tuple[int, dict[str, str]]]:
    """CSV rows with their line numbers; a missing column, a repeated ``key`` or a non-UTF-8 file is refused."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _refused(path.name, line, f"không phải văn bản UTF-8 ({exc.reason})",
                       f"not UTF-8 text ({exc.reason})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    first_seen: dict[str, int] = {}
    try:
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise _refused(path.name, 1, f"thiếu cột {', '.join(missing)}", f"missing column(s): {', '.join(missing)}")
        for row in reader:
            if None in row:
                raise _refused(path.name, reader.line_num, "thừa trường", "too many fields")
            clean = {k: nfc(v or "") for k, v in row.items()}
            if not any(clean.values()):
                continue
            if key is not None and clean.get(key):
                earlier = first_seen.setdefault(clean[key], reader.line_num)
                if earlier != reader.line_num:
                    raise _refused(path.name, reader.line_num, f"«{clean[key]}» trùng với dòng {earlier}",
                                   f"'{clean[key]}' repeats line {earlier}")
            yield reader.line_num, clean
    except csv.Error as exc:
        raise _refused(path.name, reader.line_num, f"lỗi CSV: {exc}", f"CSV error: {exc}") from exc


def _need(file: str, line: int, row: dict[str, str], *names: str) -> None:
    for name in names:
        if not row.get(name):
            raise _refused(file, line, f"«{name}» để trống", f"'{name}' is empty")


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def parse_reference(directory: Path | None, *, base: Path = DEFAULT_REFERENCE_DIR) -> ReferenceSet:
    """Read and check a reference folder over the shipped defaults; raise on the first bad line."""
    ref = ReferenceSet()
    for unit in national_units():
        ref.units[unit["code"]] = unit
    dirs = [base] if directory is None or Path(directory).resolve() == base else [base, Path(directory)]
    if directory is not None and not Path(directory).is_dir():
        raise _refused(str(directory), 0, "không phải thư mục", "not a folder")
    seen_units: dict[str, tuple[str, int]] = {}
    for folder in dirs:
        _parse_folder(folder, ref, seen_units)
    _check_references(ref, seen_units)
    return ref


def _parse_folder(folder: Path, ref: ReferenceSet, seen_units: dict[str, tuple[str, int]]) -> None:
    path = folder / "domains.csv"
    if path.exists():
        for line, row in _rows(path, ("code", "name_vi", "name_en")):
            _need(path.name, line, row, "code", "name_vi", "name_en")
            ref.domains[row["code"]] = {"code": row["code"], "name_vi": row["name_vi"], "name_en": row["name_en"]}
    path = folder / "services.csv"
    if path.exists():
        for line, row in _rows(path, ("code", "domain", "name_vi", "name_en")):
            _need(path.name, line, row, "code", "domain", "name_vi", "name_en")
            if row["domain"] not in ref.domains:
                raise _unknown(path.name, line, "domain", row["domain"])
            ref.services[row["code"]] = dict(row)
    path = folder / "units.csv"
    if path.exists():
        for line, row in _rows(path, ("code", "name_vi", "level", "parent_code")):
            _need(path.name, line, row, "code", "name_vi", "level")
            ref.units[row["code"]] = {
                "code": row["code"], "name_vi": row["name_vi"], "name_en": row.get("name_en") or row["name_vi"],
                "level": row["level"], "parent_code": row["parent_code"] or None,
                "division_type": row.get("division_type", ""),
            }
            seen_units[row["code"]] = (path.name, line)
    path = folder / "agencies.csv"
    if path.exists():
        cols = ("code", "name_vi", "kind", "unit_code", "supervisor_code", "status")
        for line, row in _rows(path, cols):
            _need(path.name, line, row, "code", "name_vi", "unit_code")
            status = row.get("status") or "active"
            if status not in AGENCY_STATUSES:
                raise _refused(path.name, line, f"trạng thái «{status}» không thuộc {', '.join(AGENCY_STATUSES)}",
                               f"status '{status}' is not one of {', '.join(AGENCY_STATUSES)}")
            if row["unit_code"] not in ref.units:
                raise _unknown(path.name, line, "unit", row["unit_code"])
            digest_text = (row.get("digest") or "").lower()
            if digest_text not in ("", "true", "false", "yes", "no", "1", "0"):
                raise _refused(path.name, line, f"digest «{digest_text}» không phải yes/no",
                               f"digest '{digest_text}' is not yes/no")
            ref.agencies[row["code"]] = {
                "code": row["code"], "name_vi": row["name_vi"], "name_en": row.get("name_en") or "",
                "kind": row.get("kind") or "", "unit_code": row["unit_code"],
                "supervisor_code": row.get("supervisor_code") or None, "status": status,
                "emails": _list(row.get("emails", "")), "phones": _list(row.get("phones", "")),
                "notify_urls": _list(row.get("notify_urls", "")), "language": row.get("language") or "vi",
                "digest": None if not digest_text else digest_text in ("true", "yes", "1"),
                "_line": line,
            }
    path = folder / "agency_services.csv"
    if path.exists():
        for line, row in _rows(path, ("agency_code", "service_code"), key=None):
            _need(path.name, line, row, "agency_code", "service_code")
            if row["agency_code"] not in ref.agencies:
                raise _unknown(path.name, line, "agency", row["agency_code"])
            if row["service_code"] not in ref.services:
                raise _unknown(path.name, line, "service", row["service_code"])
            ref.agency_services.add((row["agency_code"], row["service_code"]))
    path = folder / "agency_areas.csv"
    if path.exists():
        for line, row in _rows(path, ("agency_code", "unit_code"), key=None):
            _need(path.name, line, row, "agency_code", "unit_code")
            if row["agency_code"] not in ref.agencies:
                raise _unknown(path.name, line, "agency", row["agency_code"])
            if row["unit_code"] not in ref.units:
                raise _unknown(path.name, line, "unit", row["unit_code"])
            ref.agency_areas.add((row["agency_code"], row["unit_code"]))


def _check_references(ref: ReferenceSet, seen_units: dict[str, tuple[str, int]]) -> None:
    for code, unit in ref.units.items():
        parent = unit["parent_code"]
        if parent is not None and parent not in ref.units:
            file, line = seen_units.get(code, ("units.csv", 0))
            raise _unknown(file, line, "parent unit", parent)
    for code in ref.units:  # no cycles: walking up always ends
        steps, cur = 0, code
        while cur is not None:
            cur = ref.units[cur]["parent_code"]
            steps += 1
            if steps > 64:
                file, line = seen_units.get(code, ("units.csv", 0))
                raise _refused(file, line, f"đơn vị «{code}» nằm trong một vòng lặp",
                               f"unit '{code}' is inside a cycle")
    for code, agency in ref.agencies.items():
        sup = agency["supervisor_code"]
        if sup is not None and sup not in ref.agencies:
            raise _unknown("agencies.csv", agency["_line"], "supervising agency", sup)
        if sup == code:
            raise _refused("agencies.csv", agency["_line"], "một cơ quan không thể tự giám sát mình",
                           "an agency cannot supervise itself")


def unit_paths(units: dict[str, dict[str, Any]]) -> dict[str, tuple[str, int]]:
    """Materialised path and depth of every unit."""
    out: dict[str, tuple[str, int]] = {}

    def resolve(code: str) -> tuple[str, int]:
        if code in out:
            return out[code]
        parent = units[code]["parent_code"]
        if parent is None:
            result = (f"/{code}/", 0)
        else:
            ppath, pdepth = resolve(parent)
            result = (f"{ppath}{code}/", pdepth + 1)
        out[code] = result
        return result

    for code in units:
        resolve(code)
    return out


@dataclass
class LoadCounts:
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.inserted.values()) or any(self.updated.values())


def _upsert(session: Session, model: type[SQLModel], key: str, rows: list[dict[str, Any]], counts: LoadCounts) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    cols = [c.name for c in table.columns]
    existing = {r[0]: r for r in session.execute(sa.select(*[table.c[c] for c in cols]))}
    inserts, updates = [], []
    for row in rows:
        values = {c: row.get(c) for c in cols}
        old = existing.get(values[key])
        if old is None:
            inserts.append(values)
        elif any(old._mapping[c] != values[c] for c in cols):
            updates.append(values)
    if inserts:
        session.execute(sa.insert(table), inserts)
    for values in updates:
        session.execute(sa.update(table).where(table.c[key] == values[key]).values(**values))
    counts.inserted[table.name] = len(inserts)
    counts.updated[table.name] = len(updates)


def _sync_pairs(
    session: Session, model: type[SQLModel], cols: tuple[str, str], pairs: set[tuple[str, str]], counts: LoadCounts
) -> None:
    """Add the pairs the files name that are missing. Pairs are never dropped by omission: a partial file
    (one province's agencies) must not erase another's coverage."""
    table = model.__table__  # type: ignore[attr-defined]
    existing = {tuple(r) for r in session.execute(sa.select(table.c[cols[0]], table.c[cols[1]]))}
    missing = pairs - existing
    if missing:
        session.execute(sa.insert(table), [dict(zip(cols, p, strict=True)) for p in sorted(missing)])
    counts.inserted[table.name] = len(missing)


def load_reference(session: Session, directory: Path | None = None) -> LoadCounts:
    """Parse everything, then write it in the caller's transaction (all or nothing)."""
    ref = parse_reference(directory)
    counts = LoadCounts()
    _upsert(session, ServiceDomain, "code", list(ref.domains.values()), counts)
    _upsert(session, ServiceType, "code", list(ref.services.values()), counts)
    paths = unit_paths(ref.units)
    # Parents before children so that the foreign key holds at every insert.
    ordered = sorted(ref.units.values(), key=lambda u: paths[u["code"]][1])
    unit_rows = [{**u, "path": paths[u["code"]][0], "depth": paths[u["code"]][1]} for u in ordered]
    _upsert(session, Unit, "code", unit_rows, counts)
    agencies = [{k: v for k, v in a.items() if k != "_line"} for a in ref.agencies.values()]
    # Supervisors may be listed after the agencies they supervise: insert new agencies first, then set all.
    new = _new_codes(session, agencies)
    if new:
        session.execute(sa.insert(Agency.__table__), [{**a, "supervisor_code": None} for a in agencies  # type: ignore[attr-defined]
                                                       if a["code"] in new])
    _upsert(session, Agency, "code", agencies, counts)
    counts.inserted["agency"] = len(new)
    counts.updated["agency"] -= sum(1 for a in agencies if a["code"] in new and a["supervisor_code"] is not None)
    _sync_pairs(session, AgencyService, ("agency_code", "service_code"), ref.agency_services, counts)
    _sync_pairs(session, AgencyArea, ("agency_code", "unit_code"), ref.agency_areas, counts)
    session.flush()
    return counts


def _new_codes(session: Session, agencies: list[dict[str, Any]]) -> set[str]:
    known = set(session.execute(sa.select(col(Agency.code))).scalars())
    return {a["code"] for a in agencies if a["code"] not in known}
