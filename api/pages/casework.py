"""Caseworker pages: my work, finding and registering a child, and the case page with its actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col
from starlette.datastructures import FormData

from api.pages.common import (
    CASE_ROLES,
    DELIVERY_ROWS,
    PREFIX,
    PageRoute,
    action_label,
    checked_form,
    clock_name,
    delivery_rows,
    form_int,
    form_text,
    message_page,
    name_of,
    not_found,
    outcome_label,
    pick,
    reason_label,
    render,
    roles,
    scoped_case,
    see_other,
    signed_in,
    state_label,
    task_label,
    translated,
    unit_names,
    user_names,
)
from api.pages.context import PageContext
from api.pages.fmt import due_status, fmt_date, parse_day
from api.pages.forms import CHILD_CHOICES, DOMAINS, SERVICES, FieldSpec, case_form, payload_from_form, referral_form
from api.schemas import RecordId  # bounded: a larger number names no record (not found, not a 500)
from api.scope import child_condition, record_reads, unit_condition
from engine.audit import timeline
from engine.cases import open_case, transition_case
from engine.children import CHILD_AGE_LIMIT, ChildCreate, register_child, search_children
from engine.db import transaction
from engine.deadlines import deadlines_of_case
from engine.errors import DomainError, PossibleDuplicate
from engine.models import AccessLog, Agency, Case, Child, Consent, Event, ServiceDomain, ServiceType, Task, Unit
from engine.states import CASE_MACHINE, STAGE_LABELS, STEP_LABELS
from engine.tasks import my_tasks
from engine.text import initials
from notifications.log import delivery_log_for_case
from referrals.lifecycle import REFERRAL_MACHINE
from referrals.services import create_referral, proposals, referrals_of_case

router = APIRouter(route_class=PageRoute)
caseworker = roles(*CASE_ROLES)


# --- my work --------------------------------------------------------------------------------------


def task_rows(s: Session, ctx: PageContext, tasks: list[Task]) -> list[dict[str, Any]]:
    """Each task with its case, child (initials only for agency staff), what to do and how late or how long left."""
    case_ids = {t.case_id for t in tasks}
    cases = (
        {c.id: c for c in s.execute(sa.select(Case).where(Case.id.in_(case_ids))).scalars()}  # type: ignore[union-attr]
        if case_ids else {}
    )
    child_ids = {c.child_id for c in cases.values()}
    children = (
        {c.id: c for c in s.execute(sa.select(Child).where(Child.id.in_(child_ids))).scalars()}  # type: ignore[union-attr]
        if child_ids else {}
    )
    agency_view = ctx.user is not None and ctx.user.role == "agency_staff"
    rows = []
    for task in tasks:
        case = cases.get(task.case_id)
        child = children.get(case.child_id) if case else None
        css, words = due_status(task.due_at, ctx.now, ctx.lang)
        what = task_label(task.kind, task.referral_id is not None, ctx.lang)
        if task.referral_id is not None:
            what = f"REF-{task.referral_id}: {what}"
        link = (f"{PREFIX}/referrals/{task.referral_id}" if task.referral_id is not None and agency_view
                else f"{PREFIX}/cases/{task.case_id}")
        rows.append({
            "task": task, "case": case, "what": what, "link": link, "css": css, "status": words,
            "child": (initials(child.full_name) if agency_view else child.full_name) if child else "",
        })
    return rows


@router.get("/work", response_class=HTMLResponse)
def my_work(ctx: PageContext = Depends(signed_in)) -> Response:
    with transaction(ctx.engine) as s:
        rows = task_rows(s, ctx, my_tasks(s, ctx.actor))
    return render(ctx, "work.html", rows=rows)


# --- children -------------------------------------------------------------------------------------


@router.get("/children", response_class=HTMLResponse)
def children_page(ctx: PageContext = Depends(caseworker), q: str = "") -> Response:
    assert ctx.user is not None
    results: list[dict[str, Any]] = []
    with transaction(ctx.engine) as s:
        if q.strip():
            found = search_children(s, q, within_unit=ctx.user.unit_code)
            cases: dict[int, list[Case]] = {}
            ids = [c.id for c in found]
            if ids:
                stmt = sa.select(Case).where(col(Case.child_id).in_(ids)).order_by(col(Case.id))
                for case in s.execute(stmt).scalars():
                    cases.setdefault(case.child_id, []).append(case)
            record_reads(s, ctx.actor, (c.id for c in found), "search")
            communes = unit_names(s, {c.commune_code for c in found}, ctx.lang)
            results = [{"child": c, "cases": cases.get(c.id or 0, []),
                        "commune": communes.get(c.commune_code, c.commune_code)} for c in found]
    return render(ctx, "children.html", q=q, results=results, choices=CHILD_CHOICES)


def _register_values(ctx: PageContext, s: Session, form: dict[str, Any], **extra: Any) -> dict[str, Any]:
    communes = s.execute(
        sa.select(Unit).where(unit_condition(ctx.actor, Unit.code), col(Unit.level) == "commune")
        .order_by(Unit.name_vi).limit(500)
    ).scalars()
    choice = {name: [(v, ctx.t(f"page.{prefix}.{v}")) for v in values]
              for name, (values, prefix) in CHILD_CHOICES.items()}
    return {"form": form, "communes": list(communes), "choice": choice, **extra}


@router.get("/children/new", response_class=HTMLResponse)
def register_page(ctx: PageContext = Depends(caseworker), name: str = "") -> Response:
    with transaction(ctx.engine) as s:
        values = _register_values(ctx, s, {"full_name": name, "disability_types": [], "urgency": "normal"})
    return render(ctx, "register.html", **values)


def _child_from_form(form: FormData) -> ChildCreate:
    guardians = []
    if form_text(form, "guardian_name"):
        guardians.append({"name": form_text(form, "guardian_name"),
                          "relation": form_text(form, "guardian_relation") or "parent",
                          "phone": form_text(form, "guardian_phone") or None})
    return ChildCreate.model_validate({
        "full_name": form_text(form, "full_name"),
        "date_of_birth": parse_day(form_text(form, "date_of_birth")),
        "sex": form_text(form, "sex"),
        "commune_code": form_text(form, "commune_code"),
        "guardians": guardians,
        "disability_types": [str(v) for v in form.getlist("disability_types")],
        "severity": form_text(form, "severity"),
        "household_status": form_text(form, "household_status") or None,
        "personal_id": form_text(form, "personal_id") or None,
    })


# The registration form's own checks (engine.children) and pydantic's commonest refusals, in words people read;
# anything else falls back to pydantic's own message.
_VALIDATOR_MESSAGES = {"name is empty": "page.invalid.empty", "must be exactly 12 digits": "personal_id_invalid",
                       "date of birth is in the future": "page.invalid.future_birth"}
_ERROR_TYPES = {"date_type": "page.invalid.date", "date_parsing": "page.invalid.date", "date_from_datetime_parsing":
                "page.invalid.date", "missing": "page.invalid.missing", "string_too_short": "page.invalid.empty",
                "too_short": "page.invalid.choose_one", "string_too_long": "page.invalid.too_long",
                "too_long": "page.invalid.too_many", "literal_error": "page.invalid.choice",
                "enum": "page.invalid.choice"}


def validation_messages(ctx: PageContext, exc: ValidationError, labels: Mapping[str, str] | None = None) -> list[str]:
    """Each refused field by its label on the form, with why, in the reader's language. A field is labelled by
    ``page.field.<name>`` unless ``labels`` gives its form's own catalogue key."""
    messages = []
    for e in exc.errors():
        loc = [str(part) for part in e["loc"] if not isinstance(part, int)]
        name = f"guardian_{loc[-1]}" if loc[:1] == ["guardians"] and len(loc) > 1 else (loc[0] if loc else "")
        label = translated((labels or {}).get(name, f"page.field.{name}"), ctx.lang, name)
        said = str((e.get("ctx") or {}).get("error", ""))
        key = _VALIDATOR_MESSAGES.get(said) or _ERROR_TYPES.get(e["type"])
        if said.startswith("a child is under "):
            key = "page.invalid.too_old"
        why = ctx.t(key, **(e.get("ctx") or {}), years=CHILD_AGE_LIMIT) if key else e["msg"]
        messages.append(f"{label}: {why}" if label else why)
    return messages


