"""A real uvicorn server in a thread, serving the whole app (API and pages) against a test database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn

from api.app import create_app
from engine.settings import Settings
from ketnoi.bootstrap import Container


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_app(
    database_url: str, environment: Literal["development", "production", "test"] = "development"
) -> Iterator[str]:
    """Serve the app on a free port; yields its base URL and stops it afterwards."""
    container = Container(Settings(database_url=database_url, environment=environment,
                                   secret_key="e2e-test-secret-key-0123456789"))
    app = create_app(container)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        container.dispose()
