"""The overdue audit: what is late, who holds it and for how long — on any past day too.

An item is a deadline (a case step's or a referral state's clock) that was open at ``as_of`` and already
past due: ``opened_at <= as_of``, not closed by then, ``due_at < as_of``, and not paused at ``as_of``.
Lateness is counted in working days after the due day up to and including the ``as_of`` day (late on the
due day itself counts as 0 and falls in the first bucket). Everything is computed in SQL over the whole
subtree at once: the items, their aging, the escalations already fired by ``as_of``, and the roll-ups.

Limits of looking back: a deadline's ``due_at`` and ``paused_at`` hold their latest values, so an item
whose due time moved (e.g. extended after a hold) is aged by its current due time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col

import supervision.messages  # noqa: F401  (registers the messages)
from engine.audit import append_event
from engine.db import UTCDateTime, utcnow
from engine.errors import InvalidInput, NotFound, TransitionRefused
from engine.i18n import both
from engine.machine import Actor
from engine.models import Agency, Case, Deadline, Escalation, Event, Referral, ServiceDomain, Unit
from engine.settings import get_settings
from engine.tasks import open_task
from engine.text import nfc
from referrals.clocks import clock_label
from supervision.workdays import cumulative_counts, cumulative_sql, local_day

NATIONAL = "VN"  # pseudo unit code: the whole country
# (name, from, to) in working days late
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-3", 0, 3), ("4-10", 4, 10), ("11-30", 11, 30), ("31+", 31, None),
)
BUCKET_LABELS_VI = {"1-3": "1–3 ngày", "4-10": "4–10 ngày", "11-30": "11–30 ngày", "31+": "Trên 30 ngày"}
GROUPINGS = ("agency", "unit", "domain", "step")
SUPERVISING_ROLES = ("supervisor",)  # admins keep reference data and users, not children's records
NO_AGENCY = {"vi": "Bước hồ sơ (không thuộc cơ quan)", "en": "Case steps (no agency)"}


@dataclass(frozen=True)
class OverdueGroup:
    key: str | None
    name_vi: str
    name_en: str
    total: int
    buckets: dict[str, int]
    escalations: int
    level: str | None = None  # for unit groups


@dataclass(frozen=True)
class OverdueItem:
    deadline_id: int
    case_id: int
    case_reference: str
    referral_id: int | None
    policy_key: str
    agency_code: str | None
    unit_code: str
    domain: str | None
    owner_user_id: int | None
    opened_at: datetime
    due_at: datetime
    days_late: int
    bucket: str
    escalations: int
    last_escalation_at: datetime | None


@dataclass
class OverdueAudit:
    within_unit: str
    as_of: datetime
    total: int = 0
    buckets: dict[str, int] = field(default_factory=lambda: {b: 0 for b, _, _ in BUCKETS})
    escalations: int = 0
    groups: dict[str, list[OverdueGroup]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def unit_path(session: Session, unit_code: str) -> str:
    """The materialised path of a unit ('/' for the whole country); an unknown code is refused."""
    if unit_code == NATIONAL:
        return "/"
    path = session.execute(sa.select(col(Unit.path)).where(col(Unit.code) == unit_code)).scalar_one_or_none()
    if path is None:
        raise InvalidInput("supervision.unit_unknown", unit=unit_code)
    return path


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _open_overdue_conditions(as_of: datetime, root_path: str) -> list[sa.ColumnElement[bool]]:
    return [
        col(Deadline.opened_at) <= as_of,  # type: ignore[operator]
        sa.or_(col(Deadline.closed_at).is_(None), col(Deadline.closed_at) > as_of),  # type: ignore[union-attr,operator]
        col(Deadline.due_at) < as_of,  # type: ignore[operator]
        sa.or_(col(Deadline.paused_at).is_(None), col(Deadline.paused_at) > as_of),  # type: ignore[union-attr,operator]
        col(Unit.path).like(root_path + "%"),  # type: ignore[attr-defined]
    ]


def _items_subquery(session: Session, *, root_path: str, as_of: datetime, tz: str) -> Any | None:
    """One row per overdue item with its aging and escalations; None when nothing is overdue."""
    conditions = _open_overdue_conditions(as_of, root_path)
    earliest = session.execute(
        sa.select(sa.func.min(col(Deadline.due_at)))
        .join(Case, col(Case.id) == col(Deadline.case_id))
        .join(Unit, col(Unit.code) == col(Case.unit_code))
        .where(*conditions)
    ).scalar_one_or_none()
    if earliest is None:
        return None
    first_day, as_of_day = local_day(earliest, tz), local_day(as_of, tz)
    as_of_cum = cumulative_counts(first_day, as_of_day)[-1]
    due_cum = cumulative_sql(col(Deadline.due_at), first=first_day, last=as_of_day, dialect=_dialect(session), tz=tz)
    fired = (
        sa.select(
            col(Escalation.deadline_id).label("deadline_id"),
            sa.func.count().label("n"),
            sa.func.max(col(Escalation.fired_at)).label("last_at"),
        )
        .where(col(Escalation.fired_at) <= as_of)  # type: ignore[operator]
        .group_by(col(Escalation.deadline_id))
        .subquery("fired")
    )
    days_late = (sa.literal(as_of_cum) - due_cum).label("days_late")
    bucket = sa.case(
        *[(days_late <= high, name) for name, _, high in BUCKETS if high is not None], else_=BUCKETS[-1][0]
    ).label("bucket")
    return (
        sa.select(
            col(Deadline.id).label("deadline_id"),  # type: ignore[union-attr]
            col(Deadline.case_id),
            col(Deadline.referral_id),
            col(Deadline.policy_key),
            col(Deadline.owner_user_id),
            col(Deadline.opened_at),
            col(Deadline.due_at),
            sa.func.coalesce(col(Deadline.owner_agency_code), col(Referral.agency_code)).label("agency_code"),
            col(Case.unit_code).label("unit_code"),  # type: ignore[attr-defined]
            col(Unit.path).label("unit_path"),  # type: ignore[attr-defined]
            col(Referral.domain).label("domain"),  # type: ignore[attr-defined]
            days_late,
            bucket,
            sa.func.coalesce(fired.c.n, 0).label("escalations"),
            fired.c.last_at.label("last_escalation_at"),
        )
        .join(Case, col(Case.id) == col(Deadline.case_id))
        .join(Unit, col(Unit.code) == col(Case.unit_code))
        .outerjoin(Referral, col(Referral.id) == col(Deadline.referral_id))
        .outerjoin(fired, fired.c.deadline_id == col(Deadline.id))
        .where(*conditions)
        .subquery("overdue")
    )


def lineage_cte(root_path: str) -> Any:
    """``(unit_code, ancestor_code)`` for every unit in scope and each of its ancestors (itself included).

    A recursive CTE over ``parent_code``: a handful of rows per unit, joined by equality — far cheaper
    than comparing every unit's path with every other's.
    """
    base = (
        sa.select(col(Unit.code).label("unit_code"), col(Unit.code).label("ancestor_code"),  # type: ignore[attr-defined]
                  col(Unit.parent_code).label("next_code"))  # type: ignore[union-attr]
        .where(col(Unit.path).like(root_path + "%"))  # type: ignore[attr-defined]
        .cte("lineage", recursive=True)
    )
    parent: Any = sa.orm.aliased(Unit)
    step = sa.select(base.c.unit_code, parent.code, parent.parent_code).join(parent, parent.code == base.c.next_code)
    return base.union_all(step)


def _roll_up(session: Session, items: Any, group_by: tuple[str, ...] | list[str], root_path: str,
             audit: OverdueAudit) -> None:
    """One aggregate query at the finest grain (agency, unit, domain, step, bucket), then the roll-ups.

    The items are aged once; the few thousand aggregated rows are then summed per grouping (and per
    ancestor unit, from the units' paths) instead of re-running the aging query for every grouping.
    """
    fine = session.execute(
        sa.select(items.c.agency_code, items.c.unit_code, items.c.domain, items.c.policy_key, items.c.bucket,
                  sa.func.count().label("n"), sa.func.sum(items.c.escalations).label("esc"))
        .group_by(items.c.agency_code, items.c.unit_code, items.c.domain, items.c.policy_key, items.c.bucket)
    ).all()
    empty = {name: 0 for name, _, _ in BUCKETS}
    sums: dict[str, dict[str | None, dict[str, Any]]] = {g: {} for g in group_by}
    unit_paths = _paths(session, {r.unit_code for r in fine})
    for row in fine:
        n, esc = int(row.n), int(row.esc or 0)
        audit.total += n
        audit.escalations += esc
        audit.buckets[row.bucket] += n
        keys: dict[str, list[str | None]] = {
            "agency": [row.agency_code], "domain": [row.domain], "step": [row.policy_key],
            "unit": [code for code in unit_paths.get(row.unit_code, "").split("/") if code],  # itself and ancestors
        }
        for grouping in group_by:
            for key in keys[grouping]:
                cell = sums[grouping].setdefault(key, {"total": 0, "esc": 0, "buckets": dict(empty)})
                cell["total"] += n
                cell["esc"] += esc
                cell["buckets"][row.bucket] += n
    for grouping in group_by:
        audit.groups[grouping] = _named_groups(session, grouping, sums[grouping], root_path)


def _paths(session: Session, codes: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ordered = sorted(codes)
    for start in range(0, len(ordered), 1000):  # stay under SQLite's bound-parameter limit
        chunk = ordered[start:start + 1000]
        stmt = sa.select(col(Unit.code), col(Unit.path)).where(col(Unit.code).in_(chunk))
        found.update({code: path for code, path in session.execute(stmt)})
    return found


def _named_groups(session: Session, grouping: str, sums: dict[str | None, dict[str, Any]],
                  root_path: str) -> list[OverdueGroup]:
    codes = [k for k in sums if k is not None]
    names: dict[str, tuple[str, str, str | None, int]] = {}
    if grouping == "unit":
        stmt = sa.select(col(Unit.code), col(Unit.name_vi), col(Unit.name_en), col(Unit.level), col(Unit.depth),
                         col(Unit.path)).where(col(Unit.code).in_(codes))
        for code, name_vi, name_en, level, depth, path in session.execute(stmt):
            if path.startswith(root_path):  # ancestors above the audited unit are not part of its audit
                names[code] = (name_vi, name_en or name_vi, level, depth)
        sums = {k: v for k, v in sums.items() if k in names}
    elif grouping == "agency":
        stmt2 = sa.select(col(Agency.code), col(Agency.name_vi), col(Agency.name_en)).where(
            col(Agency.code).in_(codes))
        names = {code: (vi, en or vi, None, 0) for code, vi, en in session.execute(stmt2)}
    elif grouping == "domain":
        stmt3 = sa.select(col(ServiceDomain.code), col(ServiceDomain.name_vi), col(ServiceDomain.name_en))
        names = {code: (vi, en, None, 0) for code, vi, en in session.execute(stmt3)}
    elif grouping == "step":
        names = {code: (*clock_label(code), None, 0) for code in codes}
    else:
        raise InvalidInput(detail=both(f"group_by phải thuộc {', '.join(GROUPINGS)}",
                                         f"group_by must be among {', '.join(GROUPINGS)}"))
    groups = []
    for key, cell in sums.items():
        if key is None:
            name_vi, name_en, level, depth = NO_AGENCY["vi"], NO_AGENCY["en"], None, 0
        else:
            name_vi, name_en, level, depth = names.get(key, (key, key, None, 0))
        groups.append((depth, -cell["total"], key is None, key or "", OverdueGroup(
            key=key, name_vi=name_vi, name_en=name_en, total=cell["total"], buckets=cell["buckets"],
            escalations=cell["esc"], level=level)))
    return [g for *_, g in sorted(groups, key=lambda t: t[:4])]


def overdue_audit(
    session: Session,
    *,
    within_unit: str,
    as_of: datetime | None = None,
    group_by: tuple[str, ...] | list[str] = GROUPINGS,
    tz: str | None = None,
) -> OverdueAudit:
    """Overdue items under ``within_unit`` at ``as_of``, rolled up by agency, unit, domain and step."""
    as_of = as_of or utcnow()
    if as_of.tzinfo is None:
        raise InvalidInput(detail=both("as_of cần có múi giờ", "as_of needs a time zone"))
    tz = tz or get_settings().timezone
    root_path = unit_path(session, within_unit)
    audit = OverdueAudit(within_unit=within_unit, as_of=as_of, groups={g: [] for g in group_by})
    items = _items_subquery(session, root_path=root_path, as_of=as_of, tz=tz)
    if items is None:
        return audit
    for grouping in group_by:
        if grouping not in GROUPINGS:
            raise InvalidInput(detail=both(f"group_by phải thuộc {', '.join(GROUPINGS)}",
                                         f"group_by must be among {', '.join(GROUPINGS)}"))
    _roll_up(session, items, group_by, root_path, audit)
    return audit


def overdue_items(
    session: Session,
    *,
    within_unit: str,
    as_of: datetime | None = None,
    agency: str | None = None,
    unit: str | None = None,
    domain: str | None = None,
    step: str | None = None,
    bucket: str | None = None,
    limit: int = 200,
    offset: int = 0,
    tz: str | None = None,
) -> list[OverdueItem]:
    """The drill-down: overdue items (latest first by lateness), filtered like the roll-ups' keys.

    ``agency="-"`` / ``domain="-"`` select the case steps (items with no agency / no domain).
    """
    as_of = as_of or utcnow()
    tz = tz or get_settings().timezone
    root_path = unit_path(session, within_unit)
    if bucket is not None and bucket not in {b for b, _, _ in BUCKETS}:
        raise InvalidInput(detail=both(f"nhóm quá hạn phải là một trong {', '.join(b for b, _, _ in BUCKETS)}",
                                         f"bucket must be one of {', '.join(b for b, _, _ in BUCKETS)}"))
    items = _items_subquery(session, root_path=root_path, as_of=as_of, tz=tz)
    if items is None:
        return []
    stmt = sa.select(items)
    if agency is not None:
        stmt = stmt.where(items.c.agency_code.is_(None) if agency == "-" else items.c.agency_code == agency)
    if domain is not None:
        stmt = stmt.where(items.c.domain.is_(None) if domain == "-" else items.c.domain == domain)
    if unit is not None:
        stmt = stmt.where(items.c.unit_path.like(unit_path(session, unit) + "%"))
    if step is not None:
        stmt = stmt.where(items.c.policy_key == step)
    if bucket is not None:
        stmt = stmt.where(items.c.bucket == bucket)
    stmt = stmt.order_by(sa.desc(items.c.days_late), items.c.due_at, items.c.deadline_id)
    stmt = stmt.limit(max(1, min(limit, 1000))).offset(max(0, offset))
    return [
        OverdueItem(
            deadline_id=r.deadline_id, case_id=r.case_id, case_reference=f"KN-{r.case_id:06d}",
            referral_id=r.referral_id, policy_key=r.policy_key, agency_code=r.agency_code, unit_code=r.unit_code,
            domain=r.domain, owner_user_id=r.owner_user_id, opened_at=_aware(r.opened_at), due_at=_aware(r.due_at),
            days_late=int(r.days_late), bucket=r.bucket, escalations=int(r.escalations),
            last_escalation_at=_aware(r.last_escalation_at) if r.last_escalation_at is not None else None,
        )
        for r in session.execute(stmt)
    ]


def _aware(value: Any) -> datetime:
    """Columns read through a subquery bypass the model's type on SQLite; restore aware UTC datetimes."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    result = UTCDateTime().process_result_value(value, sa.engine.default.DefaultDialect())
    assert result is not None
    return result


# --- audit notes ------------------------------------------------------------------------------------


def record_audit_note(
    session: Session,
    *,
    actor: Actor,
    reason_found: str,
    action_taken: str,
    follow_up_date: date,
    deadline_id: int | None = None,
    case_id: int | None = None,
    referral_id: int | None = None,
    now: datetime | None = None,
    tz: str | None = None,
) -> Event:
    """A supervisor's note on an overdue item, kept in the trail and followed up by a task.

    The event's entity is ``audit`` (not ``case``/``referral``): it records no transition, and keeping it
    out of the record's own stream leaves ``engine.audit.replay``'s rule — versions strictly increase —
    intact; ``entity_version`` records the version of the case or referral the supervisor looked at.
    """
    now = now or utcnow()
    tz = tz or get_settings().timezone
    if actor.role not in SUPERVISING_ROLES:
        raise TransitionRefused("supervision.not_supervisor")
    if sum(x is not None for x in (deadline_id, case_id, referral_id)) != 1:
        raise InvalidInput("supervision.note_target")
    # Whatever is absent or out of scope is refused naming only what the caller asked for: the same answer
    # either way, and nothing about which case a referral or clock belongs to.
    asked = (f"deadline {deadline_id}" if deadline_id is not None
             else f"referral {referral_id}" if referral_id is not None else f"case {case_id}")
    reason_found, action_taken = nfc(reason_found or ""), nfc(action_taken or "")
    if not reason_found or not action_taken or follow_up_date is None:
        raise InvalidInput("supervision.note_incomplete")
    if follow_up_date < local_day(now, tz):
        raise InvalidInput("supervision.follow_up_past", date=follow_up_date.strftime("%d/%m/%Y"))
    policy_key = None
    if deadline_id is not None:
        deadline = session.get(Deadline, deadline_id)
        if deadline is None:
            raise NotFound(what=asked)
        case_id, referral_id, policy_key = deadline.case_id, deadline.referral_id, deadline.policy_key
    referral = None
    if referral_id is not None:
        referral = session.get(Referral, referral_id)
        if referral is None:
            raise NotFound(what=asked)
        case_id = referral.case_id
    assert case_id is not None
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(what=asked)
    if not can_supervise(session, actor, case.unit_code):
        raise NotFound(what=asked)  # out of scope looks the same as absent
    version = referral.version if referral is not None else case.version
    event = append_event(
        session, case_id=case_id, referral_id=referral_id, entity="audit", entity_version=version,
        action="audit_note", from_state=None, to_state=None, actor=actor, at=now, reason=reason_found[:2000],
        payload={
            "deadline_id": deadline_id, "policy_key": policy_key, "reason_found": reason_found[:2000],
            "action_taken": action_taken[:2000], "follow_up_date": follow_up_date.isoformat(),
        },
    )
    follow_up_at = datetime.combine(follow_up_date, time(9, 0), ZoneInfo(tz))
    open_task(
        session, case_id=case_id, referral_id=referral_id, kind="audit_follow_up", now=now, due_at=follow_up_at,
        owner_user_id=actor.user_id, note=action_taken[:500],
    )
    return event


def can_supervise(session: Session, actor: Actor, unit_code: str) -> bool:
    """Supervisors see the subtree of their own unit."""
    if actor.role not in SUPERVISING_ROLES or not actor.unit_code:
        return False
    wanted = [actor.unit_code, unit_code]
    paths = dict(session.execute(sa.select(col(Unit.code), col(Unit.path)).where(col(Unit.code).in_(wanted))).all())  # type: ignore[attr-defined]
    own, target = paths.get(actor.unit_code), paths.get(unit_code)
    return own is not None and target is not None and target.startswith(own)


def audit_notes(session: Session, *, case_id: int, referral_id: int | None = None) -> list[Event]:
    stmt = sa.select(Event).where(col(Event.entity) == "audit", col(Event.case_id) == case_id)
    if referral_id is not None:
        stmt = stmt.where(col(Event.referral_id) == referral_id)
    return list(session.execute(stmt.order_by(col(Event.id))).scalars())
