"""The outbox: notifications written in the transaction that causes them, delivered later.

A transition (or the deadline sweep) writes one row per recipient with a dedupe key, the template, the
recipient's language and a context that a template can render without touching the database. Delivery
(``notifications.delivery``) sends rows later, outside any transaction. The context holds a case reference
and the child's initials — never the child's full name or the diagnosis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from engine.db import utcnow
from engine.models import Agency, Case, Child, Deadline, Event, Outbox, Referral, ServiceType, Task, User
from engine.text import initials

RECIPIENT_KINDS = ("agency", "user", "unit_role")
TEMPLATES = (
    "referral_requested",
    "reminder_before_due",
    "due_today",
    "overdue",
    "escalation",
    "referral_rejected",
    "referral_completed",
    "referral_cancelled",
    "care_plan_awaiting_approval",
    "daily_digest",
    "report_ready",
)
# Status of a row waiting for its agency's daily digest instead of being sent on its own.
DIGEST_STATUS = "digest"
# Final status of a held row when the day's digest had nothing left to say (what the row announced was dealt with
# before the digest's hour), so no digest was sent: never sent, on purpose. A digest that is sent absorbs its
# held rows as ``digested``.
DIGEST_SKIPPED_STATUS = "skipped"


def enqueue(
    session: Session,
    *,
    template: str,
    recipient_kind: str,
    recipient_ref: str,
    dedupe_key: str,
    context: dict[str, Any],
    language: str | None = None,
    addresses: list[str] | None = None,
    case_id: int | None = None,
    referral_id: int | None = None,
    agency_code: str | None = None,
    now: datetime | None = None,
    digest: bool | None = None,
) -> bool:
    """Write one notification unless its dedupe key exists already; True if a row was written.

    ``language`` None takes the recipient's (agency or user), Vietnamese otherwise. ``digest`` None follows
    the agency's choice for agency recipients (rows then wait for the daily digest); False sends on its own.
    """
    if recipient_kind not in RECIPIENT_KINDS:
        raise ValueError(f"recipient_kind must be one of {RECIPIENT_KINDS}")
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    now = now or utcnow()
    agency = session.get(Agency, recipient_ref) if recipient_kind == "agency" else None
    if language is None:
        language = _recipient_language(session, recipient_kind, recipient_ref, agency)
    if digest is None:
        digest = agency_wants_digest(agency) if agency is not None else False
    if recipient_kind == "agency" and agency_code is None:
        agency_code = recipient_ref
    values = {
        "dedupe_key": dedupe_key,
        "template": template,
        "language": language,
        "recipient_kind": recipient_kind,
        "recipient_ref": recipient_ref,
        "addresses": list(addresses or []),
        "context": context,
        "case_id": case_id,
        "referral_id": referral_id,
        "agency_code": agency_code,
        "status": DIGEST_STATUS if digest else "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Outbox).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(col(Outbox.id))
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped conflicting insert.
    return session.execute(stmt).scalar() is not None


def agency_wants_digest(agency: Agency) -> bool:
    """The agency's own choice, else the deadline policy's ``digest_default``."""
    if agency.digest is not None:
        return bool(agency.digest)
    from engine.policy import current_policy  # late: the policy file is read on first use, never at import

    return current_policy().digest_default


def wants_digest_sql(own_choice: Any) -> sa.ColumnElement[bool]:
    """``agency_wants_digest`` in SQL, for an agency's ``digest`` column (or an expression standing for it)."""
    from engine.policy import current_policy  # late: the policy file is read on first use, never at import

    return sa.func.coalesce(own_choice, sa.literal(current_policy().digest_default, sa.Boolean), type_=sa.Boolean)


def _recipient_language(session: Session, kind: str, ref: str, agency: Agency | None) -> str:
    if agency is not None:
        return agency.language or "vi"
    if kind == "user" and ref.isdigit():
        user = session.get(User, int(ref))
        if user is not None:
            return user.language or "vi"
    return "vi"


# --- what transitions cause ---------------------------------------------------------------------


def case_context(session: Session, case: Case) -> dict[str, Any]:
    """What any message about a case may say: its reference, the child's initials and its page."""
    child = session.get(Child, case.child_id)
    return {
        "case_id": case.id,
        "case_ref": case.reference,
        "child_initials": initials(child.full_name) if child else "",
        "unit_code": case.unit_code,
        "link_path": f"/cases/{case.id}",
    }


