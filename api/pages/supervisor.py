"""Supervisor pages: approvals waiting, the overdue dashboard with audit notes, indicators, reports."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col
from starlette.datastructures import FormData

from api.pages.casework import task_rows
from api.pages.charts import Bar, bar_chart
from api.pages.common import (
    PREFIX,
    SUPERVISOR_ROLES,
    PageRoute,
    checked_form,
    clock_name,
    form_text,
    message_page,
    name_of,
    not_found,
    render,
    roles,
    see_other,
    translated,
)
from api.pages.context import PageContext
from api.pages.fmt import fmt_date, fmt_datetime, parse_day
from api.schemas import RecordId
from engine.db import transaction
from engine.errors import DomainError, InvalidInput
from engine.models import Agency, Escalation, Unit
from engine.tasks import my_tasks
from notifications.log import escalation_deliveries
from supervision.indicators import compute_indicators
from supervision.overdue import BUCKETS, OverdueItem, audit_notes, can_supervise, overdue_audit, overdue_items
from supervision.overdue import record_audit_note as record_note
from supervision.reports import file_name, generate_report, get_report, list_reports, write_report

router = APIRouter(route_class=PageRoute)
supervisor = roles(*SUPERVISOR_ROLES)
APPROVAL_STEPS = ("plan_awaiting_approval", "closure_proposed")
BUCKET_NAMES = [name for name, _, _ in BUCKETS]
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


@router.get("/approvals", response_class=HTMLResponse)
def approvals(ctx: PageContext = Depends(supervisor)) -> Response:
    """Care plans and closures waiting on the supervisors of the user's area (never their own plans' authors)."""
    with transaction(ctx.engine) as s:
        waiting = [t for t in my_tasks(s, ctx.actor) if t.kind in APPROVAL_STEPS and t.owner_role == "supervisor"]
        rows = task_rows(s, ctx, waiting)
    return render(ctx, "approvals.html", rows=rows)


# --- overdue ---------------------------------------------------------------------------------------


def _as_of(ctx: PageContext, text: str) -> datetime:
    """The end of the chosen day in the province's time zone; now when no day is chosen."""
    day = parse_day(text)
    if day is None:
        return ctx.now
    end = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(ctx.settings.timezone)).astimezone(UTC)
    return min(end, ctx.now) if day == ctx.now.astimezone(ZoneInfo(ctx.settings.timezone)).date() else end


def _audience(ctx: PageContext, audience: str) -> str:
    """'owner+caseworker' → 'người phụ trách, cán bộ quản lý trường hợp'."""
    return ", ".join(translated(f"page.audience.{part}", ctx.lang, part) for part in audience.split("+"))


def _delivered(ctx: PageContext, by_status: dict[str, int]) -> str:
    """How far a rung's notifications got: delivered to how many of their recipients, and how many failed."""
    # a notice held for a digest and moot before it ("skipped") was never to be sent
    total = sum(count for status, count in by_status.items() if status != "skipped")
    if not total:
        return ""  # a reminder overtaken by a later one in the same sweep: nothing was to be sent
    sent = by_status.get("delivered", 0) + by_status.get("digested", 0)
    text = " · " + ctx.t("page.overdue.delivered", sent=sent, total=total)
    if by_status.get("dead"):
        text += " · " + ctx.t("page.overdue.undelivered", n=by_status["dead"])
    return text


def _overdue_rows(s: Session, ctx: PageContext, found: list[OverdueItem], when: datetime) -> list[dict[str, Any]]:
    tz = ctx.settings.timezone
    fired: dict[int, list[Escalation]] = {}
    ids = [item.deadline_id for item in found]
    if ids:
        stmt = sa.select(Escalation).where(col(Escalation.deadline_id).in_(ids), col(Escalation.fired_at) <= when)
        for esc in s.execute(stmt.order_by(col(Escalation.deadline_id), col(Escalation.rung))).scalars():
            fired.setdefault(esc.deadline_id, []).append(esc)
    deliveries = escalation_deliveries(s, {item.case_id for item in found})
    rows = []
    for item in found:
        agency = s.get(Agency, item.agency_code) if item.agency_code else None
        unit = s.get(Unit, item.unit_code)
        notes = [n for n in audit_notes(s, case_id=item.case_id, referral_id=item.referral_id)
                 if n.referral_id == item.referral_id]
        escalations = [
            ctx.t("page.overdue.rung", rung=e.rung, audience=_audience(ctx, e.audience),
                  action=translated(f"page.rung.{e.action}", ctx.lang, e.action)) + " · " + fmt_datetime(e.fired_at, tz)
            + _delivered(ctx, deliveries.get((e.deadline_id, e.rung), {}))
            for e in fired.get(item.deadline_id, [])
        ]
        rows.append({
            "item": item, "unit": name_of(unit, ctx.lang) if unit else item.unit_code,
            "what": clock_name(item.policy_key, ctx.lang),
            "agency": name_of(agency, ctx.lang) if agency else ctx.t("page.overdue.case_steps"),
            "late": ctx.t("page.overdue.days_late", n=item.days_late), "escalations": escalations,
            "notes": [{"at": n.at, "reason_found": n.payload.get("reason_found"),
                       "action_taken": n.payload.get("action_taken"),
                       "follow_up": fmt_date(parse_day(n.payload.get("follow_up_date")))} for n in notes],
        })
    return rows


