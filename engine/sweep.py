"""The deadline sweep: fire every rung whose time has come, set-based, exactly once.

On PostgreSQL, one statement of chained data-modifying CTEs (``_sweep_postgresql``: each crossed rung and its
deadline read once), after an index-only probe that returns at once when no rung is due. Elsewhere (SQLite),
a handful of statements, whatever the number of deadlines (no loop over rows in Python); both write the same
rows and return the same counts:

1. ``INSERT INTO escalation ... SELECT`` the rungs (``fire_at <= now``) of open, unpaused deadlines;
   the unique key (deadline, rung) and ``ON CONFLICT DO NOTHING`` make a re-run or a concurrent sweep harmless.
2. ``INSERT INTO outbox ... SELECT`` one notification per recipient of each rung (dedupe key
   ``esc:<deadline_id>:<rung>:<recipient_kind>:<recipient_ref>``), template by rung kind. A reminder that a
   later reminder of the same clock overtakes in the same sweep (a late sweep, after downtime, crossing both
   "due tomorrow" and "due today") is recorded and counted as ``superseded`` but sends nothing: nobody wants
   yesterday's reminder beside today's. Escalations are never superseded. A reminder to an agency that chose
   the daily digest is written with status ``digest`` and waits for it (``notifications.digest``), like that
   agency's referral notices; escalations always go out at once.
3. ``INSERT INTO task ... SELECT`` an ``escalation`` task for whoever must act on an escalation.
4. ``DELETE FROM deadline_rung`` the rungs this sweep recorded: a fired rung's record is its escalation, so the
   rungs left are exactly those still to fire (a delete writes far less than marking the row).

Sharded (``sweep_sharded``): one statement runs on one core of the database server, so the deadlines can be
split by id modulo ``n`` into ``n`` disjoint shards, each swept at once in its own transaction. A shard is a
whole sweep of its deadlines (a deadline's rungs, and so its superseded reminders, never span two shards);
if one fails, the others still commit and the next sweep picks up exactly what the failed one left.

This sweep's escalations are told apart from older ones by id (above the highest id seen before) and by
``swept_at`` (the sweep's own wall-clock instant), so neither needs a list of ids in Python.
Recipients (the policy's audiences):

- owner: the agency (``agency``, its code), the user (``user``, the id) or the role in a unit (``unit_role``);
- caseworker: the case's owner (``user``);
- supervisor: the supervising agency of an agency owner, else ``<owner's unit>:supervisor`` (for a clock that
  already waits on a unit's supervisors: those of the unit above);
- unit_above: ``<parent of the owner's unit>:supervisor`` (the owner's unit itself at the top of the tree).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from engine.db import UTCDateTime, transaction, utcnow
from engine.models import Agency, Case, Deadline, DeadlineRung, Escalation, Outbox, Task, Unit, User
from engine.outbox import DIGEST_STATUS, wants_digest_sql

TEMPLATES = ("reminder_before_due", "due_today", "overdue", "escalation")
COUNTS = (*TEMPLATES, "rungs_fired", "superseded", "outbox", "tasks")  # what a sweep returns
AUDIENCE_PARTS = ("owner", "caseworker", "supervisor", "unit_above")


def _insert(session: Session, table: sa.Table) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _as_text(value: Any) -> sa.ColumnElement[str]:
    return sa.cast(value, sa.String)


def _json_object(dialect: str, **items: Any) -> sa.ColumnElement[Any]:
    args: list[Any] = []
    for key, value in items.items():
        args += [sa.literal(key), value]
    if dialect == "postgresql":
        return sa.func.jsonb_build_object(*args)
    return sa.func.json_object(*args)


def _iso_utc(dialect: str, column: Any) -> sa.ColumnElement[str]:
    """A UTC timestamp as ISO 8601 text, the same on both stores."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
    return sa.func.strftime("%Y-%m-%dT%H:%M:%S+00:00", column)


def _empty_json_array(dialect: str) -> sa.ColumnElement[Any]:
    return sa.func.jsonb_build_array() if dialect == "postgresql" else sa.func.json_array()


def _nothing() -> dict[str, int]:
    return dict.fromkeys(COUNTS, 0)


