"""The daily digest: one message a day for agencies that chose it, instead of one message per event.

It lists the referrals waiting on the agency, what is overdue, and what a held reminder was about (a referral
still due soon), at most ``DIGEST_LIMIT`` of each (then how many more), and absorbs the rows that waited for it
(status ``digest``: new referral notices and the sweep's reminders), which become ``digested``. A day with
nothing left to list (everything held was dealt with before the digest's hour) sends no digest: the held rows
end ``skipped``. Its dedupe key ``digest:<agency>:<date>`` makes it once a day however often the delivery flow
runs.

Each agency's digest is written in its own short transaction (``write_digests``), with its items read in bulk.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from engine.db import UTCDateTime, transaction
from engine.models import Agency, Case, Child, Deadline, Outbox, Referral, ServiceType, Task
from engine.outbox import DIGEST_SKIPPED_STATUS, DIGEST_STATUS, enqueue, wants_digest_sql
from engine.text import initials
from referrals.lifecycle import AGENCY_STATES

log = logging.getLogger(__name__)

VIETNAM_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
DIGEST_HOUR = 7  # local time; a local choice
DIGEST_LIMIT = 50  # items listed per section; the rest are counted ("and N more")
WAITING_STATES = ("requested",)
REMINDER_TEMPLATES = ("reminder_before_due", "due_today", "overdue")  # the sweep's reminders an agency may hold
DIGEST_FIELDS = ("referral_id", "referral_ref", "case_ref", "child_initials", "service_name_vi", "service_name_en",
                 "due_at", "link_path")


def _today(now: datetime) -> str:
    return now.astimezone(VIETNAM_TIME).date().isoformat()


def _held(code: Any, now: datetime) -> sa.ColumnElement[bool]:
    """The agency's rows waiting for its digest."""
    return sa.and_(col(Outbox.agency_code) == code, col(Outbox.status) == DIGEST_STATUS,
                   col(Outbox.created_at) <= now)


def _late_clock(now: datetime) -> sa.ColumnElement[bool]:
    """The referral has a running clock past its due time (a clock stopped on hold is not late, as the sweep)."""
    return sa.exists().where(col(Deadline.referral_id) == col(Referral.id), col(Deadline.closed_at).is_(None),
                             col(Deadline.paused_at).is_(None), col(Deadline.due_at) < now)


def _running_clock(now: datetime) -> sa.ColumnElement[bool]:
    return sa.exists().where(col(Deadline.referral_id) == col(Referral.id), col(Deadline.closed_at).is_(None),
                             col(Deadline.paused_at).is_(None), col(Deadline.due_at) >= now)


def due_agencies(session: Session, now: datetime, *, digest_hour: int = DIGEST_HOUR) -> list[str]:
    """The agencies whose digest for today is due at ``now`` and not written yet, and that have something to
    tell or absorb (rows held, referrals waiting, or a late clock): one query, by code."""
    if now.astimezone(VIETNAM_TIME).hour < digest_hour:
        return []
    wants_digest = wants_digest_sql(col(Agency.digest))
    # The flow runs every minute: agencies whose digest for today exists already are left out.
    done = sa.select(col(Outbox.agency_code)).where(col(Outbox.template) == "daily_digest",
                                                    col(Outbox.dedupe_key).like(f"digest:%:{_today(now)}"))
    # only referrals still with the agency (an ended one has no clock): the (agency, state) index bounds the probe
    referrals = sa.select(col(Referral.id)).where(col(Referral.agency_code) == col(Agency.code),
                                                  col(Referral.state).in_(AGENCY_STATES))
    something = sa.or_(
        sa.exists().where(_held(col(Agency.code), now)),
        sa.exists(referrals.where(col(Referral.state).in_(WAITING_STATES))),
        sa.exists(referrals.where(_late_clock(now))),
    )
    return list(session.execute(
        sa.select(col(Agency.code))
        .where(col(Agency.status) != "defunct", wants_digest, col(Agency.code).not_in(done), something)
        .order_by(col(Agency.code))
    ).scalars())


def _section(session: Session, condition: sa.ColumnElement[bool]) -> tuple[list[int], int]:
    """The first ``DIGEST_LIMIT`` referral ids (by id) that meet ``condition`` and how many do: one query."""
    rows = session.execute(
        sa.select(col(Referral.id), sa.func.count().over()).where(condition).order_by(col(Referral.id))
        .limit(DIGEST_LIMIT)
    ).all()
    return [row[0] for row in rows], (rows[0][1] if rows else 0)


