"""``ketnoi serve``: the API under uvicorn, with the Prefect schedules beside it.

The Prefect side (a local server unless one is configured, and a worker) starts in a background thread so
the API answers at once; if it cannot start, the API keeps serving and the reason is logged.
"""

from __future__ import annotations

import copy
import logging
import socket
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
        elif self._thread.is_alive():
            # Still starting (a fresh Prefect server takes a while): abort its wait and stop what it started, or
            # the server, in a session of its own, would outlive this process.
            from flows.serve import stop_all

            stop_all()
            self._thread.join(timeout=30)


class ReusePortListener:
    """The listening socket of one API process, made in that process: its own, on the shared port.

    uvicorn's supervisor binds one socket and hands it to every process; with keep-alive connections the
    busiest process keeps winning the race to accept new ones (measured: seven of eight connections on one of
    two processes, the other nearly idle). With ``SO_REUSEPORT`` each process listens on a socket of its own
    and the kernel spreads new connections evenly among them. A process that dies takes its socket with it, so
    no connection waits on a socket nobody serves; its replacement makes a new one. Passed to the supervisor in
    place of a socket: unpickled in each new process, it binds and listens there.
    """

    def __init__(self, host: str, port: int, backlog: int) -> None:
        self.host, self.port, self.backlog = host, port, backlog

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return (listen_reusing_port, (self.host, self.port, self.backlog))



def check_port_free(host: str, port: int) -> None:
    """``OSError`` (EADDRINUSE) if anything listens on the port. Bound without ``SO_REUSEPORT``: with it, a
    second server on the same port (another ``ketnoi serve --workers N``) would silently share the traffic."""
    tcp_socket(host, port, reuse_port=False).close()


def tcp_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket. IPPROTO_TCP is named, not left 0: asyncio turns Nagle's algorithm off (TCP_NODELAY)
    only on connections whose socket says it is TCP. uvicorn's own shared socket leaves it 0, and a response
    written in two parts then waited for the client's delayed ACK (measured: p50 64 ms against 41 ms here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def listen_reusing_port(host: str, port: int, backlog: int) -> socket.socket:
    sock = tcp_socket(host, port, reuse_port=True)
    sock.listen(backlog)
    return sock


class WithoutQueryString(logging.Filter):
    """Access-log lines without the query string: a search names a child (``/app/children?q=tran van minh``), and
    the log is kept longer and read by more people than the records it would copy it from."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args  # uvicorn's access record: (client, method, path with query, HTTP version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?…", args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with ``WithoutQueryString`` on its access log; every API process applies it."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["without_query_string"] = {"()": WithoutQueryString}
    config["handlers"]["access"]["filters"] = ["without_query_string"]
    return config


class _Server(uvicorn.Server):
    """Stops the schedules when a signal asks the server to exit: uvicorn re-raises that signal once it has
    shut down, so code after ``run()`` would never run."""

    background: FlowsInBackground | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.background is not None and not self.should_exit:
            self.background.stop()
        super().handle_exit(sig, frame)


def api_sockets(config: uvicorn.Config) -> list[Any]:
    """What each API process listens on: its own ``SO_REUSEPORT`` socket, else one TCP socket they share."""
    if not hasattr(socket, "SO_REUSEPORT"):
        log.info("API http://%s:%d: %d tiến trình, chung một socket / %d processes on one socket", config.host,
                 config.port, config.workers, config.workers)
        return [tcp_socket(config.host, config.port, reuse_port=False)]
    check_port_free(config.host, config.port)
    listener = ReusePortListener(config.host, config.port, config.backlog)
    log.info("API http://%s:%d: %d tiến trình, mỗi tiến trình một socket / %d processes, each on its own socket",
             config.host, config.port, config.workers, config.workers)
    return [listener]


def serve(container: Container, *, host: str = "127.0.0.1", port: int = 8000, flows: bool = True,
          workers: int = 1) -> None:
    """Serve until SIGINT or SIGTERM, then stop everything started here.

    With ``workers`` above 1, uvicorn's supervisor runs that many API processes on one port (each builds its
    own container from the same settings, and listens on a socket of its own where the system allows it: see
    ``ReusePortListener``), so one machine's cores all serve requests; the schedules stay in this process, once.
    """
    if not logging.getLogger().handlers:  # say where the schedules run (or why not), as uvicorn's own lines
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    if flows:
        # Prefect configures logging when it is first imported, and that resets uvicorn's loggers (their level,
        # their handlers, the access log's filter): the access log went silent. Let it happen now, before
        # uvicorn applies its own configuration below, not in the schedules' thread at some later moment.
        import prefect.main  # noqa: F401
    multi = None
    if workers > 1:  # a port in use is refused here (OSError), before anything starts
        config = uvicorn.Config("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                                log_level="info", log_config=log_config())
        multi = Multiprocess(config, sockets=api_sockets(config))
    background = FlowsInBackground(container) if flows else None
    if background is not None:
        background.start()
    try:
        if multi is not None:
            multi.run()
        else:
            server = _Server(uvicorn.Config(create_app(container), host=host, port=port, log_level="info",
                                            log_config=log_config()))
            server.background = background
            server.run()
    finally:
        if background is not None:
            background.stop()
        container.dispose()