@router.post("/children", response_class=HTMLResponse)
def register_submit(ctx: PageContext = Depends(caseworker), form: FormData = Depends(checked_form)) -> Response:
    """Register the child and record the report (the case opens) in one transaction."""
    values: dict[str, Any] = {k: form.get(k) for k in form.keys()}
    values["disability_types"] = form.getlist("disability_types")
    errors: list[str]
    duplicates: list[dict[str, Any]] = []
    status = 422
    try:
        data = _child_from_form(form)
        with transaction(ctx.engine) as s:
            in_area = s.execute(sa.select(col(Unit.code)).where(col(Unit.code) == data.commune_code,
                                                           unit_condition(ctx.actor, Unit.code))).first()
            if in_area is None:
                raise not_found(ctx)
            child = register_child(s, data, ctx.actor, confirm_duplicate=form.get("confirm_duplicate") == "1",
                                   now=ctx.now)
            assert child.id is not None
            case = open_case(s, child_id=child.id, actor=ctx.actor, source=form_text(form, "source"),
                             urgency=form_text(form, "urgency") or "normal", note=form_text(form, "note") or None,
                             now=ctx.now)
        return see_other(f"{PREFIX}/cases/{case.id}?done=1")
    except ValidationError as exc:
        errors = validation_messages(ctx, exc)
    except PossibleDuplicate as exc:
        errors, duplicates, status = [exc.message(ctx.lang)], exc.candidates, exc.status
    except DomainError as exc:
        errors, status = [exc.message(ctx.lang)], exc.status
    with transaction(ctx.engine) as s:
        communes = unit_names(s, {str(dup["commune_code"]) for dup in duplicates}, ctx.lang)
        for dup in duplicates:
            dup["date_of_birth"] = fmt_date(parse_day(dup["date_of_birth"]))
            dup["commune"] = communes.get(str(dup["commune_code"]), dup["commune_code"])
        page = _register_values(ctx, s, values, errors=errors, duplicates=duplicates)
    return render(ctx, "register.html", status=status, **page)


