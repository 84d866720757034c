"""Retention: stored idempotent responses (which may hold a child's record) are deleted after a day."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow
from engine.models import IdempotencyRecord
from engine.retention import IDEMPOTENCY_RETENTION, purge_expired
from tests.support.people import make_user


def _record(db: Engine, key: str, age: timedelta) -> None:
    user = make_user(db, f"u-{key}", "caseworker")
    with transaction(db) as s:
        s.add(IdempotencyRecord(key=key, user_id=user.user_id, method="POST", path="/x#h", status_code=201,
                                body='{"full_name": "Trần Văn Minh"}', created_at=utcnow() - age))


def _keys(db: Engine) -> set[str]:
    with transaction(db) as s:
        return set(s.execute(sa.select(IdempotencyRecord.key)).scalars())


def test_records_older_than_a_day_are_purged_once_and_younger_ones_kept(db: Engine) -> None:
    _record(db, "old", IDEMPOTENCY_RETENTION + timedelta(minutes=1))
    _record(db, "young", IDEMPOTENCY_RETENTION - timedelta(hours=1))
    with transaction(db) as s:
        assert purge_expired(s, utcnow()) == {"idempotency_record": 1}
    assert _keys(db) == {"young"}
    with transaction(db) as s:  # a re-run finds nothing more
        assert purge_expired(s, utcnow()) == {"idempotency_record": 0}
    assert _keys(db) == {"young"}


def test_the_sweep_flow_step_purges_by_the_real_clock(db: Engine) -> None:
    from flows.sweep import purge_after_sweep

    _record(db, "old", timedelta(days=3))
    _record(db, "fresh", timedelta(minutes=5))
    assert purge_after_sweep(db) == {"idempotency_record": 1}
    assert _keys(db) == {"fresh"}