def sweep(session: Session, now: datetime, shard: tuple[int, int] = (0, 1)) -> dict[str, int]:
    """Fire every rung due at ``now``; return counts by template, plus rungs fired, outbox rows and tasks.

    ``shard=(k, n)`` sweeps only the deadlines whose id is ``k`` modulo ``n``: the ``n`` shards are disjoint and
    together cover every deadline, so they can run at once, each in its own transaction (``sweep_sharded``).
    """
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {index} of {count}")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _sweep_postgresql(session, now, shard)
    return _sweep_portable(session, dialect, now, shard)


def sweep_sharded(db: Engine, now: datetime, shards: int = 1) -> dict[str, int]:
    """The sweep in ``shards`` disjoint parts run at once, each in its own transaction; the counts summed.

    On PostgreSQL each shard's statement runs in its own backend, so a sweep uses as many of the server's
    cores as it has shards. SQLite writes one transaction at a time, so there the sweep is one transaction.
    Every shard runs to its end before the first failure, if any, is raised.
    """
    if shards < 1:
        raise ValueError(f"{shards} shards")
    if shards == 1 or db.dialect.name != "postgresql":
        with transaction(db) as session:
            return sweep(session, now)

    def sweep_shard(index: int) -> dict[str, int]:
        with transaction(db) as session:
            return sweep(session, now, (index, shards))

    with ThreadPoolExecutor(max_workers=shards, thread_name_prefix="sweep-shard") as pool:
        futures = [pool.submit(sweep_shard, index) for index in range(shards)]
    results = [future.result() for future in futures]
    return {name: sum(result[name] for result in results) for name in COUNTS}


def _in_shard(r: sa.Table, shard: tuple[int, int]) -> sa.ColumnElement[bool]:
    index, count = shard
    return sa.true() if count == 1 else (r.c.deadline_id % count) == index


def _open_deadline(r: sa.Table) -> sa.ColumnElement[bool]:
    """The rung's deadline is open and unpaused: looked up through its primary key, once per pending rung.

    A correlated scalar subquery is never turned into a join, so the planner cannot choose to scan every
    deadline for a few crossed rungs.
    """
    d = Deadline.__table__  # type: ignore[attr-defined]
    running = (
        sa.select(d.c.id)
        .where(d.c.id == r.c.deadline_id, d.c.closed_at.is_(None), d.c.paused_at.is_(None))
        .scalar_subquery()
    )
    return r.c.deadline_id == running