@router.post("/children/{child_id}/cases")
def open_case_submit(child_id: RecordId, ctx: PageContext = Depends(caseworker),
                     form: FormData = Depends(checked_form)) -> Response:
    """A new report about a child already registered."""
    try:
        with transaction(ctx.engine) as s:
            mine = sa.select(col(Child.id)).where(col(Child.id) == child_id, child_condition(ctx.actor))
            if s.execute(mine).first() is None:
                raise not_found(ctx)
            case = open_case(s, child_id=child_id, actor=ctx.actor, source=form_text(form, "source"),
                             urgency=form_text(form, "urgency") or "normal", now=ctx.now)
    except DomainError as exc:
        return message_page(ctx, exc.status, exc.title(ctx.lang), exc.message(ctx.lang))
    return see_other(f"{PREFIX}/cases/{case.id}?done=1")


# --- the case page --------------------------------------------------------------------------------


def field_view(ctx: PageContext, f: FieldSpec, services: Sequence[ServiceType] = (),
               domains: Sequence[ServiceDomain] = (), preset: list[str] | None = None) -> dict[str, Any]:
    if f.choices == SERVICES:
        options = [(sv.code, name_of(sv, ctx.lang)) for sv in services]
    elif f.choices == DOMAINS:
        options = [(dm.code, name_of(dm, ctx.lang)) for dm in domains]
    elif f.labels is not None:
        options = [(v, pick(f.labels.get(v), ctx.lang, v)) for v in f.choices]
    else:
        options = [(v, ctx.t(f"page.{f.prefix}.{v}")) for v in f.choices]
    return {"name": f.name, "kind": f.kind, "label": ctx.t(f.label or f"page.field.{f.name}"), "options": options,
            "required": f.required, "preset": preset or []}


