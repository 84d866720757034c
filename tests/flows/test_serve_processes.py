"""The background mode of ``ketnoi serve`` and ``ketnoi worker`` as real processes: they register the
deployments on a real Prefect server, and SIGTERM leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from flows.serve import descendant_pids, is_alive

KETNOI = str(Path(sys.executable).with_name("ketnoi"))
ROOT = Path(__file__).resolve().parents[2]

# What ``ketnoi serve`` does around its web server: start the schedules, stop them on SIGTERM.
BACKGROUND_MAIN = """
import signal, sys, time
from ketnoi.bootstrap import build
container = build()
container.prefect_environment()
from flows.serve import start_background
handle = start_background(container)
def stop(*_):
    handle.stop()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", handle.api_url, flush=True)
while True:
    time.sleep(1)
"""


# A shutdown while the Prefect server is still starting, in a thread as ``ketnoi serve`` does it.
ABORT_WHILE_STARTING = """
import json, threading, time
from ketnoi.bootstrap import build
container = build()
container.prefect_environment()
import flows.serve as flows_serve
outcome = []
def start():
    try:
        flows_serve.start_background(container)
        outcome.append("started")
    except BaseException as exc:
        outcome.append(repr(exc))
thread = threading.Thread(target=start)
thread.start()
while not flows_serve.started_pids():
    time.sleep(0.1)
