"""Shared fixtures: real databases built by running the migrations, never ``create_all``.

``db`` is parametrised over a real PostgreSQL (a fresh database per test, cloned from a migrated,
reference-loaded template) and a real SQLite file (a copy of a migrated template file). Tests create and
drop their own databases and never touch anything else.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

# Test users are hashed with argon2's cheapest parameters (engine/users.py); production keeps RFC 9106's.
os.environ.setdefault("KETNOI_PASSWORD_HASHING", "fast-for-tests")

from sqlalchemy.engine import Engine

from engine.db import make_engine, transaction
from engine.reference import load_reference
from engine.schema import upgrade
from tests.support.notification_receivers import MailBox, WebhookReceiver

PG_ADMIN_URL = os.environ.get("KETNOI_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DEMO_REFERENCE = Path(__file__).resolve().parent.parent / "ketnoi" / "demo"
RUN_ID = uuid.uuid4().hex[:8]


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


def _admin() -> Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _prepare(url: str) -> None:
    upgrade(url)
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with transaction(engine) as session:
            load_reference(session, DEMO_REFERENCE)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"ketnoi_test_tpl_{RUN_ID}"
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        _prepare(_pg_url(name))
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite_template") / "template.sqlite3"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database (migrated, reference data loaded) for one test."""
    name = f"ketnoi_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite file (migrated, reference data loaded) for one test."""
    path = tmp_path / "ketnoi.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    try:
        yield engine
    finally:
        engine.dispose()


# --- real receivers for notifications: an SMTP server and an HTTP webhook on free local ports -----------------


@pytest.fixture
def mailbox() -> Iterator[MailBox]:
    box = MailBox().start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
