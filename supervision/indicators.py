"""Indicators per unit (its whole subtree) and period, each with numerator, denominator and the plan's target.

Definitions (each computed by one aggregate query, grouped by the unit that holds the record, and summed for
the unit's total — a child, a roster person or a referral belongs to exactly one unit, so sums are exact):

- children registered: children with at least one disability type, registered before the period's end and
  still under 16 at some time in the period (born after the period's first day minus 16 years);
- reached a service: of those, children with a referral that was in progress by the period's end
  (``started_at`` before the end), unless it failed or was cancelled before the end;
- health care or rehabilitation: the same with the referral in the plan's ``health_domains``;
- caregivers trained: registered children named on a caregiver training held before the period's end;
- officials and collaborators trained: people of the staff roster (the denominator) who attended an
  official/collaborator training held before the period's end, matched on unit, kind and name;
- linked service network: communes where, for every group of the plan's ``network_groups``, an active
  agency covering the commune (directly or through an ancestor unit) offers a service of the group;
- referral performance, over referrals requested in the period: median working days from request to
  acceptance (accepted before the end), share completed before the end, share that went overdue
  (a clock of the referral passed its due time before it closed and before the end).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

import supervision.messages  # noqa: F401  (registers the messages)
from engine.db import utcnow
from engine.models import (
    Agency,
    AgencyArea,
    AgencyService,
    Case,
    Child,
    Deadline,
    Referral,
    ServiceType,
    StaffRoster,
    TrainingParticipant,
    TrainingSession,
    Unit,
)
from engine.settings import get_settings
from supervision.overdue import NATIONAL, lineage_cte, unit_path
from supervision.periods import Period, parse_period
from supervision.plan import Plan, ProvincePlan, load_plan
from supervision.workdays import cumulative_sql

CHILD_AGE_LIMIT = 16
REACHED_UNLESS_ENDED = ("failed", "cancelled")

INDICATORS: dict[str, dict[str, str]] = {
    "children_registered": {
        "vi": "Số trẻ em khuyết tật được đăng ký", "en": "Children with disabilities registered", "kind": "count",
    },
    "reached_service": {
        "vi": "Tỷ lệ trẻ em khuyết tật được tiếp cận ít nhất một dịch vụ",
        "en": "Children with disabilities who reached at least one service", "kind": "share",
    },
    "health_rehabilitation": {
        "vi": "Tỷ lệ trẻ em khuyết tật được chăm sóc sức khỏe, phục hồi chức năng",
        "en": "Children with disabilities who received health care or rehabilitation", "kind": "share",
    },
    "caregivers_trained": {
        "vi": "Tỷ lệ trẻ em khuyết tật có cha mẹ, người chăm sóc được tập huấn",
        "en": "Children whose parents or caregivers were trained", "kind": "share",
    },
    "officials_trained": {
        "vi": "Tỷ lệ cán bộ, cộng tác viên được tập huấn",
        "en": "Officials and collaborators trained", "kind": "share",
    },
    "linked_network": {
        "vi": "Tỷ lệ xã, phường có mạng lưới dịch vụ liên kết",
        "en": "Communes with a linked service network", "kind": "share",
    },
    "referral_days_to_accept": {
        "vi": "Số ngày làm việc đến khi tiếp nhận chuyển gửi (trung vị)",
        "en": "Working days from referral to acceptance (median)", "kind": "days",
    },
    "referral_completed": {
        "vi": "Tỷ lệ chuyển gửi đã hoàn thành", "en": "Referrals completed", "kind": "share",
    },
    "referral_overdue": {
        "vi": "Tỷ lệ chuyển gửi bị quá hạn", "en": "Referrals that went overdue", "kind": "share",
    },
}


@dataclass
class Indicator:
    key: str
    name_vi: str
    name_en: str
    kind: str  # count, share, days
    numerator: int | None
    denominator: int | None
    value: float | None
    target: float | None = None
    target_year: int | None = None
    met: bool | None = None


@dataclass
class BreakdownRow:
    unit_code: str
    name_vi: str
    name_en: str
    level: str
    values: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


@dataclass
class IndicatorReport:
    unit_code: str
    unit_name_vi: str
    unit_name_en: str
    period: str
    period_label_vi: str
    period_label_en: str
    first_day: date
    last_day: date
    generated_at: datetime
    plan_source_vi: str
    plan_source_en: str
    indicators: list[Indicator]
    breakdown: list[BreakdownRow]

    def indicator(self, key: str) -> Indicator:
        return next(i for i in self.indicators if i.key == key)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["first_day"] = self.first_day.isoformat()
        data["last_day"] = self.last_day.isoformat()
        data["generated_at"] = self.generated_at.isoformat()
        return data


def _share(numerator: int | None, denominator: int | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _json_array_nonempty(column: Any, dialect: str) -> sa.ColumnElement[bool]:
    func = sa.func.jsonb_array_length if dialect == "postgresql" else sa.func.json_array_length
    return func(column) > 0


def _in_scope(path_column: Any, root_path: str) -> sa.ColumnElement[bool]:
    return sa.true() if root_path == "/" else path_column.like(root_path + "%")


def _unit_in_scope(unit_code_column: Any, root_path: str) -> sa.ColumnElement[bool]:
    """The record's unit (a non-null key to ``unit``) lies in the subtree: the same rows as joining ``unit`` and
    filtering its path, without the join at all for the whole country (every unit is in scope)."""
    if root_path == "/":
        return sa.true()
    return unit_code_column.in_(sa.select(col(Unit.code)).where(_in_scope(col(Unit.path), root_path)))


# --- the queries (one per family of indicators) -------------------------------------------------------


def _children_counts(
    session: Session, root_path: str, period: Period, plan: ProvincePlan, dialect: str
) -> dict[str, dict[str, int]]:
    """Per commune: registered, new in the period, reached a service, health/rehabilitation, caregivers."""
    reached = sa.and_(
        col(Referral.started_at) < period.end,  # type: ignore[operator]
        sa.not_(sa.and_(col(Referral.state).in_(REACHED_UNLESS_ENDED), col(Referral.ended_at) < period.end)),  # type: ignore[attr-defined,operator]
    )
    health = sa.and_(reached, col(Referral.domain).in_(plan.health_domains or ("",)))  # type: ignore[attr-defined]
    flags = (
        sa.select(
            col(Case.child_id).label("child_id"),  # type: ignore[attr-defined]
            sa.func.max(sa.case((reached, 1), else_=0)).label("reached"),
            sa.func.max(sa.case((health, 1), else_=0)).label("health"),
        )
        .join(Referral, col(Referral.case_id) == col(Case.id))
        .where(col(Referral.started_at) < period.end, _unit_in_scope(col(Case.unit_code), root_path))  # type: ignore[operator]
        .group_by(col(Case.child_id))
        .subquery("flags")
    )
    trained_rows: sa.Select[Any] = (
        sa.select(col(TrainingParticipant.child_id).label("child_id"))  # type: ignore[union-attr]
        .join(TrainingSession, col(TrainingSession.id) == col(TrainingParticipant.session_id))
        .where(
            col(TrainingParticipant.kind) == "caregiver",
            col(TrainingParticipant.child_id).is_not(None),  # type: ignore[union-attr]
            col(TrainingSession.held_on) < period.end_day,  # type: ignore[operator]
        )
        .group_by(col(TrainingParticipant.child_id))
    )
    if root_path != "/":
        # only the caregivers of children in scope: a province must not group the whole country's register
        in_scope = sa.select(col(Child.id)).where(_unit_in_scope(col(Child.commune_code), root_path))
        trained_rows = trained_rows.where(col(TrainingParticipant.child_id).in_(in_scope))  # type: ignore[union-attr]
    trained = trained_rows.subquery("trained")
    born_after = period.first_day.replace(year=period.first_day.year - CHILD_AGE_LIMIT)
    stmt = (
        sa.select(
            col(Child.commune_code),
            sa.func.count().label("registered"),
            sa.func.sum(sa.case((col(Child.created_at) >= period.start, 1), else_=0)).label("new"),  # type: ignore[operator]
            sa.func.sum(sa.func.coalesce(flags.c.reached, 0)).label("reached"),
            sa.func.sum(sa.func.coalesce(flags.c.health, 0)).label("health"),
            sa.func.count(trained.c.child_id).label("caregivers"),
        )
        .outerjoin(flags, flags.c.child_id == col(Child.id))
        .outerjoin(trained, trained.c.child_id == col(Child.id))
        .where(
            _unit_in_scope(col(Child.commune_code), root_path),
            col(Child.created_at) < period.end,  # type: ignore[operator]
            col(Child.date_of_birth) > born_after,  # type: ignore[operator]
            _json_array_nonempty(col(Child.disability_types), dialect),
        )
        .group_by(col(Child.commune_code))
    )
    return {
        r.commune_code: {"registered": int(r.registered), "new": int(r.new or 0), "reached": int(r.reached or 0),
                         "health": int(r.health or 0), "caregivers": int(r.caregivers or 0)}
        for r in session.execute(stmt)
    }


def _staff_counts(session: Session, root_path: str, period: Period) -> dict[str, dict[str, int]]:
    attended = (
        sa.select(
            col(TrainingParticipant.unit_code), col(TrainingParticipant.person_name), col(TrainingParticipant.kind)
        )
        .join(TrainingSession, col(TrainingSession.id) == col(TrainingParticipant.session_id))
        .where(
            col(TrainingParticipant.kind).in_(("official", "collaborator")),  # type: ignore[attr-defined]
            col(TrainingSession.held_on) < period.end_day,  # type: ignore[operator]
        )
        .group_by(
            col(TrainingParticipant.unit_code), col(TrainingParticipant.person_name), col(TrainingParticipant.kind)
        )
        .subquery("attended")
    )
    stmt = (
        sa.select(
            col(StaffRoster.unit_code),
            sa.func.count().label("roster"),
            sa.func.count(attended.c.person_name).label("trained"),
        )
        .join(Unit, col(Unit.code) == col(StaffRoster.unit_code))
        .outerjoin(attended, sa.and_(
            attended.c.unit_code == col(StaffRoster.unit_code),
            attended.c.person_name == col(StaffRoster.person_name),
            attended.c.kind == col(StaffRoster.kind),
        ))
        .where(_in_scope(col(Unit.path), root_path))
        .group_by(col(StaffRoster.unit_code))
    )
    return {r.unit_code: {"roster": int(r.roster), "trained": int(r.trained)} for r in session.execute(stmt)}


def _network_counts(session: Session, root_path: str, plan: ProvincePlan) -> dict[str, dict[str, int]]:
    """Per commune in scope: 1 when every group of the plan is offered by an active covering agency."""
    pairs = [(group, domain) for group, domains in plan.network_groups.items() for domain in domains]
    communes = sa.select(col(Unit.code)).where(col(Unit.level) == "commune", _in_scope(col(Unit.path), root_path))
    if not pairs:
        return {code: {"communes": 1, "linked": 0} for code in session.execute(communes).scalars()}
    groups = sa.values(sa.column("grp", sa.String), sa.column("domain", sa.String), name="grp",
                       literal_binds=True).data(pairs).cte("network_group")
    lineage = lineage_cte(root_path)
    # which groups each unit that has agencies offers (a small set), then inherited down to the communes
    offered = (
        sa.select(col(AgencyArea.unit_code).label("unit_code"), groups.c.grp.label("grp"))
        .join(Agency, col(Agency.code) == col(AgencyArea.agency_code))
        .join(AgencyService, col(AgencyService.agency_code) == col(Agency.code))
        .join(ServiceType, col(ServiceType.code) == col(AgencyService.service_code))
        .join(groups, groups.c.domain == col(ServiceType.domain))
        .where(col(Agency.status) == "active")
        .group_by(col(AgencyArea.unit_code), groups.c.grp)
        .subquery("offered")
    )
    covered = (
        sa.select(lineage.c.unit_code, sa.func.count(sa.distinct(offered.c.grp)).label("groups"))
        .join(offered, offered.c.unit_code == lineage.c.ancestor_code)
        .group_by(lineage.c.unit_code)
        .subquery("covered")
    )
    stmt = (
        sa.select(col(Unit.code), sa.func.coalesce(covered.c.groups, 0).label("groups"))
        .outerjoin(covered, covered.c.unit_code == col(Unit.code))
        .where(col(Unit.level) == "commune", _in_scope(col(Unit.path), root_path))
    )
    needed = len(plan.network_groups)
    return {r.code: {"communes": 1, "linked": int(r.groups >= needed)} for r in session.execute(stmt)}


def _referral_counts(session: Session, root_path: str, period: Period) -> dict[str, dict[str, int]]:
    late = (
        sa.select(col(Deadline.referral_id).label("referral_id"))  # type: ignore[union-attr]
        .where(
            col(Deadline.referral_id).is_not(None),  # type: ignore[union-attr]
            col(Deadline.due_at) < period.end,  # type: ignore[operator]
            col(Deadline.opened_at) < period.end,  # type: ignore[operator]
            sa.or_(col(Deadline.closed_at).is_(None), col(Deadline.due_at) < col(Deadline.closed_at)),  # type: ignore[union-attr,operator]
        )
        .group_by(col(Deadline.referral_id))
        .subquery("late")
    )
    case_unit: Any = sa.orm.aliased(Unit)
    completed = sa.and_(col(Referral.state) == "completed", col(Referral.ended_at) < period.end)  # type: ignore[operator]
    stmt = (
        sa.select(
            col(Case.unit_code),
            sa.func.count().label("requested"),
            sa.func.sum(sa.case((completed, 1), else_=0)).label("completed"),
            sa.func.count(late.c.referral_id).label("overdue"),
            sa.func.sum(sa.case((col(Referral.accepted_at) < period.end, 1), else_=0)).label("accepted"),  # type: ignore[operator]
        )
        .join(Case, col(Case.id) == col(Referral.case_id))
        .join(case_unit, case_unit.code == col(Case.unit_code))
        .outerjoin(late, late.c.referral_id == col(Referral.id))
        .where(
            _in_scope(case_unit.path, root_path),
            col(Referral.requested_at) >= period.start,  # type: ignore[operator]
            col(Referral.requested_at) < period.end,  # type: ignore[operator]
        )
        .group_by(col(Case.unit_code))
    )
    return {
        r.unit_code: {"requested": int(r.requested), "completed": int(r.completed or 0), "overdue": int(r.overdue),
                      "accepted": int(r.accepted or 0)}
        for r in session.execute(stmt)
    }


def _median_days_to_accept(
    session: Session, root_path: str, period: Period, tz: str, dialect: str
) -> tuple[dict[str, float], float | None]:
    """Median working days from request to acceptance, per unit and overall, by window functions in SQL.

    The same query runs on PostgreSQL and SQLite (no ``percentile_cont`` on SQLite): rows are numbered
    within their unit and the median is the mean of the one or two middle rows.
    """
    first, last = period.first_day - timedelta(days=1), period.last_day
    asked = cumulative_sql(col(Referral.requested_at), first=first, last=last, dialect=dialect, tz=tz)
    taken = cumulative_sql(col(Referral.accepted_at), first=first, last=last, dialect=dialect, tz=tz)
    case_unit: Any = sa.orm.aliased(Unit)
    durations = (
        sa.select(
            col(Case.unit_code).label("unit_code"),  # type: ignore[attr-defined]
            (taken - asked).label("days"),
        )
        .select_from(Referral)
        .join(Case, col(Case.id) == col(Referral.case_id))
        .join(case_unit, case_unit.code == col(Case.unit_code))
        .where(
            _in_scope(case_unit.path, root_path),
            col(Referral.requested_at) >= period.start,  # type: ignore[operator]
            col(Referral.requested_at) < period.end,  # type: ignore[operator]
            col(Referral.accepted_at) < period.end,  # type: ignore[operator]
        )
        .cte("durations")
    )

    def middle_rows(unit_column: Any, partition: list[Any]) -> Any:
        numbered = sa.select(
            unit_column.label("unit_code"),
            durations.c.days,
            sa.func.row_number().over(partition_by=partition or None, order_by=durations.c.days).label("rn"),
            sa.func.count().over(partition_by=partition or None).label("n"),
        ).subquery()
        middle = sa.or_(numbered.c.rn == (numbered.c.n + 1) // 2, numbered.c.rn == (numbered.c.n + 2) // 2)
        return (
            sa.select(numbered.c.unit_code, sa.func.avg(numbered.c.days * 1.0).label("median"))
            .where(middle)
            .group_by(numbered.c.unit_code)
        )

    # one statement for the units and the whole: the durations are computed once (a CTE read twice);
    # the whole is keyed by a marker that no unit code can be
    overall_key = "*"
    stmt: Any
    if dialect == "postgresql":
        # PostgreSQL's ordered-set aggregate gives the same value (the mean of the one or two middle rows,
        # exact for these small integers) without sorting every duration by its unit's code and numbering
        # the rows twice; GROUPING SETS give the units and the whole from one pass over the durations.
        median = sa.func.percentile_cont(0.5).within_group(durations.c.days)
        stmt = (
            sa.select(sa.func.coalesce(durations.c.unit_code, overall_key), median)
            .group_by(sa.func.grouping_sets(sa.tuple_(durations.c.unit_code), sa.tuple_()))
        )
    else:
        stmt = sa.union_all(middle_rows(durations.c.unit_code, [durations.c.unit_code]),
                            middle_rows(sa.literal(overall_key), []))
    per_unit: dict[str, float] = {}
    overall = None
    for unit_code, median_days in session.execute(stmt):
        if median_days is None:
            continue
        if unit_code == overall_key:
            overall = float(median_days)
        else:
            per_unit[unit_code] = float(median_days)
    return per_unit, overall


def _referral_performance_postgresql(
    session: Session, root_path: str, period: Period, tz: str
) -> tuple[dict[str, dict[str, int]], dict[str, float], float | None]:
    """``_referral_counts`` and ``_median_days_to_accept`` in ONE pass over the referrals (PostgreSQL only).

    The same rows, conditions and results as the two portable queries: the counts per unit, and the median
    of the working days to acceptance per unit and overall (``percentile_cont`` ignores the NULL days of
    referrals not accepted by the end), from one scan and one join, grouped by GROUPING SETS.
    """
    # a clock of the referral went overdue: an EXISTS, which PostgreSQL answers either by probing the
    # deadlines' referral index for a few referrals (a province) or by hashing the late ones once (the
    # country), where a grouped subquery always read every deadline
    late = sa.exists().where(
        col(Deadline.referral_id) == col(Referral.id),
        col(Deadline.due_at) < period.end,  # type: ignore[operator]
        col(Deadline.opened_at) < period.end,  # type: ignore[operator]
        sa.or_(col(Deadline.closed_at).is_(None), col(Deadline.due_at) < col(Deadline.closed_at)),  # type: ignore[union-attr,operator]
    )
    first, last = period.first_day - timedelta(days=1), period.last_day
    asked = cumulative_sql(col(Referral.requested_at), first=first, last=last, dialect="postgresql", tz=tz)
    taken = cumulative_sql(col(Referral.accepted_at), first=first, last=last, dialect="postgresql", tz=tz)
    accepted = col(Referral.accepted_at) < period.end  # type: ignore[operator]
    completed = sa.and_(col(Referral.state) == "completed", col(Referral.ended_at) < period.end)  # type: ignore[operator]
    rows = (
        sa.select(
            # grouped under the bytewise collation: the same groups, and sorting them is far cheaper
            sa.collate(col(Case.unit_code), "C").label("unit_code"),
            sa.case((completed, 1), else_=0).label("completed"),
            sa.case((late, 1), else_=0).label("late"),
            sa.case((accepted, 1), else_=0).label("accepted"),
            sa.case((accepted, taken - asked), else_=None).label("days"),
        )
        .select_from(Referral)
        .join(Case, col(Case.id) == col(Referral.case_id))
        .where(
            _unit_in_scope(col(Case.unit_code), root_path),
            col(Referral.requested_at) >= period.start,  # type: ignore[operator]
            col(Referral.requested_at) < period.end,  # type: ignore[operator]
        )
        .subquery("performance")
    )
    overall_key = "*"
    stmt = (
        sa.select(
            sa.func.coalesce(rows.c.unit_code, overall_key).label("unit_code"),
            sa.func.count().label("requested"),
            sa.func.sum(rows.c.completed).label("completed"),
            sa.func.sum(rows.c.late).label("overdue"),
            sa.func.sum(rows.c.accepted).label("accepted"),
            sa.func.percentile_cont(0.5).within_group(rows.c.days).label("median"),
        )
        .group_by(sa.func.grouping_sets(sa.tuple_(rows.c.unit_code), sa.tuple_()))
    )
    counts: dict[str, dict[str, int]] = {}
    per_unit: dict[str, float] = {}
    overall = None
    for r in session.execute(stmt):
        if r.unit_code == overall_key:
            overall = None if r.median is None else float(r.median)
            continue
        counts[r.unit_code] = {"requested": int(r.requested), "completed": int(r.completed or 0),
                               "overdue": int(r.overdue or 0), "accepted": int(r.accepted or 0)}
        if r.median is not None:
            per_unit[r.unit_code] = float(r.median)
    return counts, per_unit, overall


# --- the report ---------------------------------------------------------------------------------------


def compute_indicators(
    session: Session,
    *,
    unit_code: str,
    period: str | Period,
    plan: Plan | None = None,
    plan_file: Path | None = None,
    tz: str | None = None,
    now: datetime | None = None,
) -> IndicatorReport:
    """Every indicator for ``unit_code``'s subtree (``VN``: the whole country) over ``period``."""
    settings = get_settings()
    tz = tz or settings.timezone
    chosen_period = period if isinstance(period, Period) else parse_period(period, tz)
    root_path = unit_path(session, unit_code)
    plan = plan or load_plan(plan_file or settings.plan_file)
    province_code = None if root_path == "/" else root_path.strip("/").split("/")[0]
    province_plan = plan.for_province(province_code)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # reporting aggregates hash hundreds of thousands of rows: give them memory for this transaction
        # only, and skip JIT compilation (it cost more than it saved on these plans)
        session.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        session.execute(sa.text("SET LOCAL jit = off"))
        # no parallel workers: each one rebuilt the whole per-child hash (the join's inner side) by itself,
        # tripling the work on a machine with two cores; one process does it once
        session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
        # the tables sit in memory: an index probe costs about a sequential read, so a province reaches its
        # few cases and referrals through the unit and case indexes instead of reading the whole tables
        session.execute(sa.text("SET LOCAL random_page_cost = 1.1"))

    children = _children_counts(session, root_path, chosen_period, province_plan, dialect)
    staff = _staff_counts(session, root_path, chosen_period)
    network = _network_counts(session, root_path, province_plan)
    if dialect == "postgresql":
        referrals, medians, overall_median = _referral_performance_postgresql(session, root_path, chosen_period, tz)
    else:
        referrals = _referral_counts(session, root_path, chosen_period)
        medians, overall_median = _median_days_to_accept(session, root_path, chosen_period, tz, dialect)

    def total(table: dict[str, dict[str, int]], column: str) -> int:
        return sum(row[column] for row in table.values())

    counts: dict[str, tuple[int | None, int | None]] = {
        "children_registered": (total(children, "registered"), None),
        "reached_service": (total(children, "reached"), total(children, "registered")),
        "health_rehabilitation": (total(children, "health"), total(children, "registered")),
        "caregivers_trained": (total(children, "caregivers"), total(children, "registered")),
        "officials_trained": (total(staff, "trained"), total(staff, "roster")),
        "linked_network": (total(network, "linked"), total(network, "communes")),
        "referral_days_to_accept": (total(referrals, "accepted"), None),
        "referral_completed": (total(referrals, "completed"), total(referrals, "requested")),
        "referral_overdue": (total(referrals, "overdue"), total(referrals, "requested")),
    }
    indicators = []
    for key, meta in INDICATORS.items():
        numerator, denominator = counts[key]
        if meta["kind"] == "share":
            value = _share(numerator, denominator)
        elif meta["kind"] == "days":
            value = overall_median
        else:
            value = float(numerator or 0)
        target = province_plan.target(key, chosen_period.year)
        met = None if target.value is None or value is None else value >= target.value
        indicators.append(Indicator(key=key, name_vi=meta["vi"], name_en=meta["en"], kind=meta["kind"],
                                    numerator=numerator, denominator=denominator, value=value,
                                    target=target.value, target_year=target.year, met=met))

    breakdown = _breakdown(session, children, staff, network, referrals, medians)
    if unit_code == NATIONAL:
        unit_names = ("Toàn quốc", "Whole country")
    else:
        unit = session.get(Unit, unit_code)
        assert unit is not None
        unit_names = (unit.name_vi, unit.name_en or unit.name_vi)
    return IndicatorReport(
        unit_code=unit_code, unit_name_vi=unit_names[0], unit_name_en=unit_names[1], period=chosen_period.label,
        period_label_vi=chosen_period.label_vi(), period_label_en=chosen_period.label_en(),
        first_day=chosen_period.first_day, last_day=chosen_period.last_day,
        generated_at=now or utcnow(), plan_source_vi=province_plan.source_vi, plan_source_en=province_plan.source_en,
        indicators=indicators, breakdown=breakdown,
    )


