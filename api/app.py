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

from api import auth, problems
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


def create_app(container: Container | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.container.dispose()

    app = FastAPI(
        lifespan=lifespan, title="Kết Nối API", version="1.0.0", description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url=f"{API_PREFIX}/docs", redoc_url=None,
    )
    app.state.container = container or Container()
    problems.install(app)

    api = APIRouter(prefix=API_PREFIX)
    for module in (auth, children, cases, referrals, tasks, directory, users, access_log, delivery_log):
        api.include_router(module.router)
    for optional in ("api.routers.supervision", "api.routers.training"):
        router = _optional_router(optional)
        if router is not None:
            api.include_router(router)
    app.include_router(api)

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


