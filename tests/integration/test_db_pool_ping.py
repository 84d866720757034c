"""The PostgreSQL pool tests a connection (a round trip) only when it has sat idle: a dead one is replaced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import engine.db
from engine.db import make_engine


@pytest.fixture
def pool(pg_url: str) -> Iterator[Engine]:
    db = make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        yield db
    finally:
        db.dispose()


def _backend_pid(db: Engine) -> int:
    with db.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    assert isinstance(pid, int)
    return pid


def _terminate(url: str, pid: int) -> None:
    killer = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with killer.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
    finally:
        killer.dispose()


def test_an_idle_connection_that_died_is_replaced_before_use(pool: Engine, pg_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = _backend_pid(pool)
    _terminate(pg_url, first)
    monkeypatch.setattr(engine.db, "PING_WHEN_IDLE_FOR", 0.0)  # it has been idle long enough to be tested
    assert _backend_pid(pool) != first


def test_a_connection_used_moments_ago_is_not_tested_again(pool: Engine, pg_url: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No round trip for it; had it died meanwhile, its request fails and the pool renews its connections."""
    first = _backend_pid(pool)
    _terminate(pg_url, first)
    monkeypatch.setattr(engine.db, "PING_WHEN_IDLE_FOR", 3600.0)
    with pytest.raises(sa.exc.OperationalError):
        _backend_pid(pool)
    assert _backend_pid(pool) != first
