"""How long copies kept only for the machinery are kept (Law 91/2025: personal data no longer than needed).

An ``IdempotencyRecord`` holds the first response to a POST, which may be a child's whole record with a guardian's
phone number. It exists so that a client retrying after a lost answer gets that answer; a day covers any retry,
so after a day it is deleted (``purge_expired``, run after each deadline sweep). A replay after that is a new
request: a creation made twice is then refused by the engine's own rules (the duplicate check, the version).

A ``LoginAttempt`` holds a login and the client's address. Slowing down guessing needs 15 minutes of them; they are
kept 30 days so that a break-in can still be looked into, then deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from engine.models import IdempotencyRecord, LoginAttempt

IDEMPOTENCY_RETENTION = timedelta(hours=24)
LOGIN_ATTEMPT_RETENTION = timedelta(days=30)


def purge_expired(session: Session, now: datetime) -> dict[str, int]:
    """Delete what has outlived its retention (one set-based statement a table, by an index); counts by table."""
    conn = session.connection()
    responses = conn.execute(
        sa.delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < now - IDEMPOTENCY_RETENTION)
    ).rowcount
    attempts = conn.execute(
        sa.delete(LoginAttempt).where(col(LoginAttempt.at) < now - LOGIN_ATTEMPT_RETENTION)
    ).rowcount
    return {"idempotency_record": responses or 0, "login_attempt": attempts or 0}