def _sweep_postgresql(session: Session, now: datetime, shard: tuple[int, int]) -> dict[str, int]:
    """The same sweep as one statement of chained data-modifying CTEs: each crossed rung is read once.

    - a probe (``LIMIT 1`` on the index of the rungs' times) returns at once when nothing is due;
    - ``fired``: ``DELETE FROM deadline_rung ... RETURNING`` the crossed rungs of open, unpaused deadlines (a
      concurrent sweep waits on the row lock, then finds the rung gone and skips it);
    - ``esc``: ``INSERT INTO escalation ... SELECT FROM fired ... ON CONFLICT DO NOTHING RETURNING``;
    - ``batch``: ``esc`` with the rung's time and its deadline (read once, by key), materialised once;
    - ``recipients`` (from ``batch``), then ``INSERT INTO outbox`` and ``INSERT INTO task`` from it;
    - the final ``SELECT`` counts the rows each part wrote.
    The rows written, the counts and the dedupe keys are those of the portable path.
    """
    r, e = DeadlineRung.__table__, Escalation.__table__  # type: ignore[attr-defined]
    d = Deadline.__table__  # type: ignore[attr-defined]
    token = utcnow()
    now_param = sa.literal(now, UTCDateTime)
    token_param = sa.literal(token, UTCDateTime)
    crossed = sa.and_(r.c.fire_at <= now_param, _in_shard(r, shard))
    conn = session.connection()

    # Early exit: an index-only probe on the index of the (pending) rungs' times.
    if conn.execute(sa.select(sa.literal(1)).select_from(r).where(crossed).limit(1)).first() is None:
        return _nothing()

    # JIT compilation of this one large statement cost more than it saved (about 50 ms at national scale);
    # the default 4 MB of sort memory spilled the batch's sort to disk (about 100 ms at national scale)
    conn.execute(sa.text("SET LOCAL jit = off"))
    conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))

    # No guard against an escalation already recorded for a crossed rung: every escalation is written with its
    # rung deleted, in one transaction, so a pending rung never has one. Should such a pair be made by hand, the
    # rung is deleted here (the portable path leaves it pending) while nothing else is written nor counted.
    fired = (
        sa.delete(r)
        .where(crossed, _open_deadline(r))
        .returning(r.c.deadline_id, r.c.rung, r.c.action, r.c.audience, r.c.fire_at)
        .cte("fired")
    )
    esc = (
        postgresql.insert(e)
        .from_select(
            ["deadline_id", "rung", "action", "audience", "fired_at", "swept_at"],
            sa.select(fired.c.deadline_id, fired.c.rung, fired.c.action, fired.c.audience, now_param, token_param),
        )
        .on_conflict_do_nothing(index_elements=["deadline_id", "rung"])
        .returning(e.c.id, e.c.deadline_id, e.c.rung, e.c.action, e.c.audience)
        .cte("esc")
    )
    # This sweep's escalations with their rung's time and their deadline (read once, through its key).
    batch = (
        sa.select(
            esc.c.id, esc.c.deadline_id, esc.c.rung, esc.c.action, esc.c.audience, fired.c.fire_at, d.c.case_id,
            d.c.referral_id, d.c.policy_key, d.c.due_at, d.c.owner_agency_code, d.c.owner_user_id,
            d.c.owner_unit_code, d.c.owner_role,
            sa.func.max(sa.case((esc.c.action == "remind", esc.c.rung))).over(partition_by=esc.c.deadline_id)
            .label("last_remind"),
        )
        .select_from(
            esc.join(fired, sa.and_(fired.c.deadline_id == esc.c.deadline_id, fired.c.rung == esc.c.rung))
            .join(d, d.c.id == esc.c.deadline_id)
        )
        .cte("batch")
    )
    superseded = sa.and_(batch.c.action == "remind", batch.c.rung < batch.c.last_remind)
    recipients = _recipients("postgresql", batch, batch.c.fire_at, batch, batch, ~superseded).cte("recipients")
    outbox = Outbox.__table__  # type: ignore[attr-defined]
    task = Task.__table__  # type: ignore[attr-defined]
    ob = _outbox_insert(session, "postgresql", recipients, now, token).returning(outbox.c.id).cte("ob")
    tk = _task_insert(recipients, now).returning(task.c.id).cte("tk")

    template = _template(batch.c.action, batch.c.fire_at, batch.c.due_at)
    by_template = (
        sa.select(
            *(sa.func.count().filter(template == name).label(name) for name in TEMPLATES),
            sa.func.count().label("rungs_fired"),  # the rungs this sweep recorded, as the portable path counts
            sa.func.count().filter(superseded).label("superseded"),
        )
        .select_from(batch)
        .subquery("by_template")
    )
    row = conn.execute(
        sa.select(
            *(by_template.c[name] for name in (*TEMPLATES, "rungs_fired", "superseded")),
            sa.select(sa.func.count()).select_from(ob).scalar_subquery().label("outbox"),
            sa.select(sa.func.count()).select_from(tk).scalar_subquery().label("tasks"),
        ).select_from(by_template)
    ).one()
    return {name: int(row._mapping[name]) for name in COUNTS}