def _breakdown(
    session: Session,
    children: dict[str, dict[str, int]],
    staff: dict[str, dict[str, int]],
    network: dict[str, dict[str, int]],
    referrals: dict[str, dict[str, int]],
    medians: dict[str, float],
) -> list[BreakdownRow]:
    """One row per unit that holds any record (communes mostly; roster people may sit at a province)."""
    codes = set(children) | set(staff) | set(network) | set(referrals)
    names: dict[str, tuple[str, str, str, str]] = {}
    code_list = sorted(codes)
    for start in range(0, len(code_list), 1000):  # stay under SQLite's bound-parameter limit
        chunk = code_list[start:start + 1000]
        for code, name_vi, name_en, level, path in session.execute(
            sa.select(col(Unit.code), col(Unit.name_vi), col(Unit.name_en), col(Unit.level), col(Unit.path))
            .where(col(Unit.code).in_(chunk))
        ):
            names[code] = (name_vi, name_en or name_vi, level, path)
    rows = []
    for code in sorted(codes, key=lambda c: names.get(c, ("", "", "", c))[3]):
        ch = children.get(code, {})
        st = staff.get(code, {})
        nw = network.get(code, {})
        rf = referrals.get(code, {})

        def cell(numerator: int | None, denominator: int | None, kind: str = "share") -> dict[str, Any]:
            value = _share(numerator, denominator) if kind == "share" else numerator
            return {"numerator": numerator, "denominator": denominator, "value": value}

        registered = ch.get("registered", 0)
        values = {
            "children_registered": cell(registered, None, "count"),
            "reached_service": cell(ch.get("reached", 0), registered),
            "health_rehabilitation": cell(ch.get("health", 0), registered),
            "caregivers_trained": cell(ch.get("caregivers", 0), registered),
            "officials_trained": cell(st.get("trained", 0), st.get("roster", 0)),
            "linked_network": cell(nw.get("linked"), nw.get("communes")),
            "referral_days_to_accept": {"numerator": rf.get("accepted", 0), "denominator": None,
                                        "value": medians.get(code)},
            "referral_completed": cell(rf.get("completed", 0), rf.get("requested", 0)),
            "referral_overdue": cell(rf.get("overdue", 0), rf.get("requested", 0)),
        }
        name_vi, name_en, level, _ = names.get(code, (code, code, "", ""))
        rows.append(BreakdownRow(unit_code=code, name_vi=name_vi, name_en=name_en, level=level, values=values))
    return rows