time.sleep(2)
pids = flows_serve.started_pids()
flows_serve.stop_all()
thread.join(60)
print(json.dumps({"pids": sorted(pids), "outcome": outcome, "thread_alive": thread.is_alive()}))
"""


def _env(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KETNOI_"))}
    env.update(
        KETNOI_DATA_DIR=str(tmp_path / "data"), KETNOI_DATABASE_URL=sqlite_url, KETNOI_ENVIRONMENT="development",
        PREFECT_HOME=str(tmp_path / "prefect"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def _wait(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:  # a loaded Prefect server answers 503 now and then: ask again
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _deployments(api_url: str) -> dict[str, dict[str, object]]:
    request = urllib.request.Request(
        f"{api_url}/deployments/filter", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        rows = json.load(resp)
    flows = {}
    for row in rows:
        with urllib.request.urlopen(f"{api_url}/flows/{row['flow_id']}", timeout=5) as resp:
            flows[json.load(resp)["name"]] = row
    return flows


def _run_deployment(api_url: str, deployment_id: str, timeout: float) -> str:
    """Ask the server for a run of a deployment now; return the run's final state type."""
    def create() -> str:
        request = urllib.request.Request(
            f"{api_url}/deployments/{deployment_id}/create_flow_run", data=b"{}",
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return str(json.load(resp)["id"])

    run_id = _wait(create, 30, "the flow run to be created")

    def final_state() -> str | None:
        with urllib.request.urlopen(f"{api_url}/flow_runs/{run_id}", timeout=10) as resp:
            state = json.load(resp)["state"]["type"]
        return state if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    return str(_wait(final_state, timeout, "the flow run to finish"))


def _stop_and_check(proc: subprocess.Popen[bytes], started: set[int]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    time.sleep(0.5)
    left = sorted(pid for pid in started if is_alive(pid))
    assert left == [], f"processes left behind after SIGTERM: {left}"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_says_so_plainly_and_loads_nothing(
    tmp_path: Path, sqlite_url: str, workers: str
) -> None:
    import socket

    import sqlalchemy as sa

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [KETNOI, "serve", "--demo", "--no-flows", "--workers", workers, "--port", str(port)],
            env=_env(tmp_path, sqlite_url), cwd=tmp_path, capture_output=True, timeout=60,
        )
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err, err
    assert f"cổng 127.0.0.1:{port} đang được dùng" in err and f"port 127.0.0.1:{port} is already in use" in err
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.connect() as conn:  # the demo province was not loaded: no users, no cases
            assert conn.execute(sa.text("SELECT count(*) FROM app_user")).scalar() == 0
            assert conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar() == 0
    finally:
        engine.dispose()


def test_worker_refuses_without_a_prefect_server(tmp_path: Path, sqlite_url: str) -> None:
    result = subprocess.run([KETNOI, "worker"], env=_env(tmp_path, sqlite_url), capture_output=True, timeout=60)
    assert result.returncode == 1
    assert "PREFECT_API_URL" in result.stderr.decode()


@pytest.mark.slow
def test_background_and_a_second_worker_serve_and_stop_cleanly(tmp_path: Path, sqlite_url: str) -> None:
    env = _env(tmp_path, sqlite_url)
    serve = subprocess.Popen([sys.executable, "-c", BACKGROUND_MAIN], env=env, cwd=ROOT, stdout=subprocess.PIPE)
    second: subprocess.Popen[bytes] | None = None
    seen: set[int] = set()  # every process seen in the tree, for the cleanup when an assertion fails
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline().decode().split()
        seen |= descendant_pids({serve.pid})
        assert line[:1] == ["ready"], f"the background mode did not start: {line}"
        api_url = line[1]
        found = _wait(lambda: _deployments(api_url) if len(_deployments(api_url)) >= 2 else None, 60,
                      "the worker to register its deployments")
        seen |= descendant_pids({serve.pid})
        assert isinstance(found, dict)
        assert {"sweep-deadlines", "schedule-reviews"} <= set(found)
        sweep = found["sweep-deadlines"]
        assert sweep["name"] == "ketnoi" and sweep["paused"] is False
        assert sweep["schedules"][0]["schedule"]["interval"] == 300.0  # type: ignore[index]
        # The worker runs it: the flow-run process imports the flow by module path and reaches the database.
        assert _run_deployment(api_url, str(sweep["id"]), 120) == "COMPLETED"

        # Scaling out: a second worker against the same Prefect server and database.
        second = subprocess.Popen([KETNOI, "worker"], env={**env, "PREFECT_API_URL": api_url}, cwd=tmp_path,
                                  stdout=subprocess.PIPE)
        assert second.stdout is not None
        announced = second.stdout.readline().decode()
        assert "sweep-deadlines/ketnoi" in announced and api_url in announced
        time.sleep(3)  # from the announcement to the runner's own SIGTERM handler
        assert second.poll() is None, "the second worker exited"
        second_tree = {second.pid} | descendant_pids({second.pid})
        _stop_and_check(second, second_tree)
        # One worker stopping does not pause the schedules the others serve.
        assert _deployments(api_url)["sweep-deadlines"]["paused"] is False

        tree = {serve.pid} | descendant_pids({serve.pid})
        assert len(tree) >= 3  # this process, the Prefect server, the worker
        _stop_and_check(serve, tree | descendant_pids(tree))
    finally:
        # SIGTERM first, so the background handle stops what it started; then nothing may survive.
        for proc in (second, serve):
            if proc is not None and proc.poll() is None:
                seen |= descendant_pids({proc.pid})
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for pid in seen:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if is_alive(pid):
                    os.kill(pid, signal.SIGKILL)


def test_stop_all_reaches_a_server_still_starting(tmp_path: Path, sqlite_url: str) -> None:
    result = subprocess.run([sys.executable, "-c", ABORT_WHILE_STARTING], env=_env(tmp_path, sqlite_url), cwd=ROOT,
                            capture_output=True, timeout=180)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    report = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert report["pids"], "the Prefect server was started"
    assert report["thread_alive"] is False
    assert len(report["outcome"]) == 1 and "stopping" in report["outcome"][0]
    time.sleep(0.5)
    assert [pid for pid in report["pids"] if is_alive(pid)] == []


def listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on ``port`` (IPv4), from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
            found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                found.add(target[len("socket:["):-1])
    return found


def test_serve_with_two_api_processes_answers_and_stops_cleanly(tmp_path: Path, sqlite_url: str) -> None:
    """``ketnoi serve --workers 2``: two API processes on one port, each on its own socket, answer signed-in
    requests (whichever process takes each), and SIGTERM leaves none of them behind."""
    from tests.support.live_server import free_port

    port = free_port()
    env = {**_env(tmp_path, sqlite_url), "KETNOI_PASSWORD_HASHING": "fast-for-tests"}
    serve = subprocess.Popen([KETNOI, "serve", "--demo", "--no-flows", "--workers", "2", "--port", str(port)],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    tree: set[int] = set()
    try:
        def healthy() -> bool:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as resp:
                return resp.status == 200
        _wait(healthy, 60, "the API to answer")
        tree = {serve.pid} | descendant_pids({serve.pid})
        api_processes = [pid for pid in tree if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert len(api_processes) == 2, tree
        # each API process listens on a socket of its own (SO_REUSEPORT), and nothing else listens on the port
        listening = listening_inodes(port)
        own = [listening & socket_inodes(pid) for pid in api_processes]
        assert len(listening) == 2 and all(len(mine) == 1 for mine in own) and own[0] != own[1], (listening, own)
        form = b"username=lan%4005443&password=demo-lan-05443"
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/auth/token", data=form), timeout=10) as resp:
            token = json.load(resp)["access_token"]
        for _ in range(6):
            request = urllib.request.Request(f"{base}/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert resp.status == 200 and json.load(resp)
        search = urllib.request.Request(f"{base}/api/v1/children?q=tran%20van%20minh",
                                        headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(search, timeout=10) as resp:
            assert resp.status == 200
        _stop_and_check(serve, tree)
        assert serve.stdout is not None
        logged = serve.stdout.read().decode()
        # the access log has the request, without the child's name from the query string
        assert "GET /api/v1/children?… HTTP/1.1" in logged and "tran" not in logged, logged[-2000:]
    finally:
        for pid in tree | descendant_pids(tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_while_the_local_prefect_server_is_still_starting_leaves_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    """``ketnoi serve`` answers at once while its fresh Prefect server takes many seconds to start: a SIGTERM in
    that time must stop the server too (it runs in a session of its own, so it would outlive us). Its access log
    keeps working once Prefect is loaded (Prefect's logging set-up used to silence it), without query strings."""
    from tests.support.live_server import free_port

    port = free_port()
    env = {**_env(tmp_path, sqlite_url), "KETNOI_PASSWORD_HASHING": "fast-for-tests"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen([KETNOI, "serve", "--demo", "--port", str(port)], env=env, cwd=tmp_path,
                                 stdout=out, stderr=subprocess.STDOUT)
    seen: set[int] = set()
    try:
        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                return resp.status == 200
        _wait(healthy, 90, "the API to answer")

        def prefect_started() -> set[int] | None:
            found = {pid for pid in descendant_pids({serve.pid})
                     if "server" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")}
            return found or None
        _wait(prefect_started, 60, "the Prefect server process to be started")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/app/login?q=tran%20van%20minh", timeout=10) as resp:
            assert resp.status == 200
        seen = {serve.pid} | descendant_pids({serve.pid})
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=90)
        time.sleep(1)
        left = sorted(pid for pid in seen if is_alive(pid))
        assert left == [], f"processes left behind after SIGTERM: {left}"
        logged = log.read_text(errors="replace")
        assert '"GET /app/login?… HTTP/1.1" 200' in logged and "tran" not in logged, logged[-2000:]
        assert "Finished server process" in logged, logged[-2000:]
    finally:  # whatever failed, nothing it started outlives the test (the Prefect server has a session of its own)
        seen |= {serve.pid} | descendant_pids({serve.pid})
        for pid in seen | descendant_pids(seen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if serve.poll() is None:
            serve.kill()
