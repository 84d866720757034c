"""The Prefect runtime: the deployments, a worker that serves them, and the background mode of ``ketnoi serve``.

- ``build_deployments(container)``: the deadline sweep (every 5 minutes), review scheduling (daily), and,
  when their modules are present, notification delivery (every minute) and periodic reports.
- ``run_worker(container)``: serves those deployments against the Prefect server named by
  ``PREFECT_API_URL`` (``ketnoi worker``). Several workers may serve them against one server and one
  database: Prefect hands each scheduled run to one of them.
- ``start_background(container)``: with no Prefect server configured, starts a local one (SQLite under the
  data folder) and a worker beside it, each in its own process group; ``handle.stop()`` stops all of it.

Call ``container.prefect_environment()`` before importing this module: Prefect reads ``PREFECT_HOME`` early.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.schedules import Cron, Interval, Schedule
from prefect.types.entrypoint import EntrypointType

from flows.reviews import schedule_reviews
from flows.sweep import sweep_deadlines

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

    from ketnoi.bootstrap import Container

log = logging.getLogger("ketnoi.flows")

DEPLOYMENT_NAME = "ketnoi"
SWEEP_EVERY = timedelta(minutes=5)
DELIVERY_EVERY = timedelta(minutes=1)
REVIEWS_CRON = "0 7 * * *"  # every morning at 07:00 local time
REPORTS_CRON = "0 6 * * *"  # every morning at 06:00 local time: the report flow decides what is due
# A fixed anchor: every worker (and every restart) registers the same interval schedule, so nothing is re-planned.
INTERVAL_ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_PREFECT_PORT = 4200
SERVER_STARTUP_TIMEOUT = 120.0  # about 5 s on an idle machine, 45 s seen on a loaded 2-core one
STOP_TIMEOUT = 20.0

# Flows of other rooms, served when their module is present: (module, flow attribute, schedule builder).
OPTIONAL_FLOWS: tuple[tuple[str, str, str], ...] = (
    ("flows.deliver", "deliver_notifications", "delivery"),
    ("flows.reports", "periodic_reports", "reports"),
)


class PrefectNotConfigured(RuntimeError):
    """``ketnoi worker`` needs a Prefect server to serve schedules against."""


def _schedule(kind: str, timezone: str) -> Schedule:
    if kind == "sweep":
        return Interval(SWEEP_EVERY, anchor_date=INTERVAL_ANCHOR, timezone=timezone)
    if kind == "delivery":
        return Interval(DELIVERY_EVERY, anchor_date=INTERVAL_ANCHOR, timezone=timezone)
    if kind == "reviews":
        return Cron(REVIEWS_CRON, timezone=timezone)
    if kind == "reports":
        return Cron(REPORTS_CRON, timezone=timezone)
    raise ValueError(f"unknown schedule {kind!r}")


def _optional_flow(module_name: str, attribute: str) -> Any | None:
    """A flow from another room, or None when its module is missing or broken (the rest still runs)."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        log.warning("%s cannot be imported (%s); its deployment is skipped", module_name, exc)
        return None
    except Exception as exc:  # a broken module must not stop the sweep from being served
        log.warning("%s cannot be imported (%s); its deployment is skipped", module_name, exc)
        return None
    found = getattr(module, attribute, None)
    if found is None:
        log.warning("%s has no flow %r; its deployment is skipped", module_name, attribute)
    return found


