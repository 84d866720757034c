"""The FastAPI application: routers under ``/api/v1``, problem+json errors, health and readiness.

``create_app`` connects to nothing: the container builds the database engine on first use.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import auth, problems
from api.pages.security import RefreshSessionCookie
from api.routers import access_log, cases, children, delivery_log, directory, referrals, tasks, users
from api.schemas import HealthPublic
from ketnoi.bootstrap import Container

logger = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
DESCRIPTION = """\
Kết Nối — chuyển gửi trường hợp trẻ em khuyết tật / case referrals for children with disabilities.

Sign in at `POST /api/v1/auth/token` (OAuth2 password flow) and send `Authorization: Bearer <token>`.
Errors are RFC 9457 problem+json, titled in the `Accept-Language` asked for (Vietnamese by default).
Transitions need `If-Match` with the record's `ETag`; POSTs that create or transition accept an
`Idempotency-Key`, and a replay returns the first response without changing anything.
"""


# The pages use no script, no inline style and no resource from elsewhere: nothing else needs allowing.
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Headers every response carries unless it set its own: no framing (clickjacking of the pages' forms), no
    content sniffing, no Referer to other sites, the pages' CSP, and ``Cache-Control: no-store`` (children's
    records must stay out of browser and proxy caches; the stylesheet sets its own). Strict-Transport-Security
    outside development, where the cookies are Secure too. The API documentation (outside production) loads
    Swagger UI from its CDN, so it gets no CSP. A plain ASGI middleware: no extra task per request."""

    def __init__(self, app: ASGIApp, *, hsts: bool, docs_paths: frozenset[str]) -> None:
        self.app = app
        self.hsts = hsts
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with_csp = scope.get("path") not in self.docs_paths

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = list(SECURITY_HEADERS) + [(b"cache-control", b"no-store")]
                if with_csp:
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _optional_router(module: str) -> APIRouter | None:
    """Routers other rooms build (pages, supervision); the app works without them."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        logger.exception("optional router %s failed to import; serving without it", module)
        return None
    except ImportError:
        # a half-built sibling room must not take the API down with it
        logger.exception("optional router %s failed to import; serving without it", module)
        return None
    router = getattr(found, "router", None)
    return router if isinstance(router, APIRouter) else None


class KetNoiApp(FastAPI):
    """FastAPI with the security headers outside Starlette's own error layer, so that a 500 carries them too."""

    security_headers: dict[str, Any] = {"hsts": True, "docs_paths": frozenset()}  # replaced, never changed

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), **self.security_headers)


def create_app(container: Container | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.container.dispose()

    container = container or Container()
    # In production the API's description is not published: it maps every route for an attacker, and its page
    # runs Swagger UI's scripts from a CDN on the origin that holds the pages' session cookie.
    documented = container.settings.environment != "production"
    openapi_url = f"{API_PREFIX}/openapi.json" if documented else None
    docs_url = f"{API_PREFIX}/docs" if documented else None
    app = KetNoiApp(
        lifespan=lifespan, title="Kết Nối API", version="1.0.0", description=DESCRIPTION,
        openapi_url=openapi_url, docs_url=docs_url, redoc_url=None,
    )
    app.state.container = container
    problems.install(app)
    app.add_middleware(RefreshSessionCookie, secure=container.settings.environment != "development")
    app.security_headers = {
        "hsts": container.settings.environment != "development",
        "docs_paths": frozenset({docs_url, f"{docs_url}/oauth2-redirect"} if docs_url else ()),
    }

    # Each router is included in the app itself, not under one /api/v1 router: FastAPI matches a request again
    # at every level of nesting, and one level less made an API request a fifth fewer Python calls (profiled).
    for module in (auth, children, cases, referrals, tasks, directory, users, access_log, delivery_log):
        app.include_router(module.router, prefix=API_PREFIX)
    for optional in ("api.routers.supervision", "api.routers.training"):
        router = _optional_router(optional)
        if router is not None:
            app.include_router(router, prefix=API_PREFIX)

    @app.get("/healthz", response_model=HealthPublic, tags=["health"], summary="The process is up")
    def healthz() -> HealthPublic:
        return HealthPublic(status="ok")

    @app.get("/readyz", response_model=HealthPublic, tags=["health"],
             responses={503: {"description": "the database cannot be reached"}}, summary="Ready: database reachable")
    def readyz(request: Request) -> Any:
        try:
            with app.state.container.db.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return problems.http_problem(request, 503, "api.database_unavailable")
        return HealthPublic(status="ok")

    pages = _optional_router("api.pages")
    if pages is not None:
        app.include_router(pages)

    return app


