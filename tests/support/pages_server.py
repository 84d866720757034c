"""The whole app (API and pages) served by a real uvicorn server against a test database, for the browser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from engine.settings import Settings
from ketnoi.bootstrap import Container
from tests.support.live_server import live_server


@contextmanager
def running_app(
    database_url: str, environment: Literal["development", "production", "test"] = "development"
) -> Iterator[str]:
    """Serve the app on a free port; yields its base URL and stops it afterwards."""
    container = Container(Settings(database_url=database_url, environment=environment,
                                   secret_key="e2e-test-secret-key-0123456789-abcdef"))
    try:
        with live_server(container) as base:
            yield base
    finally:
        container.dispose()
