"""The plan: indicator targets per province, read from YAML files — never from code.

``plan_default.yaml`` holds the national defaults (Decision 1438/QĐ-TTg). ``Settings.plan_file`` (or an
explicit path) replaces them with a province's plan of the same shape; either file may carry a
``provinces:`` section whose entries replace, indicator by indicator, the targets for one province.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import InvalidInput

DEFAULT_PLAN_FILE = Path(__file__).resolve().parent / "plan_default.yaml"
INDICATOR_KEYS = (
    "reached_service", "health_rehabilitation", "caregivers_trained", "officials_trained", "linked_network",
)


@dataclass(frozen=True)
class Target:
    value: float | None
    year: int | None


@dataclass(frozen=True)
class ProvincePlan:
    source_vi: str
    source_en: str
    targets: dict[str, dict[int, float]]
    health_domains: tuple[str, ...]
    network_groups: dict[str, tuple[str, ...]]

    def target(self, indicator: str, year: int) -> Target:
        """The first milestone at or after ``year``; once all have passed, the last one."""
        milestones = self.targets.get(indicator) or {}
        if not milestones:
            return Target(None, None)
        upcoming = [y for y in sorted(milestones) if y >= year]
        chosen = upcoming[0] if upcoming else max(milestones)
        return Target(milestones[chosen], chosen)


@dataclass(frozen=True)
class Plan:
    base: ProvincePlan
    provinces: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_province(self, province_code: str | None) -> ProvincePlan:
        override = self.provinces.get(province_code or "")
        if not override:
            return self.base
        return _province_plan(override, fallback=self.base)


def _milestones(indicator: str, raw: Any, where: str) -> dict[int, float]:
    if not isinstance(raw, dict):
        raise InvalidInput("plan_invalid", where=where, detail=f"{indicator}: expected year: share")
    result: dict[int, float] = {}
    for year, share in raw.items():
        try:
            y, v = int(year), float(share)
        except (TypeError, ValueError):
            raise InvalidInput("plan_invalid", where=where, detail=f"{indicator}: {year}: {share}") from None
        if not 0.0 <= v <= 1.0:
            raise InvalidInput("plan_invalid", where=where, detail=f"{indicator}: {y}: share {v} not in 0..1")
        result[y] = v
    return result


def _province_plan(raw: dict[str, Any], fallback: ProvincePlan | None, where: str = "plan") -> ProvincePlan:
    source = raw.get("source") or {}
    targets = dict(fallback.targets) if fallback else {}
    for indicator, milestones in (raw.get("targets") or {}).items():
        if indicator not in INDICATOR_KEYS:
            raise InvalidInput("plan_invalid", where=where, detail=f"unknown indicator {indicator!r}")
        targets[indicator] = _milestones(indicator, milestones, where)
    health = raw.get("health_domains")
    groups = raw.get("network_groups")
    return ProvincePlan(
        source_vi=str(source.get("vi") or (fallback.source_vi if fallback else "")),
        source_en=str(source.get("en") or (fallback.source_en if fallback else "")),
        targets=targets,
        health_domains=tuple(health) if health else (fallback.health_domains if fallback else ()),
        network_groups=(
            {str(k): tuple(v) for k, v in groups.items()} if groups else (fallback.network_groups if fallback else {})
        ),
    )


def load_plan(path: Path | None = None) -> Plan:
    """Read the plan; ``path`` (e.g. ``Settings.plan_file``) replaces the national defaults."""
    chosen = path or DEFAULT_PLAN_FILE
    try:
        raw = yaml.safe_load(Path(chosen).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput("plan_invalid", where=str(chosen), detail=str(exc)) from None
    if not isinstance(raw, dict):
        raise InvalidInput("plan_invalid", where=str(chosen), detail="expected a mapping")
    default = None
    if path is not None and Path(path).resolve() != DEFAULT_PLAN_FILE:
        # a province plan may leave out what it does not change: the national defaults fill the gaps
        default = _province_plan(yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8")), None)
    base = _province_plan(raw, default, where=str(chosen))
    provinces = {str(code): dict(entry or {}) for code, entry in (raw.get("provinces") or {}).items()}
    for code, entry in provinces.items():
        _province_plan(entry, base, where=f"{chosen}: provinces.{code}")  # refuse a bad entry early
    return Plan(base=base, provinces=provinces)