def referral_action_view(ctx: PageContext, action: str) -> dict[str, Any]:
    return {"action": action, "label": action_label(action, ctx.lang),
            "fields": [field_view(ctx, f) for f in referral_form(action).fields]}


def timeline_entries(s: Session, ctx: PageContext, events: list[Event]) -> list[dict[str, Any]]:
    """Newest first, each with its action, states and who did it, in the reader's language."""
    people = user_names(s, {e.actor_id for e in events})
    entries = []
    for e in reversed(events):
        what = action_label(e.action, ctx.lang) + (f" (REF-{e.referral_id})" if e.referral_id else "")
        entity = "referral" if e.entity == "referral" else "case"
        entries.append({
            "at": e.at, "what": what, "from": state_label(entity, e.from_state, ctx.lang),
            "to": state_label(entity, e.to_state, ctx.lang),
            "moves": e.from_state is not None or e.to_state is not None,
            "who": people.get(e.actor_id, e.actor_role or "") if e.actor_id else (e.actor_role or ""),
            "reason": reason_label(e.reason, ctx.lang),
        })
    return entries


def _deadline_rows(s: Session, ctx: PageContext, case: Case) -> list[dict[str, Any]]:
    rows = []
    for view in deadlines_of_case(s, case.id or 0, ctx.now, include_referrals=True, open_only=True):
        label = clock_name(view.policy_key, ctx.lang)
        if view.referral_id:
            label = f"REF-{view.referral_id}: {label}"
        css, words = due_status(view.due_at, ctx.now, ctx.lang)
        if view.paused_at is not None:
            css, words = "paused", ctx.t("page.time.paused")
        rows.append({"label": label, "due_at": view.due_at, "css": css, "status": words})
    return rows


def _referral_rows(s: Session, ctx: PageContext, case: Case) -> list[dict[str, Any]]:
    assert ctx.user is not None
    rows = []
    for r in referrals_of_case(s, case.id or 0):
        agency = s.get(Agency, r.agency_code)
        service = s.get(ServiceType, r.service_code)
        rows.append({
            "r": r, "agency": name_of(agency, ctx.lang) if agency else r.agency_code,
            "service": name_of(service, ctx.lang) if service else r.service_code,
            "state": state_label("referral", r.state, ctx.lang), "outcome": outcome_label(r, ctx.lang),
            "actions": [referral_action_view(ctx, tr.action)
                        for tr in REFERRAL_MACHINE.available(r.state, ctx.user.role)],
        })
    return rows