def _filter_label(ctx: PageContext, audit: Any, agency: str, unit: str, bucket: str) -> str:
    """The row the items are filtered by, as the tables above name it."""
    for grouping, key in (("agency", agency), ("unit", unit)):
        if key:
            for group in audit.groups[grouping] if audit else []:
                if (group.key or "-") == key:
                    return str(group.name_vi if ctx.lang == "vi" else (group.name_en or group.name_vi))
            return ctx.t("page.overdue.case_steps") if key == "-" else key
    return ctx.t("page.overdue.bucket", bucket=bucket) if bucket else ""


@router.get("/overdue", response_class=HTMLResponse)
def overdue_dashboard(ctx: PageContext = Depends(supervisor), as_of: str = "", agency: str = "", unit: str = "",
                      bucket: str = "") -> Response:
    """Roll-ups by agency and unit in aging buckets, and the items (filtered by a row) with their escalations."""
    return render_overdue(ctx, as_of, agency, unit, bucket)


def render_overdue(ctx: PageContext, as_of: str, agency: str, unit: str, bucket: str, *, error: str | None = None,
                   kept: dict[str, str] | None = None, status: int = 200) -> Response:
    """The dashboard; after a refused note, with the reason and what was typed kept in that item's form."""
    assert ctx.user is not None
    when = _as_of(ctx, as_of)
    tz = ctx.settings.timezone
    try:
        with transaction(ctx.engine) as s:
            if unit and not can_supervise(s, ctx.actor, unit):
                raise not_found(ctx)
            audit = overdue_audit(s, within_unit=ctx.user.unit_code, as_of=when, group_by=("agency", "unit"), tz=tz)
            found = overdue_items(s, within_unit=ctx.user.unit_code, as_of=when, agency=agency or None,
                                  unit=unit or None, bucket=bucket if bucket in BUCKET_NAMES else None, tz=tz)
            items = _overdue_rows(s, ctx, found, when)
    except DomainError as exc:
        return message_page(ctx, exc.status, exc.title(ctx.lang), exc.message(ctx.lang))
    chosen = {"as_of": as_of}

    def query(**extra: str) -> str:
        return urlencode({k: v for k, v in {**chosen, **extra}.items() if v})

    return render(ctx, "overdue.html", status=status, error=error, audit=audit, items=items, buckets=BUCKET_NAMES,
                  as_of=when, as_of_text=as_of, filtered=_filter_label(ctx, audit, agency, unit, bucket),
                  filters={"agency": agency, "unit": unit, "bucket": bucket}, kept=kept or {},
                  supervising=ctx.user.role == "supervisor", query=query)  # admins see the totals only


@router.post("/overdue/notes", response_class=HTMLResponse)
def overdue_note(ctx: PageContext = Depends(supervisor), form: FormData = Depends(checked_form)) -> Response:
    """An audit note on an overdue item: what was found, what was done, when to look again."""
    try:
        deadline_id = int(form_text(form, "deadline_id"))
    except ValueError:
        raise not_found(ctx) from None
    back = {k: form_text(form, k) for k in ("as_of", "agency", "unit", "bucket")}
    typed = form_text(form, "follow_up_date")
    follow_up = parse_day(typed)
    try:
        if typed and follow_up is None:
            raise InvalidInput("page.overdue.bad_date", date=typed)
        with transaction(ctx.engine) as s:
            record_note(s, actor=ctx.actor, deadline_id=deadline_id, reason_found=form_text(form, "reason_found"),
                        action_taken=form_text(form, "action_taken"),
                        follow_up_date=follow_up,  # type: ignore[arg-type]
                        now=ctx.now, tz=ctx.settings.timezone)
    except DomainError as exc:
        kept = {k: form_text(form, k) for k in ("deadline_id", "reason_found", "action_taken", "follow_up_date")}
        return render_overdue(ctx, **back, error=exc.message(ctx.lang), kept=kept, status=exc.status)
    return see_other(f"{PREFIX}/overdue?{urlencode({**{k: v for k, v in back.items() if v}, 'done': '1'})}")