def _sweep_portable(session: Session, dialect: str, now: datetime, shard: tuple[int, int]) -> dict[str, int]:
    """A handful of statements, any SQL store (SQLite): record, mark, notify, assign."""
    token = utcnow()
    d, r, e = Deadline.__table__, DeadlineRung.__table__, Escalation.__table__  # type: ignore[attr-defined]
    now_param = sa.literal(now, UTCDateTime)
    token_param = sa.literal(token, UTCDateTime)

    watermark = session.execute(sa.select(sa.func.coalesce(sa.func.max(e.c.id), 0))).scalar_one()

    # 1. record each crossed rung once
    pending = (
        sa.select(r.c.deadline_id, r.c.rung, r.c.action, r.c.audience, now_param, token_param)
        .where(r.c.fire_at <= now_param, _in_shard(r, shard), _open_deadline(r))
    )
    conn = session.connection()  # Core statements: rowcounts come straight from the driver
    recorded = conn.execute(
        _insert(session, e)
        .from_select(["deadline_id", "rung", "action", "audience", "fired_at", "swept_at"], pending)
        .on_conflict_do_nothing(index_elements=["deadline_id", "rung"])
    ).rowcount or 0  # type: ignore[attr-defined]
    if not recorded:
        return _nothing()
    in_batch = sa.and_(e.c.id > watermark, e.c.swept_at == token_param)

    # 2. and 3. notify and assign, from the escalations and their rungs (still there for their times)

    source = e.join(d, d.c.id == e.c.deadline_id).join(
        r, sa.and_(r.c.deadline_id == e.c.deadline_id, r.c.rung == e.c.rung))
    later = e.alias("later_reminder")
    superseded = sa.and_(e.c.action == "remind", sa.exists().where(
        later.c.deadline_id == e.c.deadline_id, later.c.action == "remind", later.c.rung > e.c.rung,
        later.c.id > watermark, later.c.swept_at == token_param,
    ))
    recipients = _recipients(dialect, e, r.c.fire_at, d, source, sa.and_(in_batch, ~superseded)).subquery("recipients")
    outbox_rows, tasks = _write_outbox(session, dialect, recipients, now, token), _write_tasks(session, recipients, now)

    counts = dict.fromkeys(TEMPLATES, 0)
    template = _template(e.c.action, r.c.fire_at, d.c.due_at)
    skipped = 0
    for name, count, superseded_count in session.execute(
        sa.select(template, sa.func.count(), sa.func.count().filter(superseded))
        .select_from(e.join(d, d.c.id == e.c.deadline_id).join(
            r, sa.and_(r.c.deadline_id == e.c.deadline_id, r.c.rung == e.c.rung)))
        .where(in_batch)
        .group_by(template)
    ):
        counts[name] = count
        skipped += superseded_count

    # 4. the recorded rungs leave the ladder: their escalations are the record
    fired = conn.execute(
        sa.delete(r).where(
            sa.tuple_(r.c.deadline_id, r.c.rung).in_(sa.select(e.c.deadline_id, e.c.rung).where(in_batch))
        )
    ).rowcount or 0  # type: ignore[attr-defined]
    return {**counts, "rungs_fired": fired, "superseded": skipped, "outbox": outbox_rows, "tasks": tasks}


def _template(action: Any, fire_at: Any, due_at: Any) -> sa.ColumnElement[str]:
    """The notification template of a rung: by its action, and by its time against the due time."""
    return sa.case(
        (action == "escalate", sa.literal("escalation")),
        (fire_at < due_at, sa.literal("reminder_before_due")),
        (fire_at == due_at, sa.literal("due_today")),
        else_=sa.literal("overdue"),
    )