def _proposals(s: Session, ctx: PageContext, case: Case, referrals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each service of the approved plan with no referral under way or done: the agencies routing proposes,
    nearest first, each with the reason (agencies that already turned it down come last)."""
    if case.step != "in_care":
        return []
    ended_without_service = ("rejected", "failed", "cancelled")
    under_way = {row["r"].service_code for row in referrals if row["r"].state not in ended_without_service}
    out = []
    for code in (case.data.get("care_plan") or {}).get("services") or []:
        service = s.get(ServiceType, code)
        if code in under_way or service is None:
            continue
        out.append({"service": service, "label": name_of(service, ctx.lang), "candidates": [
            {"code": c.agency_code, "name": c.name_vi if ctx.lang == "vi" else (c.name_en or c.name_vi),
             "reason": c.reason_vi if ctx.lang == "vi" else c.reason_en} for c in proposals(s, case, code)]})
    return out


def render_case(ctx: PageContext, case_id: int, *, error: str | None = None, status: int = 200) -> Response:
    assert ctx.user is not None and ctx.user.id is not None
    with transaction(ctx.engine) as s:
        case = scoped_case(s, ctx, case_id)
        child = s.get(Child, case.child_id)
        assert child is not None and child.id is not None
        s.add(AccessLog(user_id=ctx.user.id, child_id=child.id, at=ctx.now, action="read_page"))
        services = list(s.execute(sa.select(ServiceType).order_by(ServiceType.domain, ServiceType.code)).scalars())
        domains = list(s.execute(sa.select(ServiceDomain).order_by(ServiceDomain.code)).scalars())
        assessed = list((case.data.get("needs_assessment") or {}).get("needs") or [])
        actions = []
        for tr in CASE_MACHINE.available(case.step, ctx.user.role):
            preset = assessed if tr.action == "submit_plan" else None  # the plan starts from the assessed needs
            actions.append({"action": tr.action, "label": tr.label_vi if ctx.lang == "vi" else tr.label_en,
                            "fields": [field_view(ctx, f, services, domains, preset) for f in case_form(tr).fields]})
        referrals = _referral_rows(s, ctx, case)
        unit = s.get(Unit, case.unit_code)
        values = {
            "case": case, "child": child, "actions": actions, "referrals": referrals,
            "proposals": _proposals(s, ctx, case, referrals), "deadlines": _deadline_rows(s, ctx, case),
            "consents": list(s.execute(sa.select(Consent).where(col(Consent.case_id) == case.id)
                                       .order_by(col(Consent.id))).scalars()),
            "domain_names": {dm.code: name_of(dm, ctx.lang) for dm in domains},
            "timeline": timeline_entries(s, ctx, timeline(s, case.id or 0)),
            "deliveries": delivery_rows(s, ctx.lang, delivery_log_for_case(s, case.id or 0, limit=DELIVERY_ROWS)),
            "stage": pick(STAGE_LABELS.get(case.stage), ctx.lang, case.stage),
            "step": pick(STEP_LABELS.get(case.step), ctx.lang, case.step),
            "unit": name_of(unit, ctx.lang) if unit else case.unit_code,
        }
    return render(ctx, "case.html", status=status, error=error, **values)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: RecordId, ctx: PageContext = Depends(caseworker)) -> Response:
    return render_case(ctx, case_id)


@router.post("/cases/{case_id}/actions/{action}", response_class=HTMLResponse)
def case_action(case_id: RecordId, action: str, ctx: PageContext = Depends(caseworker),
                form: FormData = Depends(checked_form)) -> Response:
    """One transition: the form's fields become the payload, the engine decides; a refusal changes nothing."""
    try:
        with transaction(ctx.engine) as s:
            case = scoped_case(s, ctx, case_id)
            tr = CASE_MACHINE.transitions.get((case.step, action))
            payload = payload_from_form(case_form(tr), form) if tr is not None else {}
            transition_case(s, case_id, action, ctx.actor, form_int(form, "version"), payload, now=ctx.now)
    except DomainError as exc:
        return render_case(ctx, case_id, error=exc.message(ctx.lang), status=exc.status)
    return see_other(f"{PREFIX}/cases/{case_id}?done=1")


@router.post("/cases/{case_id}/referrals", response_class=HTMLResponse)
def create_referral_submit(case_id: RecordId, ctx: PageContext = Depends(caseworker),
                           form: FormData = Depends(checked_form)) -> Response:
    try:
        with transaction(ctx.engine) as s:
            scoped_case(s, ctx, case_id)
            create_referral(s, case_id=case_id, service_code=form_text(form, "service_code"), actor=ctx.actor,
                            agency_code=form_text(form, "agency_code") or None,
                            override_reason=form_text(form, "override_reason") or None, now=ctx.now)
    except DomainError as exc:
        return render_case(ctx, case_id, error=exc.message(ctx.lang), status=exc.status)
    return see_other(f"{PREFIX}/cases/{case_id}?done=1")


__all__ = ["router", "render_case", "task_rows", "timeline_entries", "referral_action_view", "field_view",
           "validation_messages"]
