"""The deadline policy file: the shipped defaults load, and each kind of mistake is refused clearly."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.policy import DEFAULT_POLICY_FILE, KNOWN_KEYS, PolicyError, load_policy, parse_policy

LADDER = [
    {"working_days": -1, "action": "remind", "audience": "owner"},
    {"working_days": 0, "action": "remind", "audience": "owner+caseworker"},
    {"working_days": 2, "action": "escalate", "audience": "supervisor"},
]


def minimal() -> dict[str, Any]:
    return {"deadlines": {"referral.requested": {"working_days": 3, "basis": "local choice",
                                                 "ladder": copy.deepcopy(LADDER)}}}


def refusal(data: Any) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(data, "tinh.yaml")
    return info.value


def test_shipped_defaults_load_and_cite_the_law() -> None:
    policy = load_policy()
    urgent = policy.rule("case.reported.urgent")
    assert urgent is not None and urgent.hours == 12 and "56/2017" in urgent.basis and "26" in urgent.basis
    plan = policy.rule("case.care_plan_drafting")
    assert plan is not None and plan.working_days == 5 and "Điều 28" in plan.basis
    council = policy.rule("case.disability_level")
    assert council is not None and council.working_days == 20 and "01/2019" in council.basis
    review = policy.rule("case.in_care")
    assert review is not None and review.months == 6
    assert policy.pause_on_hold is True
    assert policy.digest_default is False
    for key, rule in policy.deadlines.items():
        assert key in KNOWN_KEYS
        assert rule.basis == "local choice" or "/" in rule.basis, key
        assert rule.ladder, key


def test_unknown_step_is_refused_in_both_languages() -> None:
    data = minimal()
    data["deadlines"]["case.waiting_for_godot"] = data["deadlines"]["referral.requested"]
    error = refusal(data)
    assert "case.waiting_for_godot" in error.message("vi") and "khóa" in error.message("vi")
    assert "unknown step key" in error.message("en") and "tinh.yaml" in error.message("en")


@pytest.mark.parametrize("unit", ["working_days", "hours", "months"])
def test_negative_duration_is_refused(unit: str) -> None:
    data = minimal()
    rule = data["deadlines"]["referral.requested"]
    del rule["working_days"]
    rule[unit] = -2
    error = refusal(data)
    assert "không được âm" in error.message("vi")
    assert "must not be negative" in error.message("en")


def test_rungs_out_of_order_are_refused() -> None:
    data = minimal()
    ladder = data["deadlines"]["referral.requested"]["ladder"]
    ladder[1], ladder[2] = ladder[2], ladder[1]
    error = refusal(data)
    assert "không theo thứ tự" in error.message("vi")
    assert "out of order" in error.message("en") and "rung 3" in error.message("en")


def test_two_rungs_at_the_same_time_are_refused() -> None:
    data = minimal()
    data["deadlines"]["referral.requested"]["ladder"][1]["working_days"] = -1
    assert "out of order" in refusal(data).message("en")


def test_mixed_units_unknown_audience_and_missing_duration_are_refused() -> None:
    data = minimal()
    data["deadlines"]["referral.requested"]["ladder"][0] = {"hours": -4, "action": "remind", "audience": "owner"}
    assert "same unit" in refusal(data).message("en")

    data = minimal()
    data["deadlines"]["referral.requested"]["ladder"][0]["audience"] = "owner+mayor"
    assert "invalid audience" in refusal(data).message("en")

    data = minimal()
    del data["deadlines"]["referral.requested"]["working_days"]
    assert "exactly one duration" in refusal(data).message("en")

    data = minimal()
    data["deadlines"]["referral.requested"]["months"] = 1
    assert "exactly one duration" in refusal(data).message("en")


def test_pause_on_hold_belongs_to_in_progress_only() -> None:
    data = minimal()
    data["deadlines"]["referral.requested"]["pause_on_hold"] = True
    assert "pause_on_hold" in refusal(data).message("en")


def test_bad_shapes_are_refused_with_the_place() -> None:
    data = minimal()
    data["deadlines"]["referral.requested"]["ladder"][0]["action"] = "shout"
    assert "deadlines.referral.requested.ladder.0.action" in refusal(data).message("en")
    assert "mapping" in refusal(["not", "a", "mapping"]).message("en")


def test_province_file_with_days_off(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))
    data["days_off"] = ["2027-03-10"]
    path = tmp_path / "thai_nguyen.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    policy = load_policy(path)
    assert policy.days_off == (date(2027, 3, 10),)
    assert not policy.calendar().is_working_day(date(2027, 3, 10))


def test_unreadable_and_invalid_yaml_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "missing.yaml")
    assert "cannot read" in info.value.message("en") and "không đọc được" in info.value.message("vi")
    broken = tmp_path / "broken.yaml"
    broken.write_text("deadlines: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(broken)
    assert "invalid YAML" in info.value.message("en")


def test_the_policy_file_setting_replaces_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import policy as policy_module

    data = minimal()
    data["digest_default"] = True
    path = tmp_path / "province.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("KETNOI_POLICY_FILE", str(path))
    monkeypatch.setattr(policy_module, "_current", None)  # restored after the test
    loaded = policy_module.current_policy()
    assert loaded.digest_default is True
    assert set(loaded.deadlines) == {"referral.requested"}
    assert policy_module.current_policy() is loaded  # read once, then kept