def _recipients(
    dialect: str, esc: Any, fire_at: Any, d: Any, source: Any, where: sa.ColumnElement[bool]
) -> sa.Select[Any]:
    """One row per (escalation, recipient), in SQL.

    ``esc`` has the escalation's columns (id, deadline_id, rung, action, audience), ``d`` the deadline's (the
    table, or the rows the PostgreSQL sweep returned), ``source`` joins ``esc`` to ``d`` and to wherever
    ``fire_at`` (the rung's time) comes from; ``where`` picks this sweep's escalations.
    """
    e = esc.c
    c = Case.__table__  # type: ignore[attr-defined]
    owner_agency = aliased(Agency, name="owner_agency")
    supervising = aliased(Agency, name="supervising_agency")
    owner_user = aliased(User, name="owner_user")
    caseworker = aliased(User, name="caseworker")
    owner_unit = aliased(Unit, name="owner_unit")

    owner_unit_code = sa.func.coalesce(owner_agency.unit_code, owner_user.unit_code, d.c.owner_unit_code)
    base = (
        source.join(c, c.c.id == d.c.case_id)
        .outerjoin(owner_agency, owner_agency.code == d.c.owner_agency_code)
        .outerjoin(supervising, supervising.code == owner_agency.supervisor_code)
        .outerjoin(owner_user, owner_user.id == d.c.owner_user_id)
        .outerjoin(caseworker, caseworker.id == c.c.owner_id)
        .outerjoin(owner_unit, owner_unit.code == owner_unit_code)
    )
    template = _template(e.action, fire_at, d.c.due_at)
    context = _json_object(
        dialect, case_id=d.c.case_id, referral_id=d.c.referral_id, deadline_id=e.deadline_id, policy_key=d.c.policy_key,
        due_at=_iso_utc(dialect, d.c.due_at), rung=e.rung, action=e.action, audience=e.audience,
        template=template, owner_agency_code=d.c.owner_agency_code, owner_user_id=d.c.owner_user_id,
    )
    null_text = sa.null()
    agency_owned = d.c.owner_agency_code.is_not(None)
    user_owned = sa.and_(~agency_owned, d.c.owner_user_id.is_not(None))
    role_owned = sa.and_(~agency_owned, d.c.owner_user_id.is_(None))
    supervisor_unit = sa.case(
        (agency_owned, owner_agency.unit_code),
        (user_owned, owner_user.unit_code),
        (d.c.owner_role == "supervisor", sa.func.coalesce(owner_unit.parent_code, owner_unit.code)),
        else_=d.c.owner_unit_code,
    )
    by_supervising_agency = sa.and_(agency_owned, col(owner_agency.supervisor_code).is_not(None))
    # For each audience part: (agency, user, unit, role, language, present, the owning agency's own digest choice)
    # of its recipient.
    recipient_of: dict[str, tuple[Any, Any, Any, Any, Any, sa.ColumnElement[bool], Any]] = {
        "owner": (
            d.c.owner_agency_code,
            sa.case((user_owned, d.c.owner_user_id), else_=null_text),
            sa.case((role_owned, d.c.owner_unit_code), else_=null_text),
            sa.case((role_owned, d.c.owner_role), else_=null_text),
            sa.func.coalesce(owner_agency.language, owner_user.language),
            sa.or_(agency_owned, d.c.owner_user_id.is_not(None), d.c.owner_unit_code.is_not(None)),
            owner_agency.digest,
        ),
        "caseworker": (null_text, c.c.owner_id, null_text, null_text, caseworker.language, c.c.owner_id.is_not(None),
                       null_text),
        "supervisor": (
            sa.case((by_supervising_agency, owner_agency.supervisor_code), else_=null_text),
            null_text,
            sa.case((by_supervising_agency, null_text), else_=supervisor_unit),
            sa.case((by_supervising_agency, null_text), else_=sa.literal("supervisor")),
            sa.case((by_supervising_agency, supervising.language), else_=null_text),
            sa.or_(by_supervising_agency, supervisor_unit.is_not(None)),
            null_text,  # never held for a digest (see ``held``)
        ),
        "unit_above": (
            null_text, null_text, sa.func.coalesce(owner_unit.parent_code, owner_unit.code),
            sa.literal("supervisor"), null_text, col(owner_unit.code).is_not(None), null_text,
        ),
    }
    # The audience parts as a tiny table: each escalation is joined once to its deadline, case and owner,
    # then fanned out to the parts its audience names.
    parts = sa.union_all(*(sa.select(sa.literal(name).label("part")) for name in AUDIENCE_PARTS)).subquery("parts")

    def by_part(index: int) -> sa.ColumnElement[Any]:
        return sa.case(*((parts.c.part == name, spec[index]) for name, spec in recipient_of.items()),
                       else_=null_text)

    # A reminder to the owning agency, when it chose the daily digest (its own choice, else the policy's default),
    # waits for that digest, as its referral notices do (engine.outbox.enqueue). Only the owner's: a digest lists
    # the agency's own referrals, so a supervising agency's reminder would never be in one. An escalation always
    # goes out at once.
    held = sa.and_(e.action == "remind", parts.c.part == "owner", by_part(0).is_not(None),
                   wants_digest_sql(by_part(6)))
    audience = sa.literal("+") + e.audience + sa.literal("+")
    return (
        sa.select(
            e.id.label("escalation_id"), e.deadline_id, e.rung, e.action,
            d.c.case_id, d.c.referral_id, d.c.policy_key, template.label("template"),
            sa.cast(by_part(0), sa.String).label("r_agency"), sa.cast(by_part(1), sa.Integer).label("r_user"),
            sa.cast(by_part(2), sa.String).label("r_unit"), sa.cast(by_part(3), sa.String).label("r_role"),
            sa.func.coalesce(by_part(4), "vi").label("language"), context.label("context"),
            sa.case((held, sa.literal(DIGEST_STATUS)), else_=sa.literal("pending")).label("status"),
        )
        .select_from(base.join(parts, audience.like(sa.literal("%+") + parts.c.part + sa.literal("+%"))))
        .where(where, sa.or_(*(sa.and_(parts.c.part == name, spec[5]) for name, spec in recipient_of.items())))
    )