# --- indicators and reports ------------------------------------------------------------------------


def _period(ctx: PageContext, text: str) -> str:
    return text.strip().upper() or str(ctx.now.astimezone(ZoneInfo(ctx.settings.timezone)).year)


def _percent(value: float | None) -> float | None:
    return None if value is None else value * 100


@router.get("/indicators", response_class=HTMLResponse)
def indicators_page(ctx: PageContext = Depends(supervisor), period: str = "") -> Response:
    """Each indicator with its numerator and denominator; shares drawn against the plan's targets."""
    assert ctx.user is not None
    chosen = _period(ctx, period)
    try:
        with transaction(ctx.engine) as s:
            report = compute_indicators(s, unit_code=ctx.user.unit_code, period=chosen, now=ctx.now,
                                        tz=ctx.settings.timezone)
    except DomainError as exc:
        return render(ctx, "indicators.html", status=exc.status, period=chosen, rows=[], chart="",
                      error=exc.message(ctx.lang))
    rows: list[dict[str, Any]] = []
    for ind in report.indicators:
        share = ind.kind == "share"
        rows.append({
            "label": ind.name_vi if ctx.lang == "vi" else ind.name_en, "kind": ind.kind, "met": ind.met,
            "numerator": ind.numerator, "denominator": ind.denominator,
            "value": _percent(ind.value) if share else ind.value, "target": _percent(ind.target) if share else None,
            "target_year": ind.target_year, "share": share,
        })
    bars = [Bar(ind.name_vi if ctx.lang == "vi" else ind.name_en, _percent(ind.value), _percent(ind.target))
            for ind in report.indicators if ind.kind == "share"]
    chart = bar_chart(bars,
                      title=ctx.t("page.indicators.title"), value_label=ctx.t("page.indicators.value"),
                      target_label=ctx.t("page.indicators.target"))
    unit_name = report.unit_name_vi if ctx.lang == "vi" else report.unit_name_en
    return render(ctx, "indicators.html", period=report.period, rows=rows, chart=chart, unit_name=unit_name,
                  plan_source=report.plan_source_vi if ctx.lang == "vi" else report.plan_source_en,
                  first_day=report.first_day, last_day=report.last_day)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(ctx: PageContext = Depends(supervisor), period: str = "") -> Response:
    assert ctx.user is not None
    with transaction(ctx.engine) as s:
        reports = list_reports(s, within_unit=ctx.user.unit_code, limit=50)
        names = {u.code: name_of(u, ctx.lang) for u in s.execute(
            sa.select(Unit).where(Unit.code.in_({r.unit_code for r in reports}))).scalars()}  # type: ignore[attr-defined]
    return render(ctx, "reports.html", period=_period(ctx, period), reports=reports, names=names,
                  formats=list(MEDIA_TYPES))


@router.post("/reports", response_class=HTMLResponse)
def make_report(ctx: PageContext = Depends(supervisor), form: FormData = Depends(checked_form)) -> Response:
    """Compute and store the report of the supervisor's unit for a period (then it can be downloaded)."""
    assert ctx.user is not None
    try:
        with transaction(ctx.engine) as s:
            generate_report(s, ctx.user.unit_code, _period(ctx, form_text(form, "period")), now=ctx.now)
    except DomainError as exc:
        return message_page(ctx, exc.status, exc.title(ctx.lang), exc.message(ctx.lang))
    return see_other(f"{PREFIX}/reports?done=1")


@router.get("/reports/{report_id}/download")
def download_report(report_id: RecordId, ctx: PageContext = Depends(supervisor), format: str = "xlsx") -> Response:
    if format not in MEDIA_TYPES:
        raise not_found(ctx)
    try:
        with transaction(ctx.engine) as s:
            report = get_report(s, report_id)
            if not can_supervise(s, ctx.actor, report.unit_code):
                raise not_found(ctx)
    except DomainError:
        raise not_found(ctx) from None
    with tempfile.TemporaryDirectory(prefix="ketnoi-page-report-") as folder:
        body = write_report(report, Path(folder) / file_name(report, format), format).read_bytes()
    return Response(body, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{file_name(report, format)}"'})
