"""The pages: thin handlers that read a form, call one service function, and render or redirect.

No business rule lives here: what is allowed, required or refused is decided by engine.*, referrals.* and
supervision.*; a refusal (DomainError) is shown on the page in the reader's language and changes nothing.
Every POST carries the per-session CSRF token; every record is looked up within the user's scope, and a
record outside it answers the same 404 page as a record that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from api.pages import catalogue  # noqa: F401  (registers the page strings)
from api.pages.charts import Bar, bar_chart
from api.pages.context import PageContext, optional, page_context
from api.pages.fmt import due_status, fmt_date, fmt_datetime, parse_day
from api.pages.forms import CHILD_CHOICES, DOMAINS, SERVICES, FieldSpec, case_form, payload_from_form, referral_form
from api.pages.security import LANGUAGE_COOKIE, SESSION_COOKIE, SESSION_LIFETIME, csrf_matches, sign_session
from engine.audit import timeline
from engine.cases import open_case, transition_case
from engine.children import ChildCreate, register_child, search_children, subtree_condition
from engine.db import transaction
from engine.errors import DomainError, PossibleDuplicate
from engine.models import (
    AccessLog,
    Agency,
    Case,
    Child,
    Consent,
    Escalation,
    Referral,
    ServiceDomain,
    ServiceType,
    Task,
    Unit,
    User,
)
from engine.states import CASE_MACHINE, STAGE_LABELS, STEP_LABELS
from engine.tasks import my_tasks
from engine.text import initials
from engine.users import actor_of, verify_password

PREFIX = "/app"
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(fmt_date=fmt_date, fmt_datetime=fmt_datetime, PREFIX=PREFIX)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

CASE_ROLES = ("caseworker", "supervisor", "admin")
SUPERVISOR_ROLES = ("supervisor", "admin")
APPROVAL_STEPS = ("plan_awaiting_approval", "closure_proposed")


# --- rendering ------------------------------------------------------------------------------------


def render(ctx: PageContext, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    tz = ctx.settings.timezone
    page: dict[str, Any] = {
        "request": ctx.request, "ctx": ctx, "t": ctx.t, "lang": ctx.lang, "user": ctx.user,
        "csrf": ctx.session.csrf if ctx.session else "", "now": ctx.now,
        "d": lambda v: fmt_date(v, tz), "dt": lambda v: fmt_datetime(v, tz),
        "lang_switch_url": _lang_switch_url(ctx),
    }
    page.update(values)
    response = templates.TemplateResponse(ctx.request, template, page, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if ctx.lang_from_query:
        response.set_cookie(LANGUAGE_COOKIE, ctx.lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                            secure=ctx.secure_cookies)
    return response


def _lang_switch_url(ctx: PageContext) -> str:
    other = "en" if ctx.lang == "vi" else "vi"
    params = dict(ctx.request.query_params)
    params["lang"] = other
    return f"{ctx.request.url.path}?{urlencode(params)}"


def not_found(ctx: PageContext) -> HTMLResponse:
    return render(ctx, "not_found.html", status=404)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def signed_in(ctx: PageContext = Depends(page_context)) -> PageContext:
    if ctx.user is None:
        next_url = ctx.request.url.path
        raise HTTPException(status_code=303, headers={"Location": f"{PREFIX}/login?{urlencode({'next': next_url})}"})
    return ctx


async def posted_form(request: Request) -> FormData:
    return await request.form()


def checked_form(ctx: PageContext = Depends(signed_in), form: FormData = Depends(posted_form)) -> FormData:
    """Every POST of a signed-in page must carry the session's CSRF token."""
    if not csrf_matches(ctx.session, str(form.get("csrf") or "")):
        raise HTTPException(status_code=403, detail=ctx.t("page.csrf_failed"))
    return form


def _safe_next(value: Any, default: str) -> str:
    text = str(value or "")
    return text if text.startswith(PREFIX + "/") and "//" not in text and "\\" not in text else default


def _label(pair: tuple[str, str] | None, lang: str, fallback: str) -> str:
    if pair is None:
        return fallback
    return pair[0] if lang == "vi" else pair[1]


def _name(row: Any, lang: str) -> str:
    return str(row.name_vi if lang == "vi" or not getattr(row, "name_en", "") else row.name_en)


# --- scope ----------------------------------------------------------------------------------------


def _scoped_case(s: Session, user: User, case_id: int) -> Case | None:
    """The case if the user's scope covers it (the API's rule: api.scope), else None."""
    case_condition = optional("api.scope", "case_condition")
    if case_condition is not None:
        condition = case_condition(actor_of(user))
    elif user.role in CASE_ROLES:
        condition = subtree_condition(Case.unit_code, user.unit_code)
    else:
        return None
    return s.execute(sa.select(Case).where(Case.id == case_id, condition)).scalar_one_or_none()


def _scoped_referral(s: Session, user: User, referral_id: int) -> Referral | None:
    referral_condition = optional("api.scope", "referral_condition")
    if referral_condition is not None:
        condition = referral_condition(actor_of(user))
    elif user.role == "agency_staff":
        condition = Referral.agency_code == user.agency_code
    else:
        condition = Referral.case_id.in_(  # type: ignore[attr-defined]
            sa.select(Case.id).where(subtree_condition(Case.unit_code, user.unit_code)))
    return s.execute(sa.select(Referral).where(Referral.id == referral_id, condition)).scalar_one_or_none()


