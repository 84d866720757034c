"""The delivery log: what was sent about a case or to an agency, to whom, when, through which channel,
and what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.models import DeliveryAttempt, Outbox, Referral, User


@dataclass(frozen=True)
class AttemptEntry:
    at: datetime
    channel: str
    ok: bool
    error: str | None


@dataclass
class DeliveryLogEntry:
    outbox_id: int
    template: str
    recipient_kind: str
    recipient_ref: str
    language: str
    status: str
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    last_error: str | None
    case_id: int | None
    referral_id: int | None
    agency_code: str | None
    tries: list[AttemptEntry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "tries"}
        data["tries"] = [t.__dict__ for t in self.tries]
        return data


def _log(session: Session, condition: Any, limit: int) -> list[DeliveryLogEntry]:
    rows = session.exec(select(Outbox).where(condition).order_by(col(Outbox.created_at).desc(), col(Outbox.id).desc())
                        .limit(limit)).all()
    entries = {
        r.id: DeliveryLogEntry(
            outbox_id=r.id or 0, template=r.template, recipient_kind=r.recipient_kind, recipient_ref=r.recipient_ref,
            language=r.language, status=r.status, created_at=r.created_at, delivered_at=r.delivered_at,
            attempts=r.attempts, last_error=r.last_error, case_id=r.case_id, referral_id=r.referral_id,
            agency_code=r.agency_code,
        )
        for r in rows
    }
    if entries:
        tries = session.exec(
            select(DeliveryAttempt).where(col(DeliveryAttempt.outbox_id).in_(list(entries)))
            .order_by(col(DeliveryAttempt.at), col(DeliveryAttempt.id))
        ).all()
        for t in tries:
            entries[t.outbox_id].tries.append(AttemptEntry(at=t.at, channel=t.channel, ok=t.ok, error=t.error))
    return list(entries.values())


def delivery_log_for_case(session: Session, case_id: int, *, limit: int = 500) -> list[DeliveryLogEntry]:
    """Every notification about a case (and its referrals), newest first, with each try."""
    return _log(session, col(Outbox.case_id) == case_id, limit)


def delivery_log_for_agency(
    session: Session, agency_code: str, *, limit: int = 500, addressed_only: bool = False,
    where: sa.ColumnElement[bool] | None = None,
) -> list[DeliveryLogEntry]:
    """Every notification to an agency or about its referrals, newest first, with each try.

    ``addressed_only``: only what was sent to the agency itself or to one of its staff (what its own staff may
    see: not, say, the escalations about it sent to its supervisors); ``where`` narrows the rows further (a
    supervisor's area).
    """
    # Every row addressed to an agency carries its code in agency_code too (engine.outbox and the sweep both
    # write it so), so the one indexed condition finds them all.
    condition: sa.ColumnElement[bool] = col(Outbox.agency_code) == agency_code
    if not addressed_only:
        # and what was sent about its referrals to others (the sweep's reminders to the caseworker, escalations
        # to its supervisors), found through the referrals' cases (indexed) rather than a scan of the outbox
        about = (
            sa.select(col(Outbox.id))
            .join(Referral, sa.and_(col(Referral.case_id) == col(Outbox.case_id),
                                    col(Referral.id) == col(Outbox.referral_id)))
            .where(col(Referral.agency_code) == agency_code)
        )
        condition = col(Outbox.id).in_(sa.union(sa.select(col(Outbox.id)).where(condition), about))
    else:
        staff = sa.select(sa.cast(col(User.id), sa.String)).where(col(User.agency_code) == agency_code)
        condition = sa.and_(condition, sa.or_(
            sa.and_(col(Outbox.recipient_kind) == "agency", col(Outbox.recipient_ref) == agency_code),
            sa.and_(col(Outbox.recipient_kind) == "user", col(Outbox.recipient_ref).in_(staff)),
        ))
    return _log(session, condition if where is None else sa.and_(condition, where), limit)


def escalation_deliveries(session: Session, case_ids: set[int]) -> dict[tuple[int, int], dict[str, int]]:
    """For the cases given: how the notifications of each fired rung stand, by (deadline id, rung), counted by
    status. Read from the sweep's dedupe keys, ``esc:<deadline_id>:<rung>:<recipient kind>:<recipient>``."""
    if not case_ids:
        return {}
    rows = session.execute(
        sa.select(col(Outbox.dedupe_key), col(Outbox.status), sa.func.count())
        .where(col(Outbox.case_id).in_(sorted(case_ids)), col(Outbox.dedupe_key).startswith("esc:"))
        .group_by(col(Outbox.dedupe_key), col(Outbox.status))
    ).all()
    out: dict[tuple[int, int], dict[str, int]] = {}
    for key, status, count in rows:
        _, deadline_id, rung, _rest = key.split(":", 3)
        by_status = out.setdefault((int(deadline_id), int(rung)), {})
        by_status[status] = by_status.get(status, 0) + count
    return out
