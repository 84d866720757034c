"""Supervision and reports: the overdue audit (with drill-down and audit notes) and the indicator reports.

Only supervisors use these routes, each within the subtree of their own unit; for anyone else, and for a
unit outside that subtree, the records do not exist (404), as everywhere else in the API.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session

from api.deps import CurrentActor, DbSession
from api.idempotency import Idem
from api.schemas import MAX_ID, RecordId
from engine.errors import NotFound
from engine.machine import Actor
from engine.models import Event, Report
from supervision.indicators import compute_indicators
from supervision.overdue import (
    BUCKETS,
    GROUPINGS,
    audit_notes,
    can_supervise,
    overdue_audit,
    overdue_items,
    record_audit_note,
)
from supervision.reports import (
    FORMATS,
    MEDIA_TYPES,
    file_name,
    generate_report,
    get_report,
    list_reports,
    write_report,
)

router = APIRouter()

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "not a supervisor, or the unit / record lies outside your area"},
}
BucketName = Literal["1-3", "4-10", "11-30", "31+"]
Grouping = Literal["agency", "unit", "domain", "step"]
assert {b for b, _, _ in BUCKETS} == set(BucketName.__args__)  # type: ignore[attr-defined]
assert set(GROUPINGS) == set(Grouping.__args__)  # type: ignore[attr-defined]


# --- schemas -------------------------------------------------------------------------------------------


class OverdueGroupPublic(BaseModel):
    key: str | None = Field(description="agency code, unit code, domain or policy key; null: case steps")
    name_vi: str
    name_en: str
    total: int
    buckets: dict[str, int] = Field(description="overdue items by working days late: 1-3, 4-10, 11-30, 31+")
    escalations: int = Field(description="escalation rungs already fired by as_of")
    level: str | None = None


class OverdueAuditPublic(BaseModel):
    within_unit: str
    as_of: datetime
    total: int
    buckets: dict[str, int]
    escalations: int
    groups: dict[str, list[OverdueGroupPublic]]


class OverdueItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    deadline_id: int
    case_id: int
    case_reference: str
    referral_id: int | None
    policy_key: str
    agency_code: str | None
    unit_code: str
    domain: str | None
    owner_user_id: int | None
    opened_at: datetime
    due_at: datetime
    days_late: int = Field(description="working days after the due day, up to and including as_of's day")
    bucket: str
    escalations: int
    last_escalation_at: datetime | None


class AuditNoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "deadline_id": 42, "reason_found": "Trạm y tế thiếu bác sĩ phục hồi chức năng",
        "action_taken": "Đã làm việc với trưởng trạm, hẹn tiếp nhận trong tuần", "follow_up_date": "2027-03-05",
    }]})
    deadline_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    case_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    referral_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    reason_found: str = Field(min_length=1, max_length=2000)
    action_taken: str = Field(min_length=1, max_length=2000)
    follow_up_date: date

    @model_validator(mode="after")
    def _one_target(self) -> AuditNoteCreate:
        if sum(x is not None for x in (self.deadline_id, self.case_id, self.referral_id)) != 1:
            raise ValueError("name exactly one of deadline_id, case_id, referral_id")
        return self


class AuditNotePublic(BaseModel):
    id: int
    case_id: int
    referral_id: int | None
    deadline_id: int | None
    at: datetime
    actor_id: int | None
    reason_found: str
    action_taken: str
    follow_up_date: date

    @classmethod
    def of(cls, event: Event) -> AuditNotePublic:
        assert event.id is not None
        payload = event.payload
        return cls(id=event.id, case_id=event.case_id, referral_id=event.referral_id,
                   deadline_id=payload.get("deadline_id"), at=event.at, actor_id=event.actor_id,
                   reason_found=payload.get("reason_found", ""), action_taken=payload.get("action_taken", ""),
                   follow_up_date=date.fromisoformat(payload["follow_up_date"]))


class IndicatorPublic(BaseModel):
    key: str
    name_vi: str
    name_en: str
    kind: str = Field(description="count, share (0..1) or days")
    numerator: int | None
    denominator: int | None
    value: float | None
    target: float | None
    target_year: int | None
    met: bool | None


class BreakdownPublic(BaseModel):
    unit_code: str
    name_vi: str
    name_en: str
    level: str
    values: dict[str, dict[str, float | int | None]]


class IndicatorReportPublic(BaseModel):
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
    indicators: list[IndicatorPublic]
    breakdown: list[BreakdownPublic]


class ReportPublic(BaseModel):
    id: int
    unit_code: str
    period: str
    generated_at: datetime
    downloads: dict[str, str]

    @classmethod
    def of(cls, report: Report) -> ReportPublic:
        assert report.id is not None
        base = f"/api/v1/reports/{report.id}/download?format="
        return cls(id=report.id, unit_code=report.unit_code, period=report.period,
                   generated_at=report.generated_at, downloads={fmt: base + fmt for fmt in FORMATS})


class ReportDetail(ReportPublic):
    content: dict[str, Any]


# --- scope ---------------------------------------------------------------------------------------------


def scoped_unit(session: Session, actor: Actor, unit: str | None) -> str:
    """The unit asked for (default: the supervisor's own), if it lies in the supervisor's subtree."""
    chosen = unit or actor.unit_code or ""
    if not can_supervise(session, actor, chosen):
        raise NotFound(what=f"unit {chosen}")
    return chosen


def scoped_report(session: Session, actor: Actor, report_id: int) -> Report:
    report = get_report(session, report_id)
    if not can_supervise(session, actor, report.unit_code):
        raise NotFound(what=f"report {report_id}")
    return report


UnitQuery = Annotated[str | None, Query(max_length=32, description="unit code; default: your own unit",
                                        examples=["19"])]
AsOfQuery = Annotated[datetime | None, Query(description="the moment to look at (ISO 8601 with offset); default now",
                                             examples=["2027-02-10T17:00:00+07:00"])]
PeriodQuery = Annotated[str, Query(pattern=r"^\d{4}(-[HhQq]\d)?$", examples=["2026", "2026-H1", "2026-Q3"])]


# --- overdue audit -------------------------------------------------------------------------------------


@router.get("/supervision/overdue", response_model=OverdueAuditPublic, responses=NOT_FOUND, tags=["supervision"],
            summary="Overdue audit: late items by agency, unit, domain and step, in aging buckets")
def get_overdue_audit(
    session: DbSession, actor: CurrentActor, unit: UnitQuery = None, as_of: AsOfQuery = None,
    group_by: Annotated[list[Grouping] | None, Query(description="groupings (all by default)")] = None,
) -> OverdueAuditPublic:
    chosen = scoped_unit(session, actor, unit)
    audit = overdue_audit(session, within_unit=chosen, as_of=as_of, group_by=tuple(group_by or GROUPINGS))
    return OverdueAuditPublic.model_validate(audit.as_dict())


@router.get("/supervision/overdue/items", response_model=list[OverdueItemPublic], responses=NOT_FOUND,
            tags=["supervision"], summary="Drill-down: the overdue items behind a group of the audit")
def get_overdue_items(
    session: DbSession, actor: CurrentActor, unit: UnitQuery = None, as_of: AsOfQuery = None,
    agency: Annotated[str | None, Query(max_length=64, description="agency code; '-' for case steps")] = None,
    in_unit: Annotated[str | None, Query(max_length=32, description="only items under this unit")] = None,
    domain: Annotated[str | None, Query(max_length=32, description="service domain; '-' for case steps")] = None,
    step: Annotated[str | None, Query(max_length=64, examples=["referral.requested"])] = None,
    bucket: BucketName | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[OverdueItemPublic]:
    chosen = scoped_unit(session, actor, unit)
    if in_unit is not None:
        scoped_unit(session, actor, in_unit)
    items = overdue_items(session, within_unit=chosen, as_of=as_of, agency=agency, unit=in_unit, domain=domain,
                          step=step, bucket=bucket, limit=limit, offset=offset)
    return [OverdueItemPublic.model_validate(i) for i in items]


@router.post("/supervision/audit-notes", status_code=201, response_model=AuditNotePublic,
             responses={**NOT_FOUND, 422: {"description": "incomplete note or follow-up date in the past"}},
             tags=["supervision"], summary="Record an audit note on an overdue item (kept in the trail)")
def post_audit_note(body: AuditNoteCreate, session: DbSession, actor: CurrentActor, idem: Idem) -> object:
    if actor.role != "supervisor":
        raise NotFound(what="supervision")
    if (replayed := idem.replay()) is not None:
        return replayed
    event = record_audit_note(
        session, actor=actor, deadline_id=body.deadline_id, case_id=body.case_id, referral_id=body.referral_id,
        reason_found=body.reason_found, action_taken=body.action_taken, follow_up_date=body.follow_up_date,
    )
    return idem.respond(201, AuditNotePublic.of(event))


@router.get("/supervision/cases/{case_id}/audit-notes", response_model=list[AuditNotePublic], responses=NOT_FOUND,
            tags=["supervision"], summary="Audit notes recorded on a case and its referrals")
def get_audit_notes(case_id: RecordId, session: DbSession, actor: CurrentActor) -> list[AuditNotePublic]:
    from engine.models import Case

    case = session.get(Case, case_id)
    if case is None or not can_supervise(session, actor, case.unit_code):
        raise NotFound(what=f"case {case_id}")
    return [AuditNotePublic.of(e) for e in audit_notes(session, case_id=case_id)]


# --- indicators and reports ----------------------------------------------------------------------------


@router.get("/reports/indicators", response_model=IndicatorReportPublic, responses=NOT_FOUND, tags=["reports"],
            summary="Indicators of a unit and period against the plan's targets (computed now, not stored)")
def get_indicators(
    session: DbSession, actor: CurrentActor, period: PeriodQuery, unit: UnitQuery = None
) -> IndicatorReportPublic:
    chosen = scoped_unit(session, actor, unit)
    report = compute_indicators(session, unit_code=chosen, period=period)
    return IndicatorReportPublic.model_validate(report.as_dict())


@router.post("/reports", status_code=201, response_model=ReportPublic, responses=NOT_FOUND, tags=["reports"],
             summary="Generate and store the report of a unit and period")
def post_report(session: DbSession, actor: CurrentActor, idem: Idem, period: PeriodQuery,
                unit: UnitQuery = None) -> object:
    chosen = scoped_unit(session, actor, unit)
    if (replayed := idem.replay()) is not None:
        return replayed
    return idem.respond(201, ReportPublic.of(generate_report(session, chosen, period)))


@router.get("/reports", response_model=list[ReportPublic], responses=NOT_FOUND, tags=["reports"],
            summary="Stored reports of your area, newest first")
def get_reports(
    session: DbSession, actor: CurrentActor, unit: UnitQuery = None,
    period: Annotated[str | None, Query(pattern=r"^\d{4}(-[HhQq]\d)?$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ReportPublic]:
    chosen = scoped_unit(session, actor, unit)
    return [ReportPublic.of(r) for r in list_reports(session, within_unit=chosen, period=period, limit=limit)]


@router.get("/reports/{report_id}", response_model=ReportDetail, responses=NOT_FOUND, tags=["reports"],
            summary="One stored report with its content")
def get_one_report(report_id: RecordId, session: DbSession, actor: CurrentActor) -> ReportDetail:
    report = scoped_report(session, actor, report_id)
    return ReportDetail(**ReportPublic.of(report).model_dump(), content=report.content)


@router.get("/reports/{report_id}/download", responses={**NOT_FOUND, 200: {
    "content": {media: {} for media in MEDIA_TYPES.values()}, "description": "the report file"}},
    response_class=Response, tags=["reports"], summary="Download a stored report as Excel, CSV or JSON")
def download_report(
    report_id: RecordId, session: DbSession, actor: CurrentActor,
    format: Annotated[Literal["xlsx", "csv", "json"], Query()] = "xlsx",  # noqa: A002 (the public parameter name)
) -> Response:
    report = scoped_report(session, actor, report_id)
    with tempfile.TemporaryDirectory(prefix="ketnoi-report-") as folder:
        path = write_report(report, Path(folder) / file_name(report, format), format)
        body = path.read_bytes()
    return Response(content=body, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{file_name(report, format)}"'})