def _items(session: Session, ids: set[int]) -> dict[int, dict[str, Any]]:
    """What the digest says of each referral (the fields of ``engine.outbox.referral_context`` it shows), read in
    one query: the case reference, the child's initials, the service, the due time of its open clock (else of
    its open task) and its page."""
    if not ids:
        return {}
    clock_due = (sa.select(sa.func.min(col(Deadline.due_at)))
                 .where(col(Deadline.referral_id) == col(Referral.id), col(Deadline.closed_at).is_(None))
                 .scalar_subquery())
    task_due = (sa.select(sa.func.min(col(Task.due_at)))
                .where(col(Task.referral_id) == col(Referral.id), col(Task.closed_at).is_(None))
                .scalar_subquery())
    rows = session.execute(
        sa.select(col(Referral.id), col(Referral.service_code), Case, col(Child.full_name),
                  col(ServiceType.name_vi), col(ServiceType.name_en),
                  sa.type_coerce(sa.func.coalesce(clock_due, task_due), UTCDateTime))
        .join(Case, col(Case.id) == col(Referral.case_id))
        .outerjoin(Child, col(Child.id) == col(Case.child_id))
        .outerjoin(ServiceType, col(ServiceType.code) == col(Referral.service_code))
        .where(col(Referral.id).in_(sorted(ids)))
    ).all()
    items: dict[int, dict[str, Any]] = {}
    for referral_id, service_code, case, full_name, name_vi, name_en, due in rows:
        items[referral_id] = {
            "referral_id": referral_id, "referral_ref": f"REF-{referral_id}", "case_ref": case.reference,
            "child_initials": initials(full_name) if full_name else "",
            "service_name_vi": name_vi or service_code, "service_name_en": name_en or service_code,
            "due_at": due.isoformat() if due is not None else None, "link_path": f"/referrals/{referral_id}",
        }
    return items


def build_digest(session: Session, code: str, now: datetime) -> bool:
    """Write the agency's digest for today if it has something to list; True if one was written.

    With nothing to list (what was held was dealt with before the digest's hour), no digest is sent and the held
    rows end ``skipped``; a digest that is written absorbs them (``digested``).
    """
    agency = session.get(Agency, code)
    if agency is None:
        return False
    held_rows = _held(code, now)
    held, unlisted = session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(col(Outbox.referral_id).is_(None))).where(held_rows)
    ).one()
    mine = sa.and_(col(Referral.agency_code) == code, col(Referral.state).in_(AGENCY_STATES))  # still with it
    waiting = col(Referral.state).in_(WAITING_STATES)
    pending, pending_total = _section(session, sa.and_(mine, waiting))
    overdue, overdue_total = _section(session, sa.and_(mine, _late_clock(now)))
    # what a held reminder was about, still running and not late, unless listed as waiting already
    reminded = sa.select(col(Outbox.referral_id)).where(held_rows, col(Outbox.template).in_(REMINDER_TEMPLATES))
    due_soon, due_soon_total = _section(session, sa.and_(
        mine, ~waiting, col(Referral.id).in_(reminded), _running_clock(now), ~_late_clock(now)))
    if not (pending_total or overdue_total or due_soon_total or unlisted):
        # nothing to say; a held row that names no referral (its matter cannot be checked) keeps the digest
        if held:
            session.execute(sa.update(Outbox).where(held_rows).values(status=DIGEST_SKIPPED_STATUS))
        return False
    items = _items(session, {*pending, *overdue, *due_soon})
    today = _today(now)
    context = {
        "agency_code": agency.code, "agency_name_vi": agency.name_vi,
        "agency_name_en": agency.name_en or agency.name_vi, "date": today,
        "pending": [items[i] for i in pending if i in items], "pending_total": pending_total,
        "overdue": [items[i] for i in overdue if i in items], "overdue_total": overdue_total,
        "due_soon": [items[i] for i in due_soon if i in items], "due_soon_total": due_soon_total,
        "held": held, "link_path": "/referrals/inbox",
    }
    if not enqueue(session, template="daily_digest", recipient_kind="agency", recipient_ref=agency.code,
                   dedupe_key=f"digest:{agency.code}:{today}", context=context,
                   agency_code=agency.code, now=now, digest=False):
        return False  # another run wrote it (and absorbs the held rows)
    session.execute(sa.update(Outbox).where(held_rows).values(status="digested"))
    return True


def build_digests(session: Session, now: datetime, *, digest_hour: int = DIGEST_HOUR) -> int:
    """Write today's digest for each agency that chose one and has something to say, in ``session``; the number
    written."""
    return sum(build_digest(session, code, now) for code in due_agencies(session, now, digest_hour=digest_hour))


def release_held(session: Session) -> int:
    """Rows held for an agency that no longer takes a digest (it turned the digest off, or closed for good) go
    out as single messages: no digest would ever absorb them. One statement; the number released."""
    wants_digest = wants_digest_sql(col(Agency.digest))
    no_digest = sa.select(col(Agency.code)).where(sa.or_(~wants_digest, col(Agency.status) == "defunct"))
    released = session.connection().execute(
        sa.update(Outbox).where(col(Outbox.status) == DIGEST_STATUS, col(Outbox.agency_code).in_(no_digest))
        .values(status="pending")
    )
    return released.rowcount or 0


def write_digests(db: Engine, now: datetime, *, digest_hour: int = DIGEST_HOUR) -> int:
    """``build_digests`` with each agency's digest in its own short transaction (what the delivery flow and
    ``ketnoi deliver`` run): one agency's failure is logged and leaves the others' digests written, and delivery
    goes on (raising here would stop every message each minute while that agency's digest kept failing); the next
    run tries that agency again. First, rows held for agencies that no longer take a digest are released
    (``release_held``)."""
    with transaction(db) as session:
        release_held(session)
    with Session(db) as session:
        codes = due_agencies(session, now, digest_hour=digest_hour)
    written = 0
    for code in codes:
        try:
            with transaction(db) as session:
                written += build_digest(session, code, now)
        except Exception:  # the next run (a minute later) tries this agency again
            log.exception("daily digest of %s failed", code)
    return written