# --- sign in --------------------------------------------------------------------------------------


@router.get("/static/site.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "site.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/login", response_class=HTMLResponse)
def login_page(ctx: PageContext = Depends(page_context), next: str = "") -> Response:
    return render(ctx, "login.html", next=_safe_next(next, ""), error=None)


def _authenticate(s: Session, login: str, password: str) -> User | None:
    """The API's sign-in check when present (it records attempts and slows guessing), else the engine's."""
    api_authenticate: Callable[..., Any] | None = optional("api.auth", "authenticate")
    if api_authenticate is not None:
        try:
            result = api_authenticate(s, login, password)
        except DomainError:
            return None
        user = getattr(result, "user", result)
        return user if isinstance(user, User) else None
    user = s.execute(sa.select(User).where(User.login == login)).scalar_one_or_none()
    if user is None or not user.active or not verify_password(user.password_hash, password):
        return None
    return user


@router.post("/login", response_class=HTMLResponse)
def login_submit(ctx: PageContext = Depends(page_context), form: FormData = Depends(posted_form)) -> Response:
    login = str(form.get("login") or "").strip()
    password = str(form.get("password") or "")
    with transaction(ctx.engine) as s:
        user = _authenticate(s, login, password)
    if user is None or user.id is None:
        return render(ctx, "login.html", status=401, next=_safe_next(form.get("next"), ""),
                      error=ctx.t("page.login.failed"), login=login)
    cookie, _session = sign_session(ctx.settings.secret_key, user.id, ctx.now)
    response = see_other(_safe_next(form.get("next"), f"{PREFIX}/"))
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
                        samesite="lax", secure=ctx.secure_cookies, path="/")
    return response


