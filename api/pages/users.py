"""Administrator pages: the users of the administrator's area, adding one, and one user's page with their
administration trail and the acts on them (deactivate, reactivate, reset the password).

Every rule is ``engine.users``'s: who is in the area (``list_users``, ``user_in_area``), what a password may be,
that a login is free, that nobody deactivates themselves. A user outside the area is not found there, and the
page is the ordinary not-found page; any other refusal is shown on the page and changes nothing. A typed
password is never shown again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col
from starlette.datastructures import FormData

from api.pages.casework import validation_messages
from api.pages.common import (
    PREFIX,
    PageRoute,
    checked_form,
    form_text,
    name_of,
    not_found,
    render,
    roles,
    see_other,
    translated,
    unit_names,
    user_names,
)
from api.pages.context import PageContext
from api.schemas import RecordId, UserCreate
from engine.audit import user_timeline
from engine.children import subtree_condition
from engine.db import transaction
from engine.errors import DomainError, NotFound
from engine.i18n import LANGUAGES
from engine.models import Agency, Unit, User
from engine.users import (
    USER_ROLES,
    add_user,
    deactivate_user,
    list_users,
    reactivate_user,
    reset_password,
    user_in_area,
)

router = APIRouter(route_class=PageRoute)
administrator = roles("admin")
LISTED = 200  # the users a list shows, by login (the filters narrow it)
ACTIVE_FILTER = {"true": True, "false": False}
KEPT_FIELDS = ("login", "full_name", "role", "unit_code", "agency_code", "email", "language")  # never the password
# the add form's fields whose label is not ``page.field.<name>``
FORM_LABELS = {"password": "page.users.initial_password", "agency_code": "page.users.agency"}


# --- the list and the add form --------------------------------------------------------------------


def _agency_names(s: Session, codes: Iterable[str | None], lang: str) -> dict[str, str]:
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    found = s.execute(sa.select(Agency).where(col(Agency.code).in_(wanted))).scalars()
    return {a.code: name_of(a, lang) for a in found}


def _choices(s: Session, ctx: PageContext) -> dict[str, Any]:
    """What the add form offers: the units and agencies of the administrator's subtree (the service decides)."""
    assert ctx.user is not None
    units = s.execute(sa.select(Unit).where(subtree_condition(col(Unit.code), ctx.user.unit_code))
                      .order_by(sa.func.length(col(Unit.path)), col(Unit.name_vi)).limit(1000)).scalars().all()
    agencies = s.execute(sa.select(Agency).where(subtree_condition(col(Agency.unit_code), ctx.user.unit_code))
                         .order_by(col(Agency.name_vi))).scalars().all()
    seats = unit_names(s, {a.unit_code for a in agencies}, ctx.lang)
    return {
        "roles": [(r, ctx.t(f"page.role.{r}")) for r in USER_ROLES],
        "units": [(u.code, name_of(u, ctx.lang)) for u in units],
        "agencies": [(a.code, f"{name_of(a, ctx.lang)} · {seats.get(a.unit_code, a.unit_code)}") for a in agencies],
        "languages": [(code, ctx.t(f"page.language.{code}")) for code in LANGUAGES],
    }


def render_users(ctx: PageContext, *, role: str = "", active: str = "", typed: dict[str, str] | None = None,
                 errors: list[str] | None = None, status: int = 200) -> Response:
    """The list (filtered by role and by active or not) with the add form; after a refused form, why, and what
    was typed."""
    with transaction(ctx.engine) as s:
        users = list_users(s, ctx.actor, role=role if role in USER_ROLES else None,
                           active=ACTIVE_FILTER.get(active), limit=LISTED)
        units = unit_names(s, {u.unit_code for u in users}, ctx.lang)
        agencies = _agency_names(s, (u.agency_code for u in users), ctx.lang)
        choices = _choices(s, ctx)
    rows = [{"user": u, "role": ctx.t(f"page.role.{u.role}"), "unit": units.get(u.unit_code, u.unit_code),
             "agency": agencies.get(u.agency_code, u.agency_code) if u.agency_code else ""} for u in users]
    return render(ctx, "users.html", status=status, rows=rows, full=len(users) == LISTED, listed=LISTED,
                  filters={"role": role, "active": active}, choices=choices, errors=errors or [],
                  typed=typed or {})


@router.get("/users", response_class=HTMLResponse)
def users_page(ctx: PageContext = Depends(administrator), role: str = "", active: str = "") -> Response:
    return render_users(ctx, role=role, active=active)


