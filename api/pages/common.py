"""What every page shares: the route class, rendering, sign-in and CSRF dependencies, scope, labels.

Refusals that end a request early (not signed in, a bad CSRF token, a record outside the user's scope) are
raised as ``PageRefusal`` carrying the page to show; ``PageRoute`` turns them into that response, so a browser
always gets an HTML page in the reader's language (never a JSON error).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlmodel import Session, col
from starlette.datastructures import FormData

from api.pages import catalogue  # noqa: F401  (registers the page strings)
from api.pages.context import PageContext, page_context
from api.pages.fmt import fmt_date, fmt_datetime, fmt_number, fmt_percent
from api.pages.security import LANGUAGE_COOKIE, csrf_matches
from api.scope import case_condition, referral_condition
from engine.i18n import translate
from engine.models import Agency, Case, Referral, Unit, User
from engine.states import CASE_MACHINE, STEP_LABELS
from engine.users import actor_of
from notifications.log import DeliveryLogEntry
from referrals.clocks import clock_label
from referrals.lifecycle import CANCEL_REASON_LABELS, OUTCOME_LABELS, REASON_LABELS, REFERRAL_MACHINE, STATE_LABELS

PREFIX = "/app"
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(PREFIX=PREFIX)

CASE_ROLES = ("caseworker", "supervisor")
SUPERVISOR_ROLES = ("supervisor", "admin")


class PageRefusal(Exception):
    """Stop handling a request and answer with this page (or redirect)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PageRoute(APIRoute):
    """Routes whose dependencies and handlers may raise ``PageRefusal``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except PageRefusal as refusal:
                return refusal.response
            except RequestValidationError:
                # an address with a malformed part (/app/cases/abc) names nothing: the not-found page, not JSON
                return render(page_context(request), "not_found.html", status=404)

        return handler


# --- rendering ------------------------------------------------------------------------------------


def render(ctx: PageContext, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    tz = ctx.settings.timezone
    page: dict[str, Any] = {
        "ctx": ctx, "t": ctx.t, "lang": ctx.lang, "user": ctx.user, "now": ctx.now,
        "csrf": ctx.session.csrf if ctx.session else "",
        "d": lambda v: fmt_date(v, tz), "dt": lambda v: fmt_datetime(v, tz),
        "pct": lambda v, n=1: fmt_percent(v, ctx.lang, n), "num": lambda v: fmt_number(v, ctx.lang),
        "lang_switch_url": _lang_switch_url(ctx), "done": ctx.request.query_params.get("done") == "1",
        # the form this request posted, if any, and where to: the page shows that form again as it was filled
        "posted": getattr(ctx.request.state, "posted", None), "posted_to": ctx.request.url.path,
    }
    page.update(values)
    response = templates.TemplateResponse(ctx.request, template, page, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if ctx.lang_from_query:
        response.set_cookie(LANGUAGE_COOKIE, ctx.lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                            secure=ctx.secure_cookies)
    return response


def _lang_switch_url(ctx: PageContext) -> str:
    """This page in the other language. A page answering a form (a POST) has no address of its own: the link
    goes back to the page the form was on (its Referer, when it is one of ours), else to the start page."""
    path, query = ctx.request.url.path, ctx.request.url.query
    if ctx.request.method != "GET":
        referer = urlsplit(ctx.request.headers.get("referer", ""))
        ours = referer.netloc == ctx.request.url.netloc and referer.path.startswith(PREFIX + "/")
        path, query = (referer.path, referer.query) if ours else (PREFIX + "/", "")
    params = {k: v for k, v in parse_qsl(query) if k not in ("done", "lang")}
    params["lang"] = "en" if ctx.lang == "vi" else "vi"
    return f"{path}?{urlencode(params)}"


def not_found(ctx: PageContext) -> PageRefusal:
    """Absent and out of scope look the same: the not-found page."""
    return PageRefusal(render(ctx, "not_found.html", status=404))


def message_page(ctx: PageContext, status: int, title: str, message: str) -> HTMLResponse:
    return render(ctx, "message.html", status=status, title=title, message=message)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- who may come in ------------------------------------------------------------------------------


def signed_in(ctx: PageContext = Depends(page_context)) -> PageContext:
    if ctx.user is None:
        raise PageRefusal(see_other(f"{PREFIX}/login?{urlencode({'next': ctx.request.url.path})}"))
    return ctx


def roles(*allowed: str) -> Callable[[PageContext], PageContext]:
    """A dependency: signed in with one of these roles; anyone else gets the not-found page."""

    def dependency(ctx: PageContext = Depends(signed_in)) -> PageContext:
        assert ctx.user is not None
        if ctx.user.role not in allowed:
            raise not_found(ctx)
        return ctx

    return dependency


async def posted_form(request: Request) -> FormData:
    return await request.form()


def checked_form(ctx: PageContext = Depends(signed_in), form: FormData = Depends(posted_form)) -> FormData:
    """Every POST of a signed-in page must carry the session's CSRF token."""
    if not csrf_matches(ctx.session, str(form.get("csrf") or "")):
        raise PageRefusal(message_page(ctx, 403, ctx.t("page.error.title"), ctx.t("page.csrf_failed")))
    ctx.request.state.posted = form  # a refused form is shown again with what was typed (see render)
    return form