def build_deployments(container: Container) -> list[RunnerDeployment]:
    """Every deployment Kết Nối serves, with its schedule in the project's time zone."""
    tz = container.settings.timezone
    flows: list[tuple[Any, str]] = [(sweep_deadlines, "sweep"), (schedule_reviews, "reviews")]
    for module_name, attribute, kind in OPTIONAL_FLOWS:
        found = _optional_flow(module_name, attribute)
        if found is not None:
            flows.append((found, kind))
    return [
        flow_obj.to_deployment(
            name=DEPLOYMENT_NAME,
            schedule=_schedule(kind, tz),
            tags=["ketnoi"],
            # Runs are found by module path, so a worker started from any folder can import them.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for flow_obj, kind in flows
    ]


def configured_api_url(container: Container) -> str | None:
    return container.settings.prefect_api_url or os.environ.get("PREFECT_API_URL") or None


def run_worker(container: Container) -> None:
    """Serve the deployments until SIGTERM or Ctrl-C (``ketnoi worker``)."""
    from prefect import serve

    container.prefect_environment()
    if not configured_api_url(container):
        raise PrefectNotConfigured(
            "Chưa cấu hình máy chủ Prefect: đặt KETNOI_PREFECT_API_URL (hoặc PREFECT_API_URL), ví dụ "
            "http://127.0.0.1:4200/api / No Prefect server configured: set KETNOI_PREFECT_API_URL (or "
            "PREFECT_API_URL), e.g. http://127.0.0.1:4200/api. `ketnoi serve` starts a local one by itself."
        )
    deployments = build_deployments(container)
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
    print(f"Đang phục vụ / serving: {names} — Prefect {configured_api_url(container)}", flush=True)
    if threading.current_thread() is threading.main_thread():
        # Until the runner installs its own handler (registering deployments takes a while), SIGTERM just exits.
        signal.signal(signal.SIGTERM, _raise_exit_ok)
    # Not pausing on shutdown: with several workers, one stopping must not pause the schedules of the others.
    serve(*deployments, pause_on_shutdown=False, print_starting_message=False)


# --- Background mode (``ketnoi serve``) ------------------------------------------------------------


def descendant_pids(pids: Iterable[int]) -> set[int]:
    """Every live descendant of ``pids`` (Linux ``/proc``; elsewhere only the process groups are signalled)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat.rsplit(")", 1)[-1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = list(pids)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def is_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class BackgroundHandle:
    """What ``start_background`` started: the worker and, unless one was configured, a Prefect server."""

    api_url: str
    worker: subprocess.Popen[bytes]
    server: subprocess.Popen[bytes] | None = None
    stopped: bool = field(default=False, init=False)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in (self.worker, self.server) if p is not None]

    def pids(self) -> set[int]:
        """The started processes and all their live descendants (flow runs, the server's own children)."""
        roots = {p.pid for p in self.processes}
        return {pid for pid in roots | descendant_pids(roots) if is_alive(pid)}

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM everything started (worker first, so its runs end while the server still answers), then
        SIGKILL whatever is left after ``timeout``. Safe to call twice."""
        if self.stopped:
            return
        self.stopped = True
        for proc in self.processes:
            _stop_process(proc, timeout / len(self.processes))


# Every process this module started and has not stopped yet, so that ``stop_all`` can reach one still starting.
_LIVE: dict[subprocess.Popen[bytes], int] = {}  # process → stop order (workers first, then the server)
_LIVE_LOCK = threading.Lock()
_ABORT = threading.Event()


def _track(proc: subprocess.Popen[bytes], order: int) -> subprocess.Popen[bytes]:
    with _LIVE_LOCK:
        _LIVE[proc] = order
    return proc


def _stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group, wait, then SIGKILL the group and every descendant still alive."""
    tree = {proc.pid} | descendant_pids({proc.pid})
    _signal_group(proc.pid, signal.SIGTERM)
    _signal_pid(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    try:
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    # Flow runs may live in process groups of their own: whatever outlived its parent is killed too.
    tree |= descendant_pids(tree)
    while time.monotonic() < deadline and any(is_alive(pid) for pid in tree - {proc.pid}):
        time.sleep(0.1)
    _signal_group(proc.pid, signal.SIGKILL)
    for pid in tree:
        if is_alive(pid):
            _signal_pid(pid, signal.SIGKILL)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.warning("process %d did not stop", proc.pid)
    with _LIVE_LOCK:
        _LIVE.pop(proc, None)


def started_pids() -> set[int]:
    """The live processes this module started (and their descendants)."""
    with _LIVE_LOCK:
        roots = {p.pid for p in _LIVE}
    return {pid for pid in roots | descendant_pids(roots) if is_alive(pid)}


def stop_all(timeout: float = STOP_TIMEOUT) -> None:
    """Stop every process this module started in this process, including a ``start_background`` still
    waiting for its server in another thread (it then gives up and raises). For signal handlers."""
    _ABORT.set()
    with _LIVE_LOCK:
        live = sorted(_LIVE, key=_LIVE.__getitem__)
    for proc in live:
        _stop_process(proc, timeout / max(1, len(live)))


def _free_port(preferred: int = DEFAULT_PREFECT_PORT) -> int:
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port for the Prefect server")


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(parts[9])
    return inodes


def listens_on(pids: Iterable[int], port: int) -> bool | None:
    """Whether one of ``pids`` holds the listening socket of ``port`` (None where ``/proc`` cannot tell)."""
    if not Path("/proc/net/tcp").exists():
        return None
    inodes = _listening_inodes(port)
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
    return False


def wait_healthy(api_url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``<api_url>/health`` answers from ``proc`` (not from another server that took the port
    meanwhile); refuse early if the server process died."""
    deadline = time.monotonic() + timeout
    port = int(api_url.rsplit(":", 1)[1].split("/", 1)[0])
    while time.monotonic() < deadline:
        if _ABORT.is_set():
            raise RuntimeError("stopping: the Prefect server was not waited for")
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with status {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:
                ours = proc is None or listens_on({proc.pid} | descendant_pids({proc.pid}), port) is not False
                if resp.status == 200 and ours:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the Prefect server at {api_url} did not answer within {timeout:.0f} s")


def _prefect_command() -> list[str]:
    script = Path(sys.executable).with_name("prefect")
    return [str(script)] if script.exists() else [sys.executable, "-m", "prefect"]


def _start_server(
    env: dict[str, str], port: int, log_path: Path, timeout: float
) -> tuple[subprocess.Popen[bytes], str]:
    api_url = f"http://127.0.0.1:{port}/api"
    server_env = {k: v for k, v in env.items() if k not in ("PREFECT_API_URL", "KETNOI_PREFECT_API_URL")}
    with log_path.open("ab") as server_log:
        server = _track(subprocess.Popen(
            [*_prefect_command(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env={**server_env, "PREFECT_UI_API_URL": api_url},
            stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True,
        ), order=1)
    try:
        wait_healthy(api_url, timeout, server)
    except BaseException:
        BackgroundHandle(api_url=api_url, worker=server).stop()
        raise
    return server, api_url


def _raise_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _raise_exit_ok(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def start_background(
    container: Container, *, port: int | None = None, startup_timeout: float = SERVER_STARTUP_TIMEOUT,
    log_dir: Path | None = None,
) -> BackgroundHandle:
    """Start the schedules beside ``ketnoi serve``: a local Prefect server unless one is configured (port 4200
    when free, else any free port; ``handle.api_url`` says which), then a worker serving the deployments
    against it. Each runs in its own process group; ``handle.stop()`` stops them and everything they started.
    """
    container.prefect_environment()
    env = dict(os.environ)
    logs = log_dir or (container.settings.ensure_data_dir().resolve() / "logs")
    logs.mkdir(parents=True, exist_ok=True)
    # A SIGTERM while starting must not leave a half-started server behind: it unwinds through the cleanup.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_exit) if in_main_thread else None
    try:
        server: subprocess.Popen[bytes] | None = None
        api_url = configured_api_url(container)
        if not api_url:
            try:
                server, api_url = _start_server(env, port or _free_port(), logs / "prefect-server.log",
                                                startup_timeout)
            except RuntimeError:
                if port is not None or _ABORT.is_set():
                    raise
                # The default port was taken between the check and the start (another server): any free port.
                server, api_url = _start_server(env, _free_port(0), logs / "prefect-server.log", startup_timeout)
        with (logs / "prefect-worker.log").open("ab") as worker_log:
            if _ABORT.is_set():
                raise RuntimeError("stopping: the worker was not started")
            worker = _track(subprocess.Popen(
                [sys.executable, "-m", "flows.serve"],
                env={**env, "PREFECT_API_URL": api_url, "KETNOI_PREFECT_API_URL": api_url},
                stdin=subprocess.DEVNULL, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
            ), order=0)
        handle = BackgroundHandle(api_url=api_url, worker=worker, server=server)
    except BaseException:
        if server is not None:
            BackgroundHandle(api_url=api_url or "", worker=server).stop()
        raise
    finally:
        if in_main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    atexit.register(handle.stop)  # a safety net: the caller stops it on SIGTERM or at exit
    return handle


def main() -> None:
    """``python -m flows.serve``: the worker process of the background mode."""
    from ketnoi.bootstrap import build

    container = build()
    container.prefect_environment()
    try:
        run_worker(container)
    except PrefectNotConfigured as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
