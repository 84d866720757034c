"""The daily digest: one message a day for agencies that chose it, instead of one message per event.

It lists the referrals waiting on the agency and what is overdue, and absorbs the rows that waited for it
(status ``digest``), which become ``digested``. Its dedupe key ``digest:<agency>:<date>`` makes it once a day
however often the delivery flow runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.models import Agency, Case, Deadline, Outbox, Referral
from engine.outbox import DIGEST_STATUS, agency_wants_digest, enqueue, referral_context

VIETNAM_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
DIGEST_HOUR = 7  # local time; a local choice
WAITING_STATES = ("requested",)
DIGEST_FIELDS = ("referral_id", "referral_ref", "case_ref", "child_initials", "service_name_vi", "service_name_en",
                 "due_at", "link_path")


def _item(session: Session, referral: Referral) -> dict[str, Any]:
    case = session.get(Case, referral.case_id)
    assert case is not None
    context = referral_context(session, referral, case)
    return {k: context.get(k) for k in DIGEST_FIELDS}


def build_digests(session: Session, now: datetime, *, digest_hour: int = DIGEST_HOUR) -> int:
    """Write today's digest for each agency that chose one and has something to say; the number written."""
    local = now.astimezone(VIETNAM_TIME)
    if local.hour < digest_hour:
        return 0
    written = 0
    today = local.date().isoformat()
    # The flow runs every minute: agencies whose digest for today exists already are skipped in one query.
    done = set(session.execute(
        sa.select(col(Outbox.agency_code)).where(col(Outbox.template) == "daily_digest",
                                                 col(Outbox.dedupe_key).like(f"digest:%:{today}"))
    ).scalars())
    for agency in session.exec(select(Agency).where(col(Agency.status) != "defunct").order_by(col(Agency.code))).all():
        if agency.code in done or not agency_wants_digest(agency):
            continue
        waiting_rows = sa.and_(col(Outbox.agency_code) == agency.code, col(Outbox.status) == DIGEST_STATUS,
                               col(Outbox.created_at) <= now)
        held = session.execute(sa.select(sa.func.count()).select_from(Outbox).where(waiting_rows)).scalar_one()
        pending = session.exec(
            select(Referral).where(col(Referral.agency_code) == agency.code,
                                   col(Referral.state).in_(WAITING_STATES))
            .order_by(col(Referral.id))
        ).all()
        overdue = session.exec(
            select(Referral).join(Deadline, col(Deadline.referral_id) == col(Referral.id))
            .where(col(Referral.agency_code) == agency.code, col(Deadline.closed_at).is_(None),
                   col(Deadline.paused_at).is_(None),  # a clock stopped on hold is not late (as the sweep)
                   col(Deadline.due_at) < now)
            .distinct().order_by(col(Referral.id))
        ).all()
        if not (held or pending or overdue):
            continue
        context = {
            "agency_code": agency.code, "agency_name_vi": agency.name_vi,
            "agency_name_en": agency.name_en or agency.name_vi, "date": today,
            "pending": [_item(session, r) for r in pending], "overdue": [_item(session, r) for r in overdue],
            "held": held, "link_path": "/referrals/inbox",
        }
        if enqueue(session, template="daily_digest", recipient_kind="agency", recipient_ref=agency.code,
                   dedupe_key=f"digest:{agency.code}:{today}", context=context,
                   agency_code=agency.code, now=now, digest=False):
            written += 1
            session.execute(sa.update(Outbox).where(waiting_rows).values(status="digested"))
    return written
