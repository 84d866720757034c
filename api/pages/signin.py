"""Signing in and out, the start page, and the stylesheet.

The sign-in form has no session yet, so its CSRF check is a double submit: the page sets a random token
in a short-lived cookie and in a hidden field, and the POST must bring both (no login CSRF).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.datastructures import FormData

from api.auth import authenticate, client_address
from api.pages.common import HERE, PREFIX, PageRoute, checked_form, form_text, posted_form, render, safe_next, see_other
from api.pages.common import signed_in as signed_in
from api.pages.context import PageContext, page_context
from api.pages.security import SESSION_COOKIE, SESSION_LIFETIME, sign_session
from engine.db import transaction
from engine.users import sign_out_everywhere

router = APIRouter(route_class=PageRoute)
LOGIN_CSRF_COOKIE = "ketnoi_login_csrf"


@router.get("/static/site.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "site.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=86400"})


def _login_form(ctx: PageContext, status: int = 200, **values: object) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(ctx, "login.html", status=status, login_csrf=token, **values)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                        secure=ctx.secure_cookies, path=f"{PREFIX}/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(ctx: PageContext = Depends(page_context), next: str = "") -> Response:
    return _login_form(ctx, next=safe_next(next, ""))


@router.post("/login", response_class=HTMLResponse)
def login_submit(ctx: PageContext = Depends(page_context), form: FormData = Depends(posted_form)) -> Response:
    """The API's password check (it records the attempt and slows repeated failures), then a signed cookie."""
    login = form_text(form, "login")
    next_page = safe_next(form.get("next"), "")
    expected = ctx.request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not expected or not hmac.compare_digest(expected, form_text(form, "csrf")):
        return _login_form(ctx, status=403, next=next_page, login=login, error=ctx.t("page.csrf_failed"))
    with transaction(ctx.engine) as s:
        result = authenticate(s, login, str(form.get("password") or ""), ip=client_address(ctx.request), now=ctx.now)
    user = result.user
    if user is None or user.id is None:
        error = (ctx.t("page.login.throttled", seconds=result.retry_after) if result.retry_after
                 else ctx.t("page.login.failed"))
        return _login_form(ctx, status=429 if result.retry_after else 401, next=next_page, login=login, error=error)
    cookie, _session = sign_session(ctx.settings.secret_key, user.id, ctx.now)
    response = see_other(next_page or f"{PREFIX}/")
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
                        samesite="lax", secure=ctx.secure_cookies, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
    return response


@router.post("/logout")
def logout(ctx: PageContext = Depends(signed_in), form: FormData = Depends(checked_form)) -> Response:
    """Signing out signs the user out everywhere: every page session of theirs, on every device, and every API
    token issued until now stop working (``engine.users.sign_out_everywhere``), so a copied cookie is useless."""
    assert ctx.user is not None and ctx.user.id is not None
    with transaction(ctx.engine) as s:
        sign_out_everywhere(s, user_id=ctx.user.id)
    response = see_other(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(ctx: PageContext = Depends(signed_in)) -> Response:
    assert ctx.user is not None
    start = {"agency_staff": "inbox", "admin": "users"}.get(ctx.user.role, "work")  # where each role's work is
    return see_other(f"{PREFIX}/{start}")
