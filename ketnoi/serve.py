"""``ketnoi serve``: the API under uvicorn, with the Prefect schedules beside it.

The Prefect side (a local server unless one is configured, and a worker) starts in a background thread so
the API answers at once; if it cannot start, the API keeps serving and the reason is logged.
"""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from api.app import create_app
from ketnoi.bootstrap import Container

log = logging.getLogger("ketnoi.serve")


class FlowsInBackground:
    """Starts ``flows.serve.start_background`` in a thread; ``stop`` stops whatever it started."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.handle: Any = None
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ketnoi-flows", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.container.prefect_environment()
            from flows.serve import start_background

            handle = start_background(self.container)
        except BaseException as exc:  # the API keeps serving without schedules; say why
            self.error = exc
            log.error("Prefect schedules not started / không khởi động được lịch Prefect: %s", exc)
            return
        self.handle = handle
        if self._stopping.is_set():
            handle.stop()
        else:
            log.info("Prefect schedules running / lịch Prefect đang chạy: %s", getattr(handle, "api_url", ""))

    def stop(self) -> None:
        self._stopping.set()
        if self.handle is not None:
            self.handle.stop()


class _Server(uvicorn.Server):
    """Stops the schedules when a signal asks the server to exit: uvicorn re-raises that signal once it has
    shut down, so code after ``run()`` would never run."""

    background: FlowsInBackground | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.background is not None and not self.should_exit:
            self.background.stop()
        super().handle_exit(sig, frame)


def serve(container: Container, *, host: str = "127.0.0.1", port: int = 8000, flows: bool = True,
          workers: int = 1) -> None:
    """Serve until SIGINT or SIGTERM, then stop everything started here.

    With ``workers`` above 1, uvicorn's supervisor runs that many API processes on one socket (each builds its
    own container from the same settings), so one machine's cores all serve requests; the schedules stay in
    this process, once.
    """
    if not logging.getLogger().handlers:  # say where the schedules run (or why not), as uvicorn's own lines
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    background = FlowsInBackground(container) if flows else None
    if background is not None:
        background.start()
    try:
        if workers > 1:
            config = uvicorn.Config("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                                    log_level="info")
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server = _Server(uvicorn.Config(create_app(container), host=host, port=port, log_level="info"))
            server.background = background
            server.run()
    finally:
        if background is not None:
            background.stop()
        container.dispose()
