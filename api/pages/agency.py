"""Agency staff pages: the incoming referrals inbox and the referral page with its actions.

Agency staff see only referrals addressed to their agency (api.scope), and of the child only initials.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col
from starlette.datastructures import FormData

from api.pages.casework import referral_action_view, render_case, task_rows, timeline_entries
from api.pages.common import (
    DELIVERY_ROWS,
    PREFIX,
    PageRoute,
    checked_form,
    clock_name,
    delivery_rows,
    form_int,
    name_of,
    outcome_label,
    render,
    roles,
    safe_next,
    scoped_referral,
    see_other,
    signed_in,
    state_label,
)
from api.pages.context import PageContext
from api.pages.fmt import due_status
from api.pages.forms import payload_from_form, referral_form
from api.schemas import RecordId  # bounded: a larger number names no record (not found, not a 500)
from api.scope import record_reads
from engine.audit import timeline
from engine.db import transaction
from engine.deadlines import deadlines_of_referral
from engine.errors import DomainError
from engine.models import Agency, Case, Child, ServiceType, Task
from engine.tasks import my_tasks
from engine.text import initials
from notifications.log import delivery_log_for_agency
from referrals.lifecycle import REFERRAL_MACHINE
from referrals.services import agency_inbox, transition_referral

router = APIRouter(route_class=PageRoute)
agency_staff = roles("agency_staff")


def render_referral(ctx: PageContext, referral_id: int, *, error: str | None = None, status: int = 200) -> Response:
    assert ctx.user is not None
    with transaction(ctx.engine) as s:
        referral = scoped_referral(s, ctx, referral_id)
        case = s.get(Case, referral.case_id)
        assert case is not None
        child = s.get(Child, case.child_id)
        # a read of the child's record, as GET /api/v1/referrals/{id} logs it
        record_reads(s, ctx.actor, [child.id if child else None], "read_referral")
        agency = s.get(Agency, referral.agency_code)
        service = s.get(ServiceType, referral.service_code)
        due = []
        for view in deadlines_of_referral(s, referral_id, ctx.now, open_only=True):
            css, words = due_status(view.due_at, ctx.now, ctx.lang)
            if view.paused_at is not None:
                css, words = "paused", ctx.t("page.time.paused")
            due.append({"css": css, "status": words, "due_at": view.due_at,
                        "label": clock_name(view.policy_key, ctx.lang)})
        values: dict[str, Any] = {
            "referral": referral, "case": case, "child_initials": initials(child.full_name) if child else "",
            "agency": name_of(agency, ctx.lang) if agency else referral.agency_code,
            "service": name_of(service, ctx.lang) if service else referral.service_code,
            "state": state_label("referral", referral.state, ctx.lang), "outcome": outcome_label(referral, ctx.lang),
            "actions": [referral_action_view(ctx, tr.action)
                        for tr in REFERRAL_MACHINE.available(referral.state, ctx.user.role)],
            "timeline": timeline_entries(s, ctx, [e for e in timeline(s, case.id or 0)
                                                  if e.referral_id == referral.id and e.entity == "referral"]),
            "due": due,
        }
    return render(ctx, "referral.html", status=status, error=error, **values)


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(referral_id: RecordId, ctx: PageContext = Depends(signed_in)) -> Response:
    return render_referral(ctx, referral_id)


@router.post("/referrals/{referral_id}/actions/{action}", response_class=HTMLResponse)
def referral_action(referral_id: RecordId, action: str, ctx: PageContext = Depends(signed_in),
                    form: FormData = Depends(checked_form)) -> Response:
    """Accept, reject, start, hold, resume, complete, fail (the agency) or cancel (the sender)."""
    back = safe_next(form.get("next"), f"{PREFIX}/referrals/{referral_id}").split("?")[0]
    try:
        with transaction(ctx.engine) as s:
            scoped_referral(s, ctx, referral_id)
            transition_referral(s, referral_id, action, ctx.actor, form_int(form, "version"),
                                payload_from_form(referral_form(action), form), now=ctx.now)
    except DomainError as exc:
        parts = back.split("/")
        if back.startswith(f"{PREFIX}/cases/") and len(parts) > 3 and parts[3].isdigit():
            return render_case(ctx, int(parts[3]), error=exc.message(ctx.lang), status=exc.status)
        return render_referral(ctx, referral_id, error=exc.message(ctx.lang), status=exc.status)
    return see_other(f"{back}?done=1")


@router.get("/inbox", response_class=HTMLResponse)
def inbox(ctx: PageContext = Depends(agency_staff)) -> Response:
    """The agency's open referrals, with how long each has left, and its tasks that are due or late."""
    assert ctx.user is not None and ctx.user.agency_code is not None
    with transaction(ctx.engine) as s:
        agency = s.get(Agency, ctx.user.agency_code)
        referrals = agency_inbox(s, ctx.user.agency_code)
        ids = [r.id for r in referrals]
        due_by_referral: dict[int | None, Any] = {}
        if ids:
            stmt = sa.select(Task).where(Task.referral_id.in_(ids), Task.closed_at.is_(None))  # type: ignore[union-attr]
            for task in s.execute(stmt.order_by(col(Task.due_at))).scalars():
                due_by_referral.setdefault(task.referral_id, task.due_at)
        rows = []
        for r in referrals:
            case = s.get(Case, r.case_id)
            child = s.get(Child, case.child_id) if case else None
            service = s.get(ServiceType, r.service_code)
            css, words = due_status(due_by_referral.get(r.id), ctx.now, ctx.lang)
            record_reads(s, ctx.actor, [child.id if child else None], "list_referrals")
            rows.append({"r": r, "case": case, "child": initials(child.full_name) if child else "",
                         "service": name_of(service, ctx.lang) if service else r.service_code,
                         "state": state_label("referral", r.state, ctx.lang), "css": css, "status": words})
        due_rows = [row for row in task_rows(s, ctx, my_tasks(s, ctx.actor)) if row["css"] in ("overdue", "soon")]
        deliveries = delivery_rows(s, ctx.lang, delivery_log_for_agency(
            s, ctx.user.agency_code, limit=DELIVERY_ROWS, addressed_only=True))
    return render(ctx, "inbox.html", rows=rows, due_rows=due_rows, deliveries=deliveries,
                  agency=name_of(agency, ctx.lang) if agency else "")