def safe_next(value: Any, default: str) -> str:
    """Only this site's pages are places to go back to (no open redirect)."""
    text = str(value or "")
    ok = text.startswith(PREFIX + "/") and "//" not in text and "\\" not in text and "\r" not in text
    return text if ok and "\n" not in text else default


def form_text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def form_int(form: FormData, name: str) -> int:
    try:
        return int(form_text(form, name))
    except ValueError:
        return 0


# --- scope: the API's rules (api.scope) -----------------------------------------------------------


def scoped_case(s: Session, ctx: PageContext, case_id: int) -> Case:
    assert ctx.user is not None
    stmt = sa.select(Case).where(col(Case.id) == case_id, case_condition(actor_of(ctx.user)))
    case = s.execute(stmt).scalar_one_or_none()
    if case is None:
        raise not_found(ctx)
    return case


def scoped_referral(s: Session, ctx: PageContext, referral_id: int) -> Referral:
    assert ctx.user is not None
    referral = s.execute(
        sa.select(Referral).where(col(Referral.id) == referral_id, referral_condition(actor_of(ctx.user)))
    ).scalar_one_or_none()
    if referral is None:
        raise not_found(ctx)
    return referral


# --- labels ---------------------------------------------------------------------------------------


def pick(pair: tuple[str, str] | None, lang: str, fallback: str) -> str:
    if pair is None:
        return fallback
    return pair[0] if lang == "vi" else pair[1]


def name_of(row: Any, lang: str) -> str:
    """A reference row's name in the reader's language (Vietnamese when there is no English)."""
    return str(row.name_vi if lang == "vi" or not getattr(row, "name_en", "") else row.name_en)


def translated(key: str, lang: str, fallback: str) -> str:
    text = translate(key, lang)
    return fallback if text == key else text


def action_label(action: str, lang: str) -> str:
    for machine in (CASE_MACHINE, REFERRAL_MACHINE):
        for tr in machine.transitions.values():
            if tr.action == action:
                return tr.label_vi if lang == "vi" else tr.label_en
    return translated(f"page.event.{action}", lang, action)


def state_label(entity: str, state: str | None, lang: str) -> str:
    if state is None:
        return "—"
    if entity == "referral":
        return pick(STATE_LABELS.get(state), lang, state)
    return pick(STEP_LABELS.get(state), lang, state)


def clock_name(policy_key: str, lang: str) -> str:
    """What a deadline waits for, by its policy key (``case.reported.urgent``: the step, urgent)."""
    return pick(clock_label(policy_key), lang, policy_key)


