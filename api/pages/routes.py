"""The pages' router: every page under ``/app``, and the not-found page for anything else there.

Handlers are thin: they read a form, call one service function (engine.*, referrals.*, supervision.*) and
render or redirect. What is allowed, required or refused is decided by those services; a refusal
(DomainError) is shown on the page in the reader's language and changes nothing. Every POST carries the
per-session CSRF token; every record is looked up within the user's scope (api.scope), and a record outside
it answers the same not-found page as a record that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from api.pages import account, agency, casework, signin, supervisor, users
from api.pages.common import PREFIX, PageRoute, not_found
from api.pages.context import PageContext, page_context

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=PageRoute)
for part in (signin, account, casework, agency, supervisor, users):
    router.include_router(part.router)


@router.get("/{anything:path}", response_class=HTMLResponse)
def unknown_page(anything: str, ctx: PageContext = Depends(page_context)) -> Response:
    raise not_found(ctx)


__all__ = ["PREFIX", "router"]