def _recipient_kind(rc: Any) -> sa.ColumnElement[str]:
    return sa.case(
        (rc.r_agency.is_not(None), sa.literal("agency")),
        (rc.r_user.is_not(None), sa.literal("user")),
        else_=sa.literal("unit_role"),
    )


def _recipient_ref(rc: Any) -> sa.ColumnElement[str]:
    return sa.case(
        (rc.r_agency.is_not(None), rc.r_agency),
        (rc.r_user.is_not(None), sa.cast(rc.r_user, sa.String)),
        else_=rc.r_unit + sa.literal(":") + rc.r_role,
    )


def _write_outbox(session: Session, dialect: str, recipients: sa.Subquery, now: datetime, token: datetime) -> int:
    result = session.connection().execute(
        _outbox_insert(session, dialect, recipients, now, token).execution_options(preserve_rowcount=True))
    return result.rowcount or 0  # type: ignore[attr-defined]


def _outbox_insert(session: Session, dialect: str, recipients: Any, now: datetime, token: datetime) -> Any:
    """One notification per recipient; the dedupe key makes a repeat harmless. A reminder to an agency that chose
    the daily digest is written with status ``digest`` (see ``_recipients``): the digest absorbs it."""
    rc = recipients.c
    kind, ref = _recipient_kind(rc), _recipient_ref(rc)
    dedupe = (
        sa.literal("esc:") + sa.cast(rc.deadline_id, sa.String) + sa.literal(":") + sa.cast(rc.rung, sa.String)
        + sa.literal(":") + kind + sa.literal(":") + ref
    )
    # Sendable at once, for a replayed past sweep as for a simulated future one.
    sendable = sa.literal(min(now, token), UTCDateTime)
    rows = sa.select(
        dedupe, rc.template, rc.language, kind, ref, _empty_json_array(dialect), rc.context, rc.case_id,
        rc.referral_id, rc.r_agency, rc.status, sa.literal(0), sendable, sa.literal(token, UTCDateTime),
    ).where(sa.true())  # a WHERE keeps SQLite from reading ON CONFLICT as a join's ON
    outbox = Outbox.__table__  # type: ignore[attr-defined]
    return (
        _insert(session, outbox)
        .from_select(
            ["dedupe_key", "template", "language", "recipient_kind", "recipient_ref", "addresses", "context",
             "case_id", "referral_id", "agency_code", "status", "attempts", "next_attempt_at", "created_at"],
            rows,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def _write_tasks(session: Session, recipients: sa.Subquery, now: datetime) -> int:
    result = session.connection().execute(_task_insert(recipients, now).execution_options(preserve_rowcount=True))
    return result.rowcount or 0  # type: ignore[attr-defined]


def _task_insert(recipients: Any, now: datetime) -> Any:
    """One ``escalation`` task per recipient of an escalating rung: someone must act on it."""
    rc = recipients.c
    rows = (
        sa.select(
            rc.case_id, rc.referral_id, sa.literal("escalation"), rc.r_user, rc.r_agency, rc.r_unit, rc.r_role,
            sa.literal(now, UTCDateTime),
            sa.literal("escalation:") + sa.cast(rc.deadline_id, sa.String) + sa.literal(":")
            + sa.cast(rc.rung, sa.String) + sa.literal(" ") + rc.policy_key,
        )
        .where(rc.action == "escalate")
        .distinct()
    )
    task = Task.__table__  # type: ignore[attr-defined]
    return sa.insert(task).from_select(
        ["case_id", "referral_id", "kind", "owner_user_id", "owner_agency_code", "owner_unit_code", "owner_role",
         "opened_at", "note"],
        rows,
    )
