"""Transitions per second through the HTTP API on PostgreSQL, against the database's own limit for the same work.

In one run:
1. a fresh PostgreSQL database (migrated, demo province loaded), one caseworker and one case per client,
   each brought to ``verified``;
2. the API as ``ketnoi serve --no-flows --workers N`` runs it (N processes, one per core by default);
   CONCURRENCY asyncio clients, each on its own keep-alive
   connection (a minimal HTTP/1.1 client, so the bench's CPU stays small on the machine it shares with the
   server), POST the same self-loop transition (``record_consent``) on their own case for DURATION seconds,
   with If-Match from the last ETag; every response's status and ETag are checked;
3. the statements one such transition issues, captured with SQLAlchemy's cursor events while the app handles
   one request in-process, replayed by ``pgbench`` at the same concurrency: one transaction per transition,
   each client on its own case (the version check kept as ``version = version + 1`` so every replay writes);
4. the figures: requests/s, p50 and p99 latency, pgbench TPS, and the ratio; and the CPU each transition costs
   the API's processes, PostgreSQL's and the bench's own clients, through the API and under pgbench (from
   ``/proc``: where the ratio comes from);
5. what a ratio of 0.5 would leave the API: the CPU per transition its processes may spend at half pgbench's rate
   on this machine's cores, beside the CPU the API's driver alone (psycopg, no HTTP, no framework, no rules)
   spends sending pgbench's statements, one transition after another on one connection. Prints figures only.

Usage: ``.venv/bin/python bench/api_bench.py [--concurrency 8] [--duration 10] [--workers N]``
(``KETNOI_BENCH_PG_ADMIN_URL`` names the server, default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.db import transaction  # noqa: E402
from engine.reference import load_reference  # noqa: E402
from engine.schema import upgrade  # noqa: E402
from engine.settings import Settings  # noqa: E402
from engine.users import add_user  # noqa: E402
from flows.serve import descendant_pids  # noqa: E402
from ketnoi.bootstrap import Container  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "ketnoi" / "demo"
ADMIN_URL = os.environ.get("KETNOI_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + "k" * 40
LOGIN, PASSWORD = "lan@bench", "mat-khau-bench"
CAPTURE_CASE_ID = 700_001  # a case id no other number in the captured statements can be mistaken for
CHILD = {"full_name": "Trẻ Thử Nghiệm", "date_of_birth": "2019-01-01", "sex": "male", "commune_code": "05443",
         "disability_types": ["mobility"], "severity": "mild", "confirm_duplicate": True}
CONSENT = {"action": "record_consent", "payload": {"given_by": "guardian", "name": "Người giám hộ",
                                                   "domains": ["health"]}}


def db_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def admin_sql(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def prepare(url: str) -> Container:
    upgrade(url)
    container = Container(Settings(environment="test", database_url=url, secret_key=SECRET))
    with transaction(container.db) as session:
        load_reference(session, DEMO)
        add_user(session, login=LOGIN, password=PASSWORD, role="caseworker", unit_code="05443")
    return container


def sign_in(http: httpx.Client) -> dict[str, str]:
    token = http.post("/api/v1/auth/token", data={"username": LOGIN, "password": PASSWORD})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def verified_case(http: httpx.Client, auth: dict[str, str]) -> tuple[int, str]:
    child = http.post("/api/v1/children", json=CHILD, headers=auth).json()
    case = http.post("/api/v1/cases", json={"child_id": child["id"], "source": "school"}, headers=auth)
    case_id = case.json()["id"]
    verified = http.post(f"/api/v1/cases/{case_id}/transitions", headers={**auth, "If-Match": case.headers["etag"]},
                         json={"action": "verify", "payload": {"urgency": "normal", "assessment": "bench"}})
    verified.raise_for_status()
    return case_id, verified.headers["etag"]


def start_server(url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    """``ketnoi serve --no-flows --workers N``, as it is deployed (its log goes to a file, read on failure)."""
    env = {**os.environ, "KETNOI_DATABASE_URL": url, "KETNOI_ENVIRONMENT": "test", "KETNOI_SECRET_KEY": SECRET,
           "PYTHONPATH": str(ROOT)}
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ketnoi.cli import app; app()", "serve", "--no-flows", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    log.seek(0)
    raise RuntimeError("ketnoi serve did not start:\n" + log.read().decode(errors="replace")[-2000:])


class _Http:
    """A minimal HTTP/1.1 keep-alive client on one asyncio stream: the bench's own CPU stays out of the way.

    httpx costs about 1.4 ms of CPU per request, on the same two cores as the server and the database; this
    costs a tenth of that. Enough HTTP for these requests: Content-Length bodies, no redirects, no chunking.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def connect(cls, base: str) -> _Http:
        url = urlsplit(base)
        reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
        return cls(reader, writer, url.netloc)

    async def request(self, method: str, path: str, headers: dict[str, str],
                      body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", *(f"{k}: {v}" for k, v in headers.items())]
        if body or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        found: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            found[name.strip().lower()] = value.strip()
        if "content-length" not in found:
            raise RuntimeError(f"response without Content-Length: {status_line!r} {found}")
        return status, found, await self.reader.readexactly(int(found["content-length"]))

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def drive(base: str, auth: dict[str, str], cases: list[tuple[int, str]], duration: float,
                warmup: float, meter: CpuMeter | None = None) -> tuple[int, list[float], int]:
    """Each client loops on its own case until time is up: (transitions done, latencies in s, errors).

    Each response is checked: a 200 must carry the next ETag (kept for the next If-Match); anything else
    counts as refused and the client reads the case again for its current ETag.
    """
    latencies: list[float] = []
    done = errors = 0
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + duration
    body = json.dumps(CONSENT).encode()

    async def client(index: int, case_id: int, etag: str) -> None:
        nonlocal done, errors
        # Connections arrive one by one during the warm-up, as they do in service: with several worker
        # processes on one socket, a process accepts every connection waiting when it wakes, so eight
        # opened at once would all land on one process and leave the others idle.
        await asyncio.sleep(index * warmup / (2 * len(cases)))
        http = await _Http.connect(base)
        path = f"/api/v1/cases/{case_id}/transitions"
        try:
            while (now := time.monotonic()) < stop_at:
                status, headers, _ = await http.request("POST", path, {**auth, "If-Match": etag}, body)
                elapsed = time.monotonic() - now
                if status == 200 and "etag" in headers:
                    etag = headers["etag"]
                    if now >= measure_from:
                        done += 1
                        latencies.append(elapsed)
                else:
                    errors += 1
                    status, headers, _ = await http.request("GET", f"/api/v1/cases/{case_id}", auth)
                    if status != 200:
                        raise RuntimeError(f"reading case {case_id} gave {status}")
                    etag = headers["etag"]
        finally:
            await http.close()

    async def measure() -> None:
        if meter is not None:
            await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
            meter.start()
            while time.monotonic() < stop_at:
                await asyncio.sleep(0.5)
                await asyncio.to_thread(meter.sample)  # reading /proc off the clients' loop

    await asyncio.gather(measure(), *(client(index, case_id, etag) for index, (case_id, etag) in enumerate(cases)))
    return done, latencies, errors


def capture_statements(container: Container, auth_login: str) -> list[tuple[str, dict[str, Any]]]:
    """The statements the app issues for one transition, handled in-process on case CAPTURE_CASE_ID."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with container.db.begin() as conn:
        conn.execute(sa.text(f"ALTER SEQUENCE case_file_id_seq RESTART WITH {CAPTURE_CASE_ID}"))
    client = TestClient(create_app(container))
    auth = sign_in(client)  # type: ignore[arg-type]
    case_id, etag = verified_case(client, auth)  # type: ignore[arg-type]
    assert case_id == CAPTURE_CASE_ID, case_id
    caught: list[tuple[str, dict[str, Any]]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        caught.append((statement, dict(params or {})))

    sa.event.listen(container.db, "before_cursor_execute", listen)
    try:
        response = client.post(f"/api/v1/cases/{case_id}/transitions", json=CONSENT,
                               headers={**auth, "If-Match": etag})
        response.raise_for_status()
    finally:
        sa.event.remove(container.db, "before_cursor_execute", listen)
    return caught


def pgbench_script(url: str, statements: list[tuple[str, dict[str, Any]]], first_case: int, clients: int) -> str:
    """Literal SQL of one transition; the case id becomes ``:case_id`` (one case per client)."""
    lines = [f"\\set case_id {first_case} + (:client_id % {clients})", "BEGIN;"]
    with psycopg.connect(url) as conn:
        cursor = psycopg.ClientCursor(conn)
        for statement, params in statements:
            marked = {}
            case_update = statement.lstrip().upper().startswith("UPDATE CASE_FILE")
            for key, value in params.items():
                if value == CAPTURE_CASE_ID and isinstance(value, int):
                    value = "__CASE__"
                elif case_update and key == "version":
                    value = "__NEWVERSION__"
                elif case_update and re.search(rf"case_file\.version = %\({re.escape(key)}\)s", statement):
                    value = "__OLDVERSION__"  # the version check's parameter, whatever its name
                marked[key] = value
            sql = cursor.mogrify(statement, marked)
            sql = re.sub(r"'__CASE__'(::\w+)?", ":case_id", sql)
            sql = re.sub(r"'__NEWVERSION__'(::\w+)?", "case_file.version + 1", sql)
            sql = re.sub(r"case_file\.version = '__OLDVERSION__'(::\w+)?", "true", sql)
            lines.append(" ".join(sql.split()) + ";")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def run_pgbench(url: str, script: str, clients: int, duration: int) -> tuple[float, float]:
    """pgbench's transactions per second, and the CPU seconds PostgreSQL used meanwhile."""
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        raise RuntimeError("pgbench is not installed")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    meter = CpuMeter(set())
    meter.start()
    try:
        run = subprocess.Popen(
            [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 2)),
             "-T", str(duration), "-f", handle.name, url.replace("postgresql+psycopg://", "postgresql://")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        while run.poll() is None:
            time.sleep(0.2)
            meter.sample()
        out, err = run.communicate()
        if run.returncode != 0:
            raise RuntimeError(f"pgbench failed: {err}")
    finally:
        os.unlink(handle.name)
    _api, pg_cpu = meter.stop()
    found = re.search(r"tps = ([\d.]+)", out)
    if found is None:
        raise RuntimeError(out)
    return float(found.group(1)), pg_cpu


def driver_floor(url: str, script: str, case_id: int, seconds: float = 3.0) -> float:
    """CPU seconds this process spends per transition sending pgbench's statements through psycopg, and nothing
    else: one connection, one transition after another, the same round trips (BEGIN, the statements, COMMIT).

    The least an API in Python on this driver can spend per transition, before HTTP, routing, authentication,
    validation, the rules and JSON.
    """
    lines = [line.rstrip(";").replace(":case_id", str(case_id))
             for line in script.splitlines() if line and not line.startswith("\\")]
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(50):  # warm-up: connection caches, the server's plans
            for line in lines:
                conn.execute(line)  # type: ignore[arg-type]
        done, started, stop_at = 0, time.process_time(), time.monotonic() + seconds
        while time.monotonic() < stop_at:
            for line in lines:
                conn.execute(line)  # type: ignore[arg-type]
            done += 1
        return (time.process_time() - started) / done


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far (Linux ``/proc``), or None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15 of stat


def postgres_pids() -> set[int]:
    """Every process of the PostgreSQL server on this machine (backends, writers, WAL), by command name."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """The CPU used by the API's processes and by PostgreSQL's between ``start`` and ``stop``.

    Sampled (``sample``) while the work runs: a backend that starts and ends in between (pgbench's connections)
    counts up to its last sample, so a run is measured within one sampling interval.
    """

    def __init__(self, api_pids: set[int]) -> None:
        self.api_pids = api_pids
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.own_from = 0.0
        self.own = 0.0

    def _read(self) -> dict[int, float]:
        now = {}
        for pid in self.api_pids | postgres_pids():
            if (used := cpu_seconds(pid)) is not None:
                now[pid] = used
        return now

    def start(self) -> None:
        self.first = self._read()
        self.last = dict(self.first)
        self.own_from = time.process_time()

    def sample(self) -> None:
        self.last.update(self._read())

    def stop(self) -> tuple[float, float]:
        """CPU seconds used meanwhile: (the API's processes, PostgreSQL's); this process's own in ``own``."""
        self.sample()
        self.own = time.process_time() - self.own_from
        used = {pid: last - self.first.get(pid, 0.0) for pid, last in self.last.items()}
        api = sum(v for pid, v in used.items() if pid in self.api_pids)
        return api, sum(used.values()) - api


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=int, default=10, help="seconds measured (after a 2 s warm-up)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="uvicorn worker processes (default: one per core)")
    args = parser.parse_args()

    name = f"ketnoi_bench_api_{uuid.uuid4().hex[:8]}"
    admin_sql(f'CREATE DATABASE "{name}"')
    url = db_url(name)
    server: subprocess.Popen[bytes] | None = None
    container: Container | None = None
    try:
        container = prepare(url)
        server = start_server(url, args.port, args.workers)
        base = f"http://127.0.0.1:{args.port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            auth = sign_in(http)
            cases = [verified_case(http, auth) for _ in range(args.concurrency)]
        meter = CpuMeter({server.pid} | descendant_pids({server.pid}))
        done, latencies, errors = asyncio.run(drive(base, auth, cases, args.duration, warmup=2.0, meter=meter))
        api_cpu, api_pg_cpu = meter.stop()
        client_cpu = meter.own
        server.terminate()
        server.wait(timeout=20)
        server = None

        statements = capture_statements(container, LOGIN)
        script = pgbench_script(url, statements, cases[0][0], args.concurrency)
        tps, pgbench_pg_cpu = run_pgbench(url, script, args.concurrency, args.duration)
        floor = driver_floor(url, script, cases[0][0])

        api_rate = done / args.duration
        print(f"concurrency            {args.concurrency} clients, {args.duration} s measured, "
              f"{args.workers} uvicorn worker{'s' if args.workers > 1 else ''}")
        print(f"statements/transition  {len(statements)} (captured; pgbench replays them in one transaction)")
        print(f"API transitions/s      {api_rate:,.0f}  ({done} done, {errors} refused)")
        print(f"API latency            p50 {percentile(latencies, 50) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.1f} ms")
        print(f"pgbench TPS            {tps:,.0f}  (same statements, same concurrency)")
        print(f"ratio API / database   {api_rate / tps:.2f}")
        # where the machine's CPU goes per transition: the ratio can reach 0.5 only if the API's own work costs
        # no more than the database's
        per = 1000 / max(done, 1)
        print(f"CPU per transition     API processes {api_cpu * per:.1f} ms + PostgreSQL {api_pg_cpu * per:.1f} ms "
              f"+ bench clients {client_cpu * per:.1f} ms through the API; PostgreSQL "
              f"{pgbench_pg_cpu * 1000 / max(tps * args.duration, 1):.1f} ms under pgbench")
        # At half pgbench's rate the machine's cores give each transition cores / rate of CPU; PostgreSQL's share
        # and the clients' (as measured through the API) leave the rest to the API's processes.
        cores = os.cpu_count() or 1
        budget = cores * 1000 / (0.5 * tps) - (api_pg_cpu + client_cpu) * per
        print(f"ratio 0.5 leaves       {budget:.1f} ms of CPU per transition to the API's processes "
              f"({cores} cores at {0.5 * tps:,.0f} transitions/s)")
        print(f"driver alone           {floor * 1000:.1f} ms of CPU per transition: psycopg sending these statements, "
              "no HTTP, no framework, no rules")
        print(f"load average           {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if server is not None:  # SIGTERM: the supervisor stops its API processes (SIGKILL would leave them)
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if container is not None:
            container.dispose()
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
