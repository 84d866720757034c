"""The signed-in user's own account: changing their password (giving the current one).

A change ends every session of the user (``engine.users.change_password``), so this page signs them in again at
once with a new session cookie: the other devices are signed out, this one stays.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from api.auth import change_own_password
from api.pages.common import PREFIX, PageRoute, checked_form, render, see_other, signed_in
from api.pages.context import PageContext
from api.pages.security import SESSION_COOKIE, SESSION_LIFETIME, sign_session
from engine.db import transaction
from engine.errors import DomainError

router = APIRouter(route_class=PageRoute)


@router.get("/password", response_class=HTMLResponse)
def password_page(ctx: PageContext = Depends(signed_in)) -> Response:
    return render(ctx, "password.html")


@router.post("/password", response_class=HTMLResponse)
def password_submit(ctx: PageContext = Depends(signed_in), form: FormData = Depends(checked_form)) -> Response:
    user = ctx.user
    assert user is not None and user.id is not None
    new_password = str(form.get("new_password") or "")
    if new_password != str(form.get("confirm_password") or ""):
        return render(ctx, "password.html", status=422, error=ctx.t("page.password.mismatch"))
    current_password = str(form.get("current_password") or "")
    try:
        with transaction(ctx.engine) as s:
            result = change_own_password(s, ctx.engine, user=user, current_password=current_password,
                                         new_password=new_password)
    except DomainError as refused:
        return render(ctx, "password.html", status=refused.status, error=refused.message(ctx.lang))
    if result.retry_after is not None:
        return render(ctx, "password.html", status=429,
                      error=ctx.t("page.login.throttled", seconds=result.retry_after))
    changed = result.user
    assert changed is not None
    assert changed.sessions_valid_after is not None
    # the new session is issued at the instant the old ones ended, so it is the first one still valid
    cookie, _session = sign_session(ctx.settings.secret_key, user.id, changed.sessions_valid_after)
    response = see_other(f"{PREFIX}/password?done=1")
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
                        samesite="lax", secure=ctx.secure_cookies, path="/")
    return response