def task_label(kind: str, referral: bool, lang: str) -> str:
    """What a task asks for: a step, a referral state, or another kind of work (refer again, follow up)."""
    special = translated(f"page.task.{kind}", lang, "")
    if special:
        return special
    return state_label("referral" if referral else "case", kind, lang)


def outcome_label(referral: Referral, lang: str) -> str:
    if referral.outcome:
        return pick(OUTCOME_LABELS.get(referral.outcome), lang, referral.outcome)
    if referral.reason_code in REASON_LABELS:
        return pick(REASON_LABELS[referral.reason_code], lang, referral.reason_code)
    if referral.reason_code in CANCEL_REASON_LABELS:  # a coded cancellation (consent withdrawn)
        return pick(CANCEL_REASON_LABELS[referral.reason_code], lang, referral.reason_code)
    return ""


def reason_label(reason: str | None, lang: str) -> str | None:
    """A reason given as a code (no_capacity, goals_met...) in words; free text stays as written."""
    if not reason:
        return reason
    code, sep, text = reason.partition(": ")
    if sep and (code in REASON_LABELS or translated(f"page.reason.{code}", lang, "")):
        return f"{reason_label(code, lang)}: {text}"  # a coded reason with its explanation (e.g. "other: ...")
    if reason in REASON_LABELS:
        return pick(REASON_LABELS[reason], lang, reason)
    return translated(f"page.reason.{reason}", lang, reason)


def unit_names(s: Session, codes: set[str], lang: str) -> dict[str, str]:
    """Units' names in the reader's language, by code."""
    if not codes:
        return {}
    return {u.code: name_of(u, lang) for u in s.execute(sa.select(Unit).where(col(Unit.code).in_(codes))).scalars()}


def user_names(s: Session, ids: set[int | None]) -> dict[int | None, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    users = s.execute(sa.select(User).where(User.id.in_(wanted))).scalars()  # type: ignore[union-attr]
    return {u.id: u.full_name or u.login for u in users}


DELIVERY_ROWS = 50  # the newest notifications a page shows (the API pages further)


def delivery_rows(s: Session, lang: str, entries: list[DeliveryLogEntry]) -> list[dict[str, Any]]:
    """The delivery log in the reader's language: what, to whom (named), its state, and each try."""
    users = user_names(s, {int(e.recipient_ref) for e in entries
                           if e.recipient_kind == "user" and e.recipient_ref.isdigit()})
    codes = {e.recipient_ref for e in entries if e.recipient_kind == "agency"}
    units = {e.recipient_ref.split(":", 1)[0] for e in entries if e.recipient_kind == "unit_role"}
    agencies = {a.code: name_of(a, lang) for a in s.execute(sa.select(Agency).where(col(Agency.code).in_(codes)))
                .scalars()} if codes else {}
    places = unit_names(s, units, lang)
    rows = []
    for e in entries:
        if e.recipient_kind == "agency":
            to = agencies.get(e.recipient_ref, e.recipient_ref)
        elif e.recipient_kind == "user":
            to = users.get(int(e.recipient_ref), e.recipient_ref) if e.recipient_ref.isdigit() else e.recipient_ref
        else:
            unit, _, role = e.recipient_ref.partition(":")
            to = f"{places.get(unit, unit)} · {translated(f'page.role.{role}', lang, role)}"
        failed = e.status == "dead" or (e.status != "delivered" and any(not t.ok for t in e.tries))
        rows.append({
            "at": e.created_at, "what": translated(f"page.notice.{e.template}", lang, e.template), "to": to,
            "status": translated(f"page.delivery.status.{e.status}", lang, e.status),
            "css": "ok" if e.status in ("delivered", "digested") else "overdue" if failed else "",
            "retry": e.status == "pending" and e.attempts > 0,
            "error": None if any(t.error for t in e.tries) else e.last_error,  # else each try says it
            "tries": e.tries, "referral_id": e.referral_id,
        })
    return rows