def referral_context(session: Session, referral: Referral, case: Case) -> dict[str, Any]:
    context = case_context(session, case)
    service = session.get(ServiceType, referral.service_code)
    agency = session.get(Agency, referral.agency_code)
    context.update(
        {
            "referral_id": referral.id,
            "referral_ref": f"REF-{referral.id}",
            "service_code": referral.service_code,
            "service_name_vi": service.name_vi if service else referral.service_code,
            "service_name_en": service.name_en if service else referral.service_code,
            "agency_code": referral.agency_code,
            "agency_name_vi": agency.name_vi if agency else referral.agency_code,
            "agency_name_en": (agency.name_en or agency.name_vi) if agency else referral.agency_code,
            "state": referral.state,
            "reason_code": referral.reason_code,
            "reason_text": referral.reason_text,  # the agency's own words (required with reason 'other')
            "outcome": referral.outcome,
            "link_path": f"/referrals/{referral.id}",
        }
    )
    due = _referral_due(session, referral)
    if due is not None:
        context["due_at"] = due.isoformat()
    return context


def _referral_due(session: Session, referral: Referral) -> datetime | None:
    """The due time of the referral's open clock, else of its open task."""
    deadline_due = session.execute(
        sa.select(sa.func.min(col(Deadline.due_at))).where(
            col(Deadline.referral_id) == referral.id, col(Deadline.closed_at).is_(None)
        )
    ).scalar()
    if deadline_due is not None:
        return _aware(deadline_due)
    task_due = session.execute(
        sa.select(sa.func.min(col(Task.due_at))).where(
            col(Task.referral_id) == referral.id, col(Task.closed_at).is_(None)
        )
    ).scalar()
    return _aware(task_due) if task_due is not None else None


def _ended_clock_due(session: Session, referral: Referral, at: datetime) -> datetime | None:
    """The due time of the referral's clock that closed at ``at`` (the transition that just ended it)."""
    due = session.execute(
        sa.select(sa.func.min(col(Deadline.due_at))).where(
            col(Deadline.referral_id) == referral.id, col(Deadline.closed_at) == at
        )
    ).scalar()
    return _aware(due) if due is not None else None


def _aware(value: Any) -> datetime | None:
    """``min()`` bypasses the column type on SQLite: parse text and make naive values UTC."""
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def _case_owner(case: Case) -> tuple[str, str]:
    """The case's owner, or the caseworkers of its unit when nobody owns it."""
    if case.owner_id is not None:
        return "user", str(case.owner_id)
    return "unit_role", f"{case.unit_code}:caseworker"


def on_case_event(session: Session, case: Case, event: Event) -> None:
    """Write the notifications a case transition causes (a care plan awaiting a supervisor's approval)."""
    if event.to_state == "plan_awaiting_approval" and event.from_state != event.to_state:
        context = case_context(session, case)
        task_due = session.execute(
            sa.select(sa.func.min(col(Task.due_at))).where(
                col(Task.case_id) == case.id, col(Task.referral_id).is_(None), col(Task.closed_at).is_(None)
            )
        ).scalar()
        due = _aware(task_due) if task_due is not None else None
        if due is not None:
            context["due_at"] = due.isoformat()
        ref = f"{case.unit_code}:supervisor"
        enqueue(
            session, template="care_plan_awaiting_approval", recipient_kind="unit_role", recipient_ref=ref,
            dedupe_key=f"ev:{event.id}:unit_role:{ref}", context=context, case_id=case.id, now=event.at,
        )


# referral state entered → (template, who is told)
_REFERRAL_NOTICES: dict[str, tuple[str, str]] = {
    "requested": ("referral_requested", "agency"),
    "rejected": ("referral_rejected", "owner"),
    "failed": ("referral_rejected", "owner"),
    "completed": ("referral_completed", "owner"),
    "cancelled": ("referral_cancelled", "agency"),
}


def on_referral_event(session: Session, referral: Referral, case: Case, event: Event) -> None:
    """Write the notifications a referral transition causes (requested, rejected, failed, completed, and
    cancelled once the agency had it)."""
    notice = _REFERRAL_NOTICES.get(event.to_state or "")
    if notice is None or event.from_state == event.to_state:
        return
    if event.to_state == "cancelled" and event.from_state == "draft":
        return  # the agency never received it: nothing to call off
    template, audience = notice
    context = referral_context(session, referral, case)
    if event.to_state == "failed":
        context["failed"] = True
    if event.to_state == "cancelled":
        # The agency stops: the time it had to act by no longer applies. The sender's own words stay with the case.
        context.pop("reason_text", None)
        ended = _ended_clock_due(session, referral, event.at)
        if ended is not None:
            context["due_at"] = ended.isoformat()
    if audience == "agency":
        if referral.assignee_id is not None:
            kind, ref = "user", str(referral.assignee_id)
        else:
            kind, ref = "agency", referral.agency_code
    else:
        kind, ref = _case_owner(case)
    enqueue(
        session, template=template, recipient_kind=kind, recipient_ref=ref, dedupe_key=f"ev:{event.id}:{kind}:{ref}",
        context=context, case_id=case.id, referral_id=referral.id, agency_code=referral.agency_code, now=event.at,
        # a call-off goes out at once even to an agency on the daily digest: it must stop using the child's data
        digest=False if event.to_state == "cancelled" else None,
    )
