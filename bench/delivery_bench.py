"""Delivery throughput: messages per second through apprise to a local SMTP server and a local webhook.

Run: ``.venv/bin/python bench/delivery_bench.py [--messages 1000] [--concurrency 1,4,8,16] [--db-url URL]``

The receivers run in their own processes (aiosmtpd's Sink, and a threaded http.server answering 200), so the
figures measure the sender: claim, render, send with apprise from a thread pool, mark. The database is a fresh
SQLite file by default, or a fresh PostgreSQL database created (and dropped) next to ``--pg-admin-url``.
Goal: at least 100 messages per second to the local SMTP server.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.db import make_engine, transaction, utcnow  # noqa: E402
from engine.models import Agency, DeliveryAttempt, Outbox  # noqa: E402
from engine.outbox import enqueue  # noqa: E402
from engine.reference import load_reference  # noqa: E402
from engine.schema import upgrade  # noqa: E402
from notifications.delivery import deliver_all  # noqa: E402

WEBHOOK_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer.request_queue_size = 256
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def process(args: list[str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def database(pg_admin_url: str | None) -> Iterator[str]:
    if pg_admin_url is None:
        with tempfile.TemporaryDirectory(prefix="ketnoi-bench-") as folder:
            yield f"sqlite:///{folder}/bench.sqlite3"
        return
    name = f"ketnoi_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def fill(db: sa.engine.Engine, n: int, url: str, label: str) -> None:
    now = utcnow()
    with transaction(db) as s:
        s.execute(sa.delete(DeliveryAttempt))
        s.execute(sa.delete(Outbox))
        agency = s.get(Agency, "TYT-05443")
        assert agency is not None
        agency.notify_urls = [url]
        s.add(agency)
        for i in range(n):
            enqueue(s, template="referral_requested", recipient_kind="agency", recipient_ref="TYT-05443",
                    dedupe_key=f"bench:{label}:{i}", now=now - timedelta(seconds=1), digest=False,
                    context={"case_ref": f"KN-{i:06d}", "child_initials": "T.V.M.", "link_path": f"/referrals/{i}",
                             "service_name_vi": "Phục hồi chức năng", "service_name_en": "Rehabilitation",
                             "agency_name_vi": "Trạm Y tế phường Phan Đình Phùng",
                             "due_at": (now + timedelta(days=3)).isoformat(), "referral_ref": f"REF-{i}"})


def run(db: sa.engine.Engine, url: str, channel: str, n: int, concurrency: int, batch: int) -> None:
    fill(db, n, url, f"{channel}-{concurrency}")
    started = time.perf_counter()
    counts = deliver_all(db, utcnow(), batch=batch, concurrency=concurrency, max_rounds=10_000)
    elapsed = time.perf_counter() - started
    rate = counts.get("delivered", 0) / elapsed if elapsed else 0.0
    print(f"{channel:8} concurrency={concurrency:<3} batch={batch:<4} messages={n:<6} "
          f"delivered={counts.get('delivered', 0):<6} failed={counts.get('retry', 0) + counts.get('dead', 0):<4} "
          f"seconds={elapsed:7.2f}  msg/s={rate:8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,4,8,16", help="comma-separated list")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--pg-admin-url", default=None,
                        help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres (default: SQLite)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c]
    smtp_port, web_port = free_port(), free_port()
    python = sys.executable
    with database(args.pg_admin_url) as url, \
            process([python, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Sink"],
                    smtp_port), \
            process([python, "-c", WEBHOOK_SERVER, str(web_port)], web_port):
        upgrade(url)
        db = make_engine(url)
        with transaction(db) as s:
            load_reference(s, ROOT / "ketnoi" / "demo")
        print(f"database={url.split('://')[0]} cpu={os.cpu_count()} messages={args.messages}")
        try:
            for level in levels:
                run(db, f"mailto://127.0.0.1:{smtp_port}?from=noreply@ketnoi.local&to=tyt@example.vn",
                    "smtp", args.messages, level, args.batch)
            for level in levels:
                run(db, f"json://127.0.0.1:{web_port}/hook", "webhook", args.messages, level, args.batch)
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
