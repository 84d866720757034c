"""Retention: stored idempotent responses (which may hold a child's record) are deleted after a day, sign-in
attempts (a login and a client address) after 30 days."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.db import transaction, utcnow
from engine.models import IdempotencyRecord, LoginAttempt
from engine.retention import IDEMPOTENCY_RETENTION, LOGIN_ATTEMPT_RETENTION, purge_expired
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
        assert purge_expired(s, utcnow()) == {"idempotency_record": 1, "login_attempt": 0}
    assert _keys(db) == {"young"}
    with transaction(db) as s:  # a re-run finds nothing more
        assert purge_expired(s, utcnow()) == {"idempotency_record": 0, "login_attempt": 0}
    assert _keys(db) == {"young"}


def test_the_sweep_flow_step_purges_by_the_real_clock(db: Engine) -> None:
    from flows.sweep import purge_after_sweep

    _record(db, "old", timedelta(days=3))
    _record(db, "fresh", timedelta(minutes=5))
    assert purge_after_sweep(db) == {"idempotency_record": 1, "login_attempt": 0}
    assert _keys(db) == {"fresh"}


def test_sign_in_attempts_older_than_30_days_are_purged_with_their_addresses(db: Engine) -> None:
    now = utcnow()
    with transaction(db) as s:
        for login, age in (("old", LOGIN_ATTEMPT_RETENTION + timedelta(hours=1)),
                           ("recent", LOGIN_ATTEMPT_RETENTION - timedelta(hours=1))):
            s.add(LoginAttempt(login=login, at=now - age, ok=False, ip="203.0.113.7"))
    with transaction(db) as s:
        assert purge_expired(s, now) == {"idempotency_record": 0, "login_attempt": 1}
    with transaction(db) as s:
        assert list(s.execute(sa.select(LoginAttempt.login)).scalars()) == ["recent"]
        assert purge_expired(s, now) == {"idempotency_record": 0, "login_attempt": 0}