def _new_user(form: FormData) -> UserCreate:
    """The form as the API's body: the same bounds on each field."""
    return UserCreate.model_validate({
        "login": form_text(form, "login"), "password": str(form.get("password") or ""),
        "role": form_text(form, "role"), "unit_code": form_text(form, "unit_code"),
        "agency_code": form_text(form, "agency_code") or None, "full_name": form_text(form, "full_name"),
        "email": form_text(form, "email") or None, "language": form_text(form, "language") or "vi",
    })


@router.post("/users", response_class=HTMLResponse)
def add_user_submit(ctx: PageContext = Depends(administrator), form: FormData = Depends(checked_form)) -> Response:
    """Add a user of the area; their page follows. A unit or agency outside the area is not found."""
    typed = {name: form_text(form, name) for name in KEPT_FIELDS}
    try:
        body = _new_user(form)
        with transaction(ctx.engine) as s:
            user = add_user(s, **body.model_dump(), actor=ctx.actor, now=ctx.now)
    except ValidationError as exc:
        return render_users(ctx, typed=typed, errors=validation_messages(ctx, exc, FORM_LABELS), status=422)
    except NotFound:
        raise not_found(ctx) from None
    except DomainError as exc:
        return render_users(ctx, typed=typed, errors=[exc.message(ctx.lang)], status=exc.status)
    return see_other(f"{PREFIX}/users/{user.id}?done=1")


# --- one user -------------------------------------------------------------------------------------


def render_user(ctx: PageContext, user_id: int, *, error: str | None = None, status: int = 200) -> Response:
    """The user, their administration trail (newest first: what, by whom, when) and the acts on them."""
    try:
        with transaction(ctx.engine) as s:
            user = user_in_area(s, ctx.actor, user_id)
            trail = user_timeline(s, user_id)  # the user is in the area: checked just above
            unit = unit_names(s, {user.unit_code}, ctx.lang).get(user.unit_code, user.unit_code)
            agency = _agency_names(s, [user.agency_code], ctx.lang).get(user.agency_code or "", user.agency_code)
            people = user_names(s, {e.actor_id for e in trail})
    except NotFound:
        raise not_found(ctx) from None
    events = [{"at": e.at, "what": translated(f"page.user_event.{e.action}", ctx.lang, e.action),
               "who": people.get(e.actor_id, e.actor_role or "") if e.actor_id else ctx.t("page.users.operator")}
              for e in reversed(trail)]
    return render(ctx, "user.html", status=status, error=error, person=user, unit=unit, agency=agency or "",
                  role=ctx.t(f"page.role.{user.role}"), language=translated(f"page.language.{user.language}",
                                                                            ctx.lang, user.language),
                  events=events)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(user_id: RecordId, ctx: PageContext = Depends(administrator)) -> Response:
    return render_user(ctx, user_id)


def _administer(ctx: PageContext, user_id: int, act: Callable[[Session], User]) -> Response:
    """One act on a user of the area, then back to their page; a refusal is shown there and changes nothing."""
    try:
        with transaction(ctx.engine) as s:
            act(s)
    except NotFound:
        raise not_found(ctx) from None
    except DomainError as exc:
        return render_user(ctx, user_id, error=exc.message(ctx.lang), status=exc.status)
    return see_other(f"{PREFIX}/users/{user_id}?done=1")


@router.post("/users/{user_id}/deactivate", response_class=HTMLResponse)
def deactivate_submit(user_id: RecordId, ctx: PageContext = Depends(administrator),
                      form: FormData = Depends(checked_form)) -> Response:
    """No more signing in; the user's sessions end at once."""
    return _administer(ctx, user_id, lambda s: deactivate_user(s, user_id=user_id, actor=ctx.actor, now=ctx.now))


@router.post("/users/{user_id}/reactivate", response_class=HTMLResponse)
def reactivate_submit(user_id: RecordId, ctx: PageContext = Depends(administrator),
                      form: FormData = Depends(checked_form)) -> Response:
    return _administer(ctx, user_id, lambda s: reactivate_user(s, user_id=user_id, actor=ctx.actor, now=ctx.now))


@router.post("/users/{user_id}/password", response_class=HTMLResponse)
def reset_password_submit(user_id: RecordId, ctx: PageContext = Depends(administrator),
                          form: FormData = Depends(checked_form)) -> Response:
    """A new password for the user (a forgotten one); their sessions end."""
    new_password = str(form.get("new_password") or "")
    return _administer(ctx, user_id, lambda s: reset_password(s, user_id=user_id, new_password=new_password,
                                                              actor=ctx.actor, now=ctx.now))
