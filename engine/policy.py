"""The deadline policy: how long each case step and referral state may take, and its ladder of rungs.

Loaded from YAML (``engine/policy_default.yaml``, or ``KETNOI_POLICY_FILE``) and checked on load: an unknown
key, a negative duration or rungs out of order are refused with a message in Vietnamese and English.
Loading happens on first use, never at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from engine.calendar import DEFAULT_TIMEZONE, WorkingCalendar
from engine.errors import DomainError
from engine.i18n import register

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy_default.yaml")

CASE_KEYS = (
    "case.reported",
    "case.verified",
    "case.needs_assessment",
    "case.care_plan_drafting",
    "case.plan_awaiting_approval",
    "case.disability_level",  # Circular 01/2019: no step opens it yet
    "case.in_care",
    "case.closure_proposed",
)
REFERRAL_KEYS = ("referral.requested", "referral.accepted", "referral.in_progress", "referral.on_hold")
URGENT_SUFFIX = ".urgent"
KNOWN_KEYS = frozenset(CASE_KEYS + REFERRAL_KEYS + tuple(k + URGENT_SUFFIX for k in CASE_KEYS))
AUDIENCE_PARTS = ("owner", "caseworker", "supervisor", "unit_above")
PAUSABLE_KEY = "referral.in_progress"

register({
    "title.PolicyError": {"vi": "Tệp chính sách thời hạn không hợp lệ", "en": "Invalid deadline policy file"},
    "policy_invalid": {"vi": "{file}: {reason_vi}", "en": "{file}: {reason_en}"},
})


class PolicyError(DomainError):
    """The policy file is refused; nothing is loaded."""

    code = "policy_invalid"
    status = 422

    def __init__(self, file: str, reason_vi: str, reason_en: str) -> None:
        super().__init__(file=file, reason_vi=reason_vi, reason_en=reason_en)


class Rung(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    working_days: int | None = None
    hours: float | None = None
    action: Literal["remind", "escalate"]
    audience: str

    @property
    def unit(self) -> str:
        return "hours" if self.hours is not None else "working_days"

    @property
    def offset(self) -> float:
        return self.hours if self.hours is not None else float(self.working_days or 0)

    @property
    def audience_parts(self) -> tuple[str, ...]:
        return tuple(self.audience.split("+"))


class DeadlineRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: float | None = None
    working_days: int | None = None
    months: int | None = None
    basis: str
    pause_on_hold: bool = False
    ladder: tuple[Rung, ...] = ()

    @property
    def unit(self) -> str:
        if self.hours is not None:
            return "hours"
        return "months" if self.months is not None else "working_days"

    def due_at(self, calendar: WorkingCalendar, start: datetime) -> datetime:
        if self.hours is not None:
            return calendar.add_hours(start, self.hours)
        if self.months is not None:
            return calendar.add_months(start, self.months)
        return calendar.add_working_days(start, self.working_days or 0)

    @staticmethod
    def fire_at(calendar: WorkingCalendar, due: datetime, rung: Rung) -> datetime:
        if rung.hours is not None:
            return calendar.add_hours(due, rung.hours)
        return calendar.add_working_days(due, rung.working_days or 0)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = DEFAULT_TIMEZONE
    days_off: tuple[date, ...] = ()
    digest_default: bool = False
    ladders: dict[str, Any] = {}  # named ladders, shared through YAML anchors; read through ``deadlines``
    deadlines: dict[str, DeadlineRule]

    @field_validator("days_off", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value

    def rule(self, key: str) -> DeadlineRule | None:
        return self.deadlines.get(key)

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.days_off, self.timezone)

    @property
    def pause_on_hold(self) -> bool:
        rule = self.rule(PAUSABLE_KEY)
        return bool(rule and rule.pause_on_hold)


def _check(policy: Policy, file: str) -> None:
    """The rules a schema cannot say: known keys, one non-negative duration, rungs in order."""
    for key, rule in policy.deadlines.items():
        if key not in KNOWN_KEYS:
            known = ", ".join(sorted(KNOWN_KEYS))
            raise PolicyError(
                file,
                f"khóa «{key}» không phải là bước hồ sơ hay trạng thái chuyển gửi nào (các khóa hợp lệ: {known})",
                f"unknown step key '{key}' (known keys: {known})",
            )
        durations = [v for v in (rule.hours, rule.working_days, rule.months) if v is not None]
        if len(durations) != 1:
            raise PolicyError(
                file,
                f"«{key}» cần đúng một thời hạn: hours, working_days hoặc months",
                f"'{key}' needs exactly one duration: hours, working_days or months",
            )
        if durations[0] < 0:
            raise PolicyError(
                file,
                f"«{key}»: thời hạn không được âm ({durations[0]})",
                f"'{key}': the duration must not be negative ({durations[0]})",
            )
        if rule.pause_on_hold and key != PAUSABLE_KEY:
            raise PolicyError(
                file,
                f"«{key}»: pause_on_hold chỉ dùng cho {PAUSABLE_KEY}",
                f"'{key}': pause_on_hold applies only to {PAUSABLE_KEY}",
            )
        _check_ladder(key, rule.ladder, file)


def _check_ladder(key: str, ladder: tuple[Rung, ...], file: str) -> None:
    for number, rung in enumerate(ladder, start=1):
        if (rung.hours is None) == (rung.working_days is None):
            raise PolicyError(
                file,
                f"«{key}», nấc {number}: cần đúng một độ lệch, hours hoặc working_days",
                f"'{key}', rung {number}: needs exactly one offset, hours or working_days",
            )
        unknown = [p for p in rung.audience_parts if p not in AUDIENCE_PARTS]
        if unknown or len(set(rung.audience_parts)) != len(rung.audience_parts):
            raise PolicyError(
                file,
                f"«{key}», nấc {number}: người nhận «{rung.audience}» không hợp lệ "
                f"(dùng {', '.join(AUDIENCE_PARTS)}, nối bằng +)",
                f"'{key}', rung {number}: invalid audience '{rung.audience}' "
                f"(use {', '.join(AUDIENCE_PARTS)}, joined by +)",
            )
    if len({r.unit for r in ladder}) > 1:
        raise PolicyError(
            file,
            f"«{key}»: các nấc của một thang phải cùng đơn vị (hours hoặc working_days)",
            f"'{key}': the rungs of one ladder must use the same unit (hours or working_days)",
        )
    for number, (before, after) in enumerate(zip(ladder, ladder[1:], strict=False), start=2):
        if after.offset <= before.offset:
            raise PolicyError(
                file,
                f"«{key}»: các nấc không theo thứ tự (nấc {number} ở {after.offset:g}, "
                f"không sau nấc {number - 1} ở {before.offset:g})",
                f"'{key}': rungs out of order (rung {number} at {after.offset:g} "
                f"is not after rung {number - 1} at {before.offset:g})",
            )


def parse_policy(data: Any, file: str = "policy") -> Policy:
    """Validate a policy given as a mapping (already read from YAML)."""
    if not isinstance(data, dict):
        raise PolicyError(file, "tệp phải là một bảng YAML (mapping)", "the file must be a YAML mapping")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PolicyError(file, f"{where}: {first['msg']}", f"{where}: {first['msg']}") from None
    _check(policy, file)
    return policy


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate a policy file (the shipped defaults when ``path`` is None)."""
    file = Path(path) if path is not None else DEFAULT_POLICY_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PolicyError(str(file), f"không đọc được tệp ({reason})", f"cannot read the file ({reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(str(file), f"YAML không hợp lệ: {exc}", f"invalid YAML: {exc}") from None
    return parse_policy(data, str(file))


_current: Policy | None = None


def current_policy() -> Policy:
    """The policy in force: ``KETNOI_POLICY_FILE`` or the shipped defaults, loaded on first use."""
    global _current
    if _current is None:
        from engine.settings import get_settings

        _current = load_policy(get_settings().policy_file)
    return _current


def set_policy(policy: Policy | None) -> None:
    """Put a policy in force (None: reload from the settings on next use)."""
    global _current
    _current = policy


@contextmanager
def use_policy(policy: Policy) -> Iterator[Policy]:
    """Put ``policy`` in force for a block (tests, replays), then restore the previous one."""
    global _current
    previous = _current
    _current = policy
    try:
        yield policy
    finally:
        _current = previous