@router.post("/logout")
def logout(ctx: PageContext = Depends(signed_in), form: FormData = Depends(checked_form)) -> Response:
    response = see_other(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(ctx: PageContext = Depends(signed_in)) -> Response:
    assert ctx.user is not None
    return see_other(f"{PREFIX}/inbox" if ctx.user.role == "agency_staff" else f"{PREFIX}/work")


# --- my work --------------------------------------------------------------------------------------


def _task_rows(s: Session, ctx: PageContext, tasks: list[Task]) -> list[dict[str, Any]]:
    case_ids = {t.case_id for t in tasks}
    cases = {c.id: c for c in s.execute(sa.select(Case).where(Case.id.in_(case_ids))).scalars()} if case_ids else {}  # type: ignore[union-attr]
    child_ids = {c.child_id for c in cases.values()}
    children = (
        {c.id: c for c in s.execute(sa.select(Child).where(Child.id.in_(child_ids))).scalars()}  # type: ignore[union-attr]
        if child_ids else {}
    )
    rows = []
    for task in tasks:
        case = cases.get(task.case_id)
        child = children.get(case.child_id) if case else None
        css, words = due_status(task.due_at, ctx.now, ctx.lang)
        if task.referral_id is not None:
            what = ctx.t(f"page.refstate.{task.kind}") if task.kind else task.kind
            what = f"REF-{task.referral_id}: {what}"
            link = f"{PREFIX}/referrals/{task.referral_id}"
        else:
            what = _label(STEP_LABELS.get(task.kind), ctx.lang, task.kind)
            link = f"{PREFIX}/cases/{task.case_id}"
        agency_view = ctx.user is not None and ctx.user.role == "agency_staff"
        rows.append({
            "task": task, "case": case, "what": what, "link": link, "css": css, "status": words,
            "child": (initials(child.full_name) if agency_view else child.full_name) if child else "",
        })
    return rows


@router.get("/work", response_class=HTMLResponse)
def my_work(ctx: PageContext = Depends(signed_in)) -> Response:
    with transaction(ctx.engine) as s:
        rows = _task_rows(s, ctx, my_tasks(s, ctx.actor))
    return render(ctx, "work.html", rows=rows)


# --- children -------------------------------------------------------------------------------------


def _communes(s: Session, user: User) -> list[Unit]:
    return list(s.execute(
        sa.select(Unit).where(subtree_condition(Unit.code, user.unit_code), Unit.level == "commune")
        .order_by(Unit.name_vi).limit(500)
    ).scalars())


@router.get("/children", response_class=HTMLResponse)
def children_page(ctx: PageContext = Depends(signed_in), q: str = "") -> Response:
    assert ctx.user is not None
    if ctx.user.role not in CASE_ROLES:
        return not_found(ctx)
    results: list[dict[str, Any]] = []
    with transaction(ctx.engine) as s:
        if q.strip():
            found = search_children(s, q, within_unit=ctx.user.unit_code)
            ids = [c.id for c in found]
            cases: dict[int, list[Case]] = {}
            if ids:
                for case in s.execute(sa.select(Case).where(Case.child_id.in_(ids)).order_by(Case.id)).scalars():  # type: ignore[attr-defined]
                    cases.setdefault(case.child_id, []).append(case)
            results = [{"child": c, "cases": cases.get(c.id or 0, [])} for c in found]
    return render(ctx, "children.html", q=q, results=results, choices=CHILD_CHOICES)


def _choice_labels(ctx: PageContext, name: str) -> list[tuple[str, str]]:
    values, prefix = CHILD_CHOICES[name]
    return [(v, ctx.t(f"page.{prefix}.{v}")) for v in values]


def _register_form(ctx: PageContext, s: Session, form: dict[str, Any], **extra: Any) -> dict[str, Any]:
    assert ctx.user is not None
    return {
        "form": form, "communes": _communes(s, ctx.user),
        "choice": {name: _choice_labels(ctx, name) for name in CHILD_CHOICES}, **extra,
    }


@router.get("/children/new", response_class=HTMLResponse)
def register_page(ctx: PageContext = Depends(signed_in), name: str = "") -> Response:
    assert ctx.user is not None
    if ctx.user.role not in CASE_ROLES:
        return not_found(ctx)
    with transaction(ctx.engine) as s:
        values = _register_form(ctx, s, {"full_name": name, "disability_types": [], "urgency": "normal"})
    return render(ctx, "register.html", **values)


def _child_from_form(form: FormData) -> ChildCreate:
    guardian_name = str(form.get("guardian_name") or "").strip()
    guardians = []
    if guardian_name:
        guardians.append({"name": guardian_name, "relation": str(form.get("guardian_relation") or "parent").strip()
                          or "parent", "phone": str(form.get("guardian_phone") or "").strip() or None})
    born = parse_day(str(form.get("date_of_birth") or ""))
    return ChildCreate(
        full_name=str(form.get("full_name") or ""),
        date_of_birth=born,  # type: ignore[arg-type]  (None is refused by validation, as it should be)
        sex=str(form.get("sex") or ""),  # type: ignore[arg-type]
        commune_code=str(form.get("commune_code") or ""),
        guardians=guardians,  # type: ignore[arg-type]
        disability_types=[str(v) for v in form.getlist("disability_types")],  # type: ignore[arg-type]
        severity=str(form.get("severity") or ""),  # type: ignore[arg-type]
        household_status=(str(form.get("household_status")) or None) if form.get("household_status") else None,  # type: ignore[arg-type]
        personal_id=str(form.get("personal_id") or "").strip() or None,
    )


def _validation_messages(ctx: PageContext, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        out.append(f"{ctx.t('page.field.' + field) if field else ''}: {err['msg']}")
    return out


@router.post("/children", response_class=HTMLResponse)
def register_submit(ctx: PageContext = Depends(signed_in), form: FormData = Depends(checked_form)) -> Response:
    assert ctx.user is not None
    if ctx.user.role not in CASE_ROLES:
        return not_found(ctx)
    values = {k: form.get(k) for k in form.keys()}
    values["disability_types"] = form.getlist("disability_types")
    confirm = form.get("confirm_duplicate") == "1"
    try:
        data = _child_from_form(form)
        with transaction(ctx.engine) as s:
            if s.execute(sa.select(Unit.code).where(
                Unit.code == data.commune_code, subtree_condition(Unit.code, ctx.user.unit_code)
            )).first() is None:
                return not_found(ctx)
            child = register_child(s, data, ctx.actor, confirm_duplicate=confirm, now=ctx.now)
            assert child.id is not None
            case = open_case(s, child_id=child.id, actor=ctx.actor, source=str(form.get("source") or ""),
                             urgency=str(form.get("urgency") or "normal"),
                             note=str(form.get("note") or "").strip() or None, now=ctx.now)
            case_id = case.id
    except ValidationError as exc:
        with transaction(ctx.engine) as s:
            page = _register_form(ctx, s, values, errors=_validation_messages(ctx, exc))
        return render(ctx, "register.html", status=422, **page)
    except PossibleDuplicate as exc:
        with transaction(ctx.engine) as s:
            page = _register_form(ctx, s, values, errors=[exc.message(ctx.lang)], duplicates=exc.candidates)
        return render(ctx, "register.html", status=409, **page)
    except DomainError as exc:
        with transaction(ctx.engine) as s:
            page = _register_form(ctx, s, values, errors=[exc.message(ctx.lang)])
        return render(ctx, "register.html", status=exc.status, **page)
    return see_other(f"{PREFIX}/cases/{case_id}?done=1")


@router.post("/children/{child_id}/cases")
def open_case_submit(child_id: int, ctx: PageContext = Depends(signed_in),
                     form: FormData = Depends(checked_form)) -> Response:
    assert ctx.user is not None
    if ctx.user.role not in CASE_ROLES:
        return not_found(ctx)
    try:
        with transaction(ctx.engine) as s:
            child = s.execute(sa.select(Child).where(
                Child.id == child_id, subtree_condition(Child.commune_code, ctx.user.unit_code))).scalar_one_or_none()
            if child is None:
                return not_found(ctx)
            case = open_case(s, child_id=child_id, actor=ctx.actor, source=str(form.get("source") or ""),
                             urgency=str(form.get("urgency") or "normal"), now=ctx.now)
            case_id = case.id
    except DomainError as exc:
        return render(ctx, "message.html", status=exc.status, title=exc.title(ctx.lang), message=exc.message(ctx.lang))
    return see_other(f"{PREFIX}/cases/{case_id}?done=1")


# --- the case page --------------------------------------------------------------------------------


def _action_label(action: str, lang: str) -> str:
    machines = [CASE_MACHINE]
    referral_machine = optional("referrals.lifecycle", "REFERRAL_MACHINE")
    if referral_machine is not None:
        machines.append(referral_machine)
    for machine in machines:
        for tr in machine.transitions.values():
            if tr.action == action:
                return tr.label_vi if lang == "vi" else tr.label_en
    return _translated(f"page.event.{action}", lang, action)


def _translated(key: str, lang: str, fallback: str) -> str:
    from engine.i18n import translate

    text = translate(key, lang)
    return fallback if text == key else text


def _state_label(entity: str, state: str | None, lang: str) -> str:
    if state is None:
        return "—"
    if entity == "referral":
        labels = optional("referrals.lifecycle", "STATE_LABELS") or {}
        return _label(labels.get(state), lang, state)
    return _label(STEP_LABELS.get(state), lang, state)


def _field_view(ctx: PageContext, f: FieldSpec, services: list[ServiceType], domains: list[ServiceDomain],
                preset: list[str] | None = None) -> dict[str, Any]:
    if f.choices == SERVICES:
        options = [(sv.code, _name(sv, ctx.lang)) for sv in services]
    elif f.choices == DOMAINS:
        options = [(dm.code, _name(dm, ctx.lang)) for dm in domains]
    elif f.labels is not None:
        options = [(v, _label(f.labels.get(v), ctx.lang, v)) for v in f.choices]
    else:
        options = [(v, ctx.t(f"page.{f.prefix}.{v}")) for v in f.choices]
    return {"name": f.name, "kind": f.kind, "label": ctx.t(f"page.field.{f.name}"), "options": options,
            "required": f.required, "preset": preset or []}


def _deadline_rows(s: Session, ctx: PageContext, case: Case) -> list[dict[str, Any]]:
    """The case's open clocks (its own and its referrals') with the time left; open tasks' due times while
    the deadlines module does not offer them."""
    deadlines_of_case = optional("engine.deadlines", "deadlines_of_case")
    items: list[Any]
    if deadlines_of_case is not None:
        items = list(deadlines_of_case(s, case.id, ctx.now, include_referrals=True, open_only=True))
    else:
        items = list(s.execute(sa.select(Task).where(
            Task.case_id == case.id, Task.closed_at.is_(None), Task.due_at.is_not(None),  # type: ignore[union-attr]
        ).order_by(Task.due_at)).scalars())
    rows: list[dict[str, Any]] = []
    for item in items:
        key = getattr(item, "policy_key", None) or getattr(item, "kind", "")
        referral_id = getattr(item, "referral_id", None)
        label = _state_label("referral" if referral_id else "case", key.split(".", 1)[-1], ctx.lang)
        if referral_id:
            label = f"REF-{referral_id}: {label}"
        due_at = getattr(item, "due_at", None)
        css, words = due_status(due_at, ctx.now, ctx.lang)
        if getattr(item, "paused_at", None) is not None:
            css, words = "paused", ctx.t("page.time.paused")
        rows.append({"label": label, "due_at": due_at, "css": css, "status": words})
    return rows


def _referral_rows(s: Session, ctx: PageContext, case: Case) -> list[dict[str, Any]]:
    referrals_of_case = optional("referrals.services", "referrals_of_case")
    if referrals_of_case is not None:
        referrals = list(referrals_of_case(s, case.id))
    else:
        referrals = list(s.execute(
            sa.select(Referral).where(Referral.case_id == case.id).order_by(Referral.id)).scalars())
    machine = optional("referrals.lifecycle", "REFERRAL_MACHINE")
    rows = []
    for r in referrals:
        agency = s.get(Agency, r.agency_code)
        service = s.get(ServiceType, r.service_code)
        actions = []
        if machine is not None and ctx.user is not None:
            actions = [_referral_action_view(ctx, tr.action) for tr in machine.available(r.state, ctx.user.role)]
        rows.append({"r": r, "agency": _name(agency, ctx.lang) if agency else r.agency_code,
                     "service": _name(service, ctx.lang) if service else r.service_code,
                     "state": _state_label("referral", r.state, ctx.lang), "actions": actions,
                     "outcome": _outcome_label(r, ctx.lang)})
    return rows


def _outcome_label(r: Referral, lang: str) -> str:
    if r.outcome:
        labels = optional("referrals.lifecycle", "OUTCOME_LABELS") or {}
        return _label(labels.get(r.outcome), lang, r.outcome)
    if r.reason_code:
        labels = optional("referrals.lifecycle", "REASON_LABELS") or {}
        return _label(labels.get(r.reason_code), lang, r.reason_code)
    return ""


def _referral_action_view(ctx: PageContext, action: str) -> dict[str, Any]:
    return {"action": action, "label": _action_label(action, ctx.lang),
            "fields": [_field_view(ctx, f, [], []) for f in referral_form(action).fields]}


def _referral_proposals(
    s: Session, ctx: PageContext, case: Case, referrals: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For each planned service without an open or completed referral: the routing proposals with reasons."""
    proposals = optional("referrals.services", "proposals")
    if proposals is None or ctx.user is None or ctx.user.role not in CASE_ROLES or case.step != "in_care":
        return []
    planned = list((case.data.get("care_plan") or {}).get("services") or [])
    taken_states = ("draft", "requested", "accepted", "in_progress", "on_hold", "completed")
    taken = {row["r"].service_code for row in referrals if row["r"].state in taken_states}
    out = []
    for code in planned:
        service = s.get(ServiceType, code)
        if code in taken or service is None:
            continue
        out.append({"service": service, "label": _name(service, ctx.lang), "candidates": [
            {"code": c.agency_code, "name": c.name_vi if ctx.lang == "vi" else (c.name_en or c.name_vi),
             "reason": c.reason_vi if ctx.lang == "vi" else c.reason_en} for c in proposals(s, case, code)]})
    return out


def _timeline_entries(s: Session, ctx: PageContext, events: list[Any]) -> list[dict[str, Any]]:
    """Newest first, each with its action, states and who did it, in the reader's language."""
    actor_ids = {e.actor_id for e in events if e.actor_id}
    people: dict[int | None, str] = {}
    if actor_ids:
        users = s.execute(sa.select(User).where(User.id.in_(actor_ids))).scalars()  # type: ignore[union-attr]
        people = {u.id: u.full_name or u.login for u in users}
    entries = []
    for e in reversed(events):
        what = _action_label(e.action, ctx.lang)
        if e.referral_id:
            what += f" (REF-{e.referral_id})"
        entries.append({
            "at": e.at, "what": what, "from": _state_label(e.entity, e.from_state, ctx.lang),
            "to": _state_label(e.entity, e.to_state, ctx.lang),
            "who": people.get(e.actor_id, e.actor_role or "") if e.actor_id else (e.actor_role or ""),
            "reason": e.reason,
        })
    return entries


def render_case(ctx: PageContext, case_id: int, *, error: str | None = None, status: int = 200) -> Response:
    assert ctx.user is not None
    with transaction(ctx.engine) as s:
        case = _scoped_case(s, ctx.user, case_id)
        if case is None:
            return not_found(ctx)
        child = s.get(Child, case.child_id)
        assert child is not None and ctx.user.id is not None
        s.add(AccessLog(user_id=ctx.user.id, child_id=child.id or 0, at=ctx.now, action="read_page"))
        services = list(s.execute(sa.select(ServiceType).order_by(ServiceType.domain, ServiceType.code)).scalars())
        domains = list(s.execute(sa.select(ServiceDomain).order_by(ServiceDomain.code)).scalars())
        planned = list((case.data.get("needs_assessment") or {}).get("needs") or [])
        actions = []
        for tr in CASE_MACHINE.available(case.step, ctx.user.role):
            spec = case_form(tr)
            preset = planned if tr.action == "submit_plan" else None
            actions.append({"action": tr.action, "label": tr.label_vi if ctx.lang == "vi" else tr.label_en,
                            "fields": [_field_view(ctx, f, services, domains, preset) for f in spec.fields]})
        referrals = _referral_rows(s, ctx, case)
        proposals = _referral_proposals(s, ctx, case, referrals)
        consents = list(s.execute(sa.select(Consent).where(Consent.case_id == case.id).order_by(Consent.id)).scalars())
        entries = _timeline_entries(s, ctx, timeline(s, case.id or 0))
        deadlines = _deadline_rows(s, ctx, case)
        unit = s.get(Unit, case.unit_code)
    referrals_ready = optional("referrals.services", "create_referral") is not None
    return render(
        ctx, "case.html", status=status, case=case, child=child, actions=actions, referrals=referrals,
        proposals=proposals, consents=consents, timeline=entries, deadlines=deadlines, error=error,
        stage=_label(STAGE_LABELS.get(case.stage), ctx.lang, case.stage),
        step=_label(STEP_LABELS.get(case.step), ctx.lang, case.step), unit=_name(unit, ctx.lang) if unit else "",
        done=ctx.request.query_params.get("done") == "1", referrals_ready=referrals_ready,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: int, ctx: PageContext = Depends(signed_in)) -> Response:
    return render_case(ctx, case_id)


@router.post("/cases/{case_id}/actions/{action}", response_class=HTMLResponse)
def case_action(case_id: int, action: str, ctx: PageContext = Depends(signed_in),
                form: FormData = Depends(checked_form)) -> Response:
    assert ctx.user is not None
    try:
        version = int(str(form.get("version") or "0"))
    except ValueError:
        version = 0
    try:
        with transaction(ctx.engine) as s:
            case = _scoped_case(s, ctx.user, case_id)
            if case is None:
                return not_found(ctx)
            tr = CASE_MACHINE.transitions.get((case.step, action))
            payload = payload_from_form(case_form(tr), form) if tr is not None else {}
            transition_case(s, case_id, action, ctx.actor, version, payload, now=ctx.now)
    except DomainError as exc:
        return render_case(ctx, case_id, error=exc.message(ctx.lang), status=exc.status)
    return see_other(f"{PREFIX}/cases/{case_id}?done=1")


@router.post("/cases/{case_id}/referrals", response_class=HTMLResponse)
def create_referral_submit(case_id: int, ctx: PageContext = Depends(signed_in),
                           form: FormData = Depends(checked_form)) -> Response:
    assert ctx.user is not None
    create_referral = optional("referrals.services", "create_referral")
    if create_referral is None:
        return not_found(ctx)
    try:
        with transaction(ctx.engine) as s:
            if _scoped_case(s, ctx.user, case_id) is None:
                return not_found(ctx)
            create_referral(
                s, case_id=case_id, service_code=str(form.get("service_code") or ""), actor=ctx.actor,
                agency_code=str(form.get("agency_code") or "") or None,
                override_reason=str(form.get("override_reason") or "").strip() or None, now=ctx.now,
            )
    except DomainError as exc:
        return render_case(ctx, case_id, error=exc.message(ctx.lang), status=exc.status)
    return see_other(f"{PREFIX}/cases/{case_id}?done=1")


# --- referrals (agency staff) ---------------------------------------------------------------------


def render_referral(ctx: PageContext, referral_id: int, *, error: str | None = None, status: int = 200) -> Response:
    assert ctx.user is not None
    machine = optional("referrals.lifecycle", "REFERRAL_MACHINE")
    with transaction(ctx.engine) as s:
        referral = _scoped_referral(s, ctx.user, referral_id)
        if referral is None:
            return not_found(ctx)
        case = s.get(Case, referral.case_id)
        child = s.get(Child, case.child_id) if case else None
        agency = s.get(Agency, referral.agency_code)
        service = s.get(ServiceType, referral.service_code)
        actions = ([_referral_action_view(ctx, tr.action) for tr in machine.available(referral.state, ctx.user.role)]
                   if machine is not None else [])
        events = [e for e in timeline(s, referral.case_id) if e.referral_id == referral.id]
        entries = _timeline_entries(s, ctx, events)
        due = []
        deadlines_of_referral = optional("engine.deadlines", "deadlines_of_referral")
        if deadlines_of_referral is not None:
            for view in deadlines_of_referral(s, referral.id, ctx.now, open_only=True):
                css, words = due_status(view.due_at, ctx.now, ctx.lang)
                if view.paused_at is not None:
                    css, words = "paused", ctx.t("page.time.paused")
                due.append({"css": css, "status": words, "due_at": view.due_at})
    return render(
        ctx, "referral.html", status=status, referral=referral, case=case, actions=actions, timeline=entries,
        child_initials=initials(child.full_name) if child else "", due=due, error=error,
        agency=_name(agency, ctx.lang) if agency else referral.agency_code,
        service=_name(service, ctx.lang) if service else referral.service_code,
        state=_state_label("referral", referral.state, ctx.lang), outcome=_outcome_label(referral, ctx.lang),
        done=ctx.request.query_params.get("done") == "1",
    )


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(referral_id: int, ctx: PageContext = Depends(signed_in)) -> Response:
    return render_referral(ctx, referral_id)


@router.post("/referrals/{referral_id}/actions/{action}", response_class=HTMLResponse)
def referral_action(referral_id: int, action: str, ctx: PageContext = Depends(signed_in),
                    form: FormData = Depends(checked_form)) -> Response:
    assert ctx.user is not None
    transition_referral = optional("referrals.services", "transition_referral")
    if transition_referral is None:
        return not_found(ctx)
    back = _safe_next(form.get("next"), f"{PREFIX}/referrals/{referral_id}")
    try:
        version = int(str(form.get("version") or "0"))
    except ValueError:
        version = 0
    spec = referral_form(action)
    try:
        with transaction(ctx.engine) as s:
            if _scoped_referral(s, ctx.user, referral_id) is None:
                return not_found(ctx)
            transition_referral(s, referral_id, action, ctx.actor, version, payload_from_form(spec, form), now=ctx.now)
    except DomainError as exc:
        if back.startswith(f"{PREFIX}/cases/"):
            case_id = int(back.split("/")[3].split("?")[0])
            return render_case(ctx, case_id, error=exc.message(ctx.lang), status=exc.status)
        return render_referral(ctx, referral_id, error=exc.message(ctx.lang), status=exc.status)
    return see_other(back.split("?")[0] + "?done=1")


@router.get("/inbox", response_class=HTMLResponse)
def inbox(ctx: PageContext = Depends(signed_in)) -> Response:
    assert ctx.user is not None
    if ctx.user.role != "agency_staff" or not ctx.user.agency_code:
        return not_found(ctx)
    agency_inbox = optional("referrals.services", "agency_inbox")
    with transaction(ctx.engine) as s:
        agency = s.get(Agency, ctx.user.agency_code)
        if agency_inbox is not None:
            referrals = list(agency_inbox(s, ctx.user.agency_code))
        else:
            referrals = list(s.execute(sa.select(Referral).where(
                Referral.agency_code == ctx.user.agency_code,
                Referral.state.in_(("requested", "accepted", "in_progress", "on_hold")),  # type: ignore[attr-defined]
            ).order_by(Referral.id)).scalars())
        rows = []
        for r in referrals:
            case = s.get(Case, r.case_id)
            child = s.get(Child, case.child_id) if case else None
            service = s.get(ServiceType, r.service_code)
            task = s.execute(sa.select(Task).where(Task.referral_id == r.id, Task.closed_at.is_(None))
                             .order_by(Task.due_at)).scalars().first()
            css, words = due_status(task.due_at if task else None, ctx.now, ctx.lang)
            rows.append({"r": r, "case": case, "child": initials(child.full_name) if child else "",
                         "service": _name(service, ctx.lang) if service else r.service_code,
                         "state": _state_label("referral", r.state, ctx.lang), "css": css, "status": words,
                         "due_at": task.due_at if task else None})
        due_rows = [row for row in _task_rows(s, ctx, my_tasks(s, ctx.actor)) if row["css"] in ("overdue", "soon")]
    return render(ctx, "inbox.html", rows=rows, due_rows=due_rows, agency=_name(agency, ctx.lang) if agency else "")


# --- supervisor -----------------------------------------------------------------------------------


@router.get("/approvals", response_class=HTMLResponse)
def approvals(ctx: PageContext = Depends(signed_in)) -> Response:
    assert ctx.user is not None
    if ctx.user.role not in SUPERVISOR_ROLES:
        return not_found(ctx)
    with transaction(ctx.engine) as s:
        tasks = [t for t in my_tasks(s, ctx.actor) if t.kind in APPROVAL_STEPS and t.owner_role == "supervisor"]
        rows = _task_rows(s, ctx, tasks)
    return render(ctx, "approvals.html", rows=rows)


def _as_of(ctx: PageContext, text: str | None) -> datetime:
    """The end of the chosen day in the province's time zone (default: now)."""
    day = parse_day(text)
    if day is None:
        return ctx.now
    end = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(ctx.settings.timezone))
    return end.astimezone(UTC)


def _plain(value: Any) -> Any:
    """Dataclasses / pydantic models / rows from supervision as plain dicts for the template."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    if hasattr(value, "_asdict"):
        return value._asdict()
    return value


@router.get("/overdue", response_class=HTMLResponse)
def overdue_dashboard(ctx: PageContext = Depends(signed_in), as_of: str = "", agency: str = "", unit: str = "",
                      bucket: str = "") -> Response:
    """Roll-ups by agency and unit in aging buckets; a row opens the drill-down with each item's escalations."""
    assert ctx.user is not None
    if ctx.user.role not in SUPERVISOR_ROLES:
        return not_found(ctx)
    overdue_audit = optional("supervision.overdue", "overdue_audit")
    overdue_items = optional("supervision.overdue", "overdue_items")
    buckets = [b for b, _, _ in (optional("supervision.overdue", "BUCKETS") or ())]
    when = _as_of(ctx, as_of)
    audit: Any = None
    items: list[dict[str, Any]] = []
    error = None
    if overdue_audit is not None and overdue_items is not None:
        try:
            with transaction(ctx.engine) as s:
                audit = overdue_audit(s, within_unit=ctx.user.unit_code, as_of=when, group_by=("agency", "unit"),
                                      tz=ctx.settings.timezone)
                found = overdue_items(s, within_unit=ctx.user.unit_code, as_of=when, agency=agency or None,
                                      unit=unit or None, bucket=bucket if bucket in buckets else None,
                                      tz=ctx.settings.timezone)
                items = _overdue_rows(s, ctx, found, when)
        except DomainError as exc:
            error = exc.message(ctx.lang)
    return render(ctx, "overdue.html", audit=audit, items=items, buckets=buckets, as_of=when, as_of_text=as_of,
                  agency_filter=agency, unit_filter=unit, bucket_filter=bucket, error=error,
                  ready=overdue_audit is not None, done=ctx.request.query_params.get("done") == "1",
                  query=lambda **kw: urlencode({k: v for k, v in {"as_of": as_of, **kw}.items() if v}))


def _audience(ctx: PageContext, audience: str) -> str:
    """'owner+caseworker' → 'người phụ trách, cán bộ quản lý trường hợp'."""
    return ", ".join(_translated(f"page.audience.{part}", ctx.lang, part) for part in audience.split("+"))


def _overdue_rows(s: Session, ctx: PageContext, found: list[Any], when: datetime) -> list[dict[str, Any]]:
    ids = [item.deadline_id for item in found]
    fired: dict[int, list[Escalation]] = {}
    if ids:
        for esc in s.execute(sa.select(Escalation).where(
            Escalation.deadline_id.in_(ids), Escalation.fired_at <= when  # type: ignore[attr-defined]
        ).order_by(Escalation.deadline_id, Escalation.rung)).scalars():
            fired.setdefault(esc.deadline_id, []).append(esc)
    audit_notes = optional("supervision.overdue", "audit_notes")
    rows = []
    for item in found:
        agency = s.get(Agency, item.agency_code) if item.agency_code else None
        unit = s.get(Unit, item.unit_code)
        notes = audit_notes(s, case_id=item.case_id, referral_id=item.referral_id) if audit_notes else []
        if item.referral_id is None:
            notes = [n for n in notes if n.referral_id is None]
        what = _state_label("referral" if item.referral_id else "case", item.policy_key.split(".", 1)[-1], ctx.lang)
        escalations = [
            ctx.t("page.overdue.rung", rung=e.rung, audience=_audience(ctx, e.audience),
                  action=_translated(f"page.rung.{e.action}", ctx.lang, e.action))
            + " · " + fmt_datetime(e.fired_at, ctx.settings.timezone)
            for e in fired.get(item.deadline_id, [])
        ]
        rows.append({
            "item": item, "what": what, "unit": _name(unit, ctx.lang) if unit else item.unit_code,
            "agency": _name(agency, ctx.lang) if agency else ctx.t("page.overdue.case_steps"),
            "late": ctx.t("page.overdue.days_late", n=item.days_late), "escalations": escalations,
            "notes": [{"at": n.at, "reason_found": n.payload.get("reason_found"),
                       "action_taken": n.payload.get("action_taken"),
                       "follow_up": fmt_date(parse_day(n.payload.get("follow_up_date")))}
                      for n in notes],
        })
    return rows


@router.post("/overdue/notes", response_class=HTMLResponse)
def overdue_note(ctx: PageContext = Depends(signed_in), form: FormData = Depends(checked_form)) -> Response:
    assert ctx.user is not None
    if ctx.user.role not in SUPERVISOR_ROLES:
        return not_found(ctx)
    record_audit_note = optional("supervision.overdue", "record_audit_note")
    if record_audit_note is None:
        return not_found(ctx)
    try:
        deadline_id = int(str(form.get("deadline_id") or ""))
    except ValueError:
        return not_found(ctx)
    follow_up = parse_day(str(form.get("follow_up_date") or ""))
    back = {k: str(form.get(k) or "") for k in ("as_of", "agency", "unit", "bucket") if form.get(k)}
    try:
        with transaction(ctx.engine) as s:
            record_audit_note(
                s, actor=ctx.actor, deadline_id=deadline_id, reason_found=str(form.get("reason_found") or ""),
                action_taken=str(form.get("action_taken") or ""), follow_up_date=follow_up, now=ctx.now,
                tz=ctx.settings.timezone,
            )
    except DomainError as exc:
        return render(ctx, "message.html", status=exc.status, title=exc.title(ctx.lang), message=exc.message(ctx.lang))
    return see_other(f"{PREFIX}/overdue?{urlencode({**back, 'done': '1'})}")


def _default_period(now: datetime) -> str:
    return str(now.year)


@router.get("/indicators", response_class=HTMLResponse)
def indicators_page(ctx: PageContext = Depends(signed_in), period: str = "") -> Response:
    assert ctx.user is not None
    if ctx.user.role not in SUPERVISOR_ROLES:
        return not_found(ctx)
    compute = optional("supervision.indicators", "compute_indicators")
    period = period.strip() or _default_period(ctx.now)
    report: Any = None
    chart = ""
    rows: list[dict[str, Any]] = []
    error = None
    if compute is not None:
        try:
            with transaction(ctx.engine) as s:
                report = compute(s, unit_code=ctx.user.unit_code, period=period)
        except DomainError as exc:
            error = exc.message(ctx.lang)
        if report is not None:
            rows = [_indicator_row(ctx, item) for item in _indicator_items(report)]
            chart = bar_chart([Bar(r["label"], r["value"], r["target"]) for r in rows],
                              title=ctx.t("page.indicators.title"), value_label=ctx.t("page.indicators.value"),
                              target_label=ctx.t("page.indicators.target"))
    return render(ctx, "indicators.html", ready=compute is not None, period=period, rows=rows, chart=chart,
                  error=error)


def _indicator_items(report: Any) -> list[Any]:
    for name in ("indicators", "items", "rows"):
        items = getattr(report, name, None)
        if items is None and isinstance(report, dict):
            items = report.get(name)
        if items is not None:
            return list(items.values()) if isinstance(items, dict) else list(items)
    return []


def _get(item: Any, *names: str) -> Any:
    for name in names:
        value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def _percent(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number * 100 if number <= 1.0 else number


def _indicator_row(ctx: PageContext, item: Any) -> dict[str, Any]:
    numerator = _get(item, "numerator")
    denominator = _get(item, "denominator")
    value = _percent(_get(item, "percent", "value", "share", "rate"))
    if value is None and numerator is not None and denominator:
        value = float(numerator) / float(denominator) * 100
    label = _get(item, f"name_{ctx.lang}", f"label_{ctx.lang}", "name", "label", "code", "key") or ""
    return {"label": str(label), "numerator": numerator, "denominator": denominator, "value": value,
            "target": _percent(_get(item, "target", "target_percent"))}


@router.get("/reports", response_class=HTMLResponse)
def reports_page(ctx: PageContext = Depends(signed_in), period: str = "") -> Response:
    assert ctx.user is not None
    if ctx.user.role not in SUPERVISOR_ROLES:
        return not_found(ctx)
    formats = [f for f in ("xlsx", "csv", "json") if optional("supervision.reports", f"write_{f}") is not None]
    return render(ctx, "reports.html", period=period.strip() or _default_period(ctx.now), formats=formats)


MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


@router.get("/reports/download")
def report_download(ctx: PageContext = Depends(signed_in), period: str = "", format: str = "xlsx") -> Response:
    assert ctx.user is not None
    if ctx.user.role not in SUPERVISOR_ROLES or format not in MEDIA_TYPES:
        return not_found(ctx)
    compute = optional("supervision.indicators", "compute_indicators")
    writer = optional("supervision.reports", f"write_{format}")
    if compute is None or writer is None:
        return not_found(ctx)
    import tempfile

    period = period.strip() or _default_period(ctx.now)
    try:
        with transaction(ctx.engine) as s:
            report = compute(s, unit_code=ctx.user.unit_code, period=period)
    except DomainError as exc:
        return render(ctx, "message.html", status=exc.status, title=exc.title(ctx.lang), message=exc.message(ctx.lang))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"ketnoi-{ctx.user.unit_code}-{period}.{format}"
        result = writer(report, path)
        written = Path(result) if isinstance(result, (str, Path)) else path
        body = written.read_bytes()
    filename = f"ketnoi-{ctx.user.unit_code}-{period}.{format}"
    return Response(body, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- anything else under the prefix ---------------------------------------------------------------


@router.get("/{anything:path}", response_class=HTMLResponse)
def unknown_page(anything: str, ctx: PageContext = Depends(page_context)) -> Response:
    return not_found(ctx)


__all__ = ["router", "PREFIX", "date", "timedelta"]
