"""National-scale synthetic data on PostgreSQL, loaded with COPY.

    .venv/bin/python -m bench.generate_national [--db-url postgresql://postgres@127.0.0.1:5432/ketnoi_bench]
                                                [--scale 1.0] [--seed 1] [--now 2027-03-15T09:00:00+07:00]

Creates (or re-creates) the database, runs the migrations, loads the real 34 provinces and 3,321 communes
and the service catalogue, then generates: agencies in every commune and province with the services they
offer and the areas they cover, caseworkers and supervisors, 700,000 children with one case each, 2,000,000
referrals, and an open deadline (with its ladder of rungs, from the shipped policy) for every case step and
referral state that waits on someone. About 1% of the open deadlines have crossed a rung at ``--now`` (the
benchmark's time) that no sweep has fired yet; the others' first rung is still ahead. ``--crossed one`` (the
default, the steady state of a sweep every few minutes: each such deadline's next rung has just come due) or
``--crossed several`` (a first sweep after downtime: each has crossed 1 to all of its rungs, 2.5 on average,
and its older reminders are superseded). The
deadlines (ids and rows) and their rungs are written in the order their clocks opened, as the engine appends
them in service, not in the order of the children they belong to. A
training register (a roster of 10 officials and collaborators per commune, a caregivers' and an officials'
training per commune in the year before, attended by about 75% of the roster and the caregivers of about 65%
of the children) gives the indicator benchmark real rows for every indicator.
``--scale 0.01`` makes a set 100 times smaller.

Only for benchmarks: the users cannot sign in, and no audit events or tasks are generated (the sweep
neither reads nor needs them). Refuses to replace a database whose name does not start with ``ketnoi_bench``
unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/ketnoi_bench"
BENCH_NOW = datetime(2027, 3, 15, 2, 0, tzinfo=UTC)  # Monday 15 March 2027, 09:00 in Vietnam
CHILDREN = 700_000
REFERRALS = 2_000_000
CROSSING_SHARE = 0.01
CHUNK_ROWS = 200_000
BULK_TABLES = ("child", "case_file", "referral", "deadline", "deadline_rung")

# Where cases stand (open steps wait on someone and have a clock; closed ones do not).
CASE_STEPS: tuple[tuple[str, str, float], ...] = (
    ("reported", "pre_intake", 0.04), ("verified", "pre_intake", 0.04),
    ("needs_assessment", "intake", 0.05), ("care_plan_drafting", "intake", 0.04),
    ("plan_awaiting_approval", "intake", 0.03), ("in_care", "care", 0.65),
    ("closure_proposed", "closure", 0.02), ("closed", "closure", 0.13),
)
SUPERVISOR_STEPS = frozenset({"plan_awaiting_approval", "closure_proposed"})
OPEN_REFERRAL_STATES: tuple[tuple[str, float], ...] = (
    ("requested", 0.08), ("accepted", 0.05), ("in_progress", 0.22), ("on_hold", 0.03),
)
ENDED_REFERRAL_STATES: tuple[tuple[str, float], ...] = (
    ("completed", 0.50), ("rejected", 0.05), ("failed", 0.03), ("cancelled", 0.04),
)
# (agency code prefix, kind, level, supervising prefix, services offered)
AGENCY_KINDS: tuple[tuple[str, str, str, str | None, tuple[str, ...]], ...] = (
    ("SYT", "health_department", "province", None, ()),
    ("SGD", "education_department", "province", None, ()),
    ("SYTXH", "social_affairs_department", "province", None, ()),
    ("TYT", "health_station", "commune", "SYT", ("health_care", "nutrition", "rehabilitation",
                                                  "health_insurance_card")),
    ("TH", "school", "commune", "SGD", ("inclusive_education", "tuition_support")),
    ("PHCN", "rehabilitation_centre", "province", "SYT", ("rehabilitation", "assistive_devices")),
    ("CTXH", "social_work_centre", "province", "SYTXH", ("counselling", "monthly_allowance", "alternative_care",
                                                          "emergency_protection", "caregiver_training",
                                                          "culture_sport")),
    ("GDCB", "special_school", "province", "SGD", ("special_education", "vocational_training")),
    ("TGPL", "legal_aid_centre", "province", "SYTXH", ("legal_aid",)),
)
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ")
MIDDLE = ("Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu", "Hữu", "Thanh")
GIVEN = ("An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hoa", "Hùng", "Khánh", "Lan", "Linh", "Long", "Mai",
         "Minh", "Nam", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy")
DISABILITIES = ("mobility", "hearing_speech", "vision", "neurological_mental", "intellectual", "other")
SEVERITIES = ("extremely_severe", "severe", "mild")
HOUSEHOLDS = ("poor", "near_poor", "average", "")


@dataclass(frozen=True)
class Ladder:
    """A policy key's clock as fixed offsets: opened→due, and due→each rung (computed once on the calendar)."""

    key: str
    duration: timedelta
    rungs: tuple[tuple[int, str, str, timedelta], ...]  # (rung, action, audience, offset from due)


@dataclass
class Stats:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def ladders() -> dict[str, Ladder]:
    """Every policy key's ladder, from the shipped policy, measured from a plain Monday morning."""
    from engine.policy import DeadlineRule, current_policy

    policy = current_policy()
    calendar = policy.calendar()
    start = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    out: dict[str, Ladder] = {}
    for key, rule in policy.deadlines.items():
        due = rule.due_at(calendar, start)
        out[key] = Ladder(
            key=key, duration=due - start,
            rungs=tuple((n, rung.action, rung.audience, DeadlineRule.fire_at(calendar, due, rung) - due)
                        for n, rung in enumerate(rule.ladder, start=1)),
        )
    return out


def weighted(rng: random.Random, options: tuple[tuple[Any, ...], ...]) -> Callable[[], tuple[Any, ...]]:
    population = list(options)
    cumulative = list(itertools.accumulate(o[-1] for o in options))

    def pick() -> tuple[Any, ...]:
        return rng.choices(population, cum_weights=cumulative)[0]

    return pick


def ts(value: datetime) -> str:
    return value.isoformat()  # C-fast; PostgreSQL reads the offset


class Copier:
    """Rows to one table through COPY, in chunks of preformatted text."""

    def __init__(self, conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...], stats: Stats) -> None:
        self.conn, self.table, self.columns, self.stats = conn, table, columns, stats
        self.buffer: list[str] = []
        self.count = 0
        self.started = time.perf_counter()
        self.cursor = conn.cursor()
        self.copy_cm = self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN")
        self.copy = self.copy_cm.__enter__()

    def add(self, *values: object) -> None:
        # Generated values never hold tabs, newlines or backslashes: no escaping needed beyond NULL.
        self.buffer.append("\t".join(["\\N" if v is None else str(v) for v in values]))
        if len(self.buffer) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.copy.write(("\n".join(self.buffer) + "\n").encode())
            self.count += len(self.buffer)
            self.buffer = []

    def close(self) -> None:
        self.flush()
        self.copy_cm.__exit__(None, None, None)
        self.cursor.close()
        self.stats.rows[self.table] = self.stats.rows.get(self.table, 0) + self.count
        self.stats.seconds[f"copy {self.table}"] = time.perf_counter() - self.started


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def recreate_database(url: str, force: bool) -> None:
    base, name = url.rsplit("/", 1)
    if not name.startswith("ketnoi_bench") and not force:
        raise SystemExit(f"refusing to replace database {name!r}: use a name starting with ketnoi_bench, or --force")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def load_reference_data(url: str) -> None:
    from engine.db import make_engine, transaction
    from engine.reference import load_reference

    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with transaction(engine) as session:
            load_reference(session)
    finally:
        engine.dispose()


def drop_secondary_structures(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the bulk tables' foreign keys and non-unique indexes (rebuilt once after the load, much faster than
    maintaining them row by row); returns the statements that recreate them (foreign keys as NOT VALID)."""
    recreate: list[str] = []
    tables = list(BULK_TABLES)
    fks = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)", (tables,)
    ).fetchall()
    for table, name, definition in fks:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        # NOT VALID: the generator made every reference itself; checking 10 million rows again would take minutes.
        # ``ALTER TABLE ... VALIDATE CONSTRAINT`` checks them when wanted (the generator's test does).
        recreate.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition} NOT VALID')
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary AND NOT i.indisunique", (tables,)
    ).fetchall()
    for name, definition in indexes:
        conn.execute(f"DROP INDEX {name}")
        recreate.insert(0, definition)  # indexes first: the foreign keys' checks use them
    return recreate


def names(rng: random.Random) -> Iterator[tuple[str, str]]:
    from engine.text import search_key

    keys: dict[str, str] = {}
    while True:
        full = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        key = keys.get(full)
        if key is None:
            key = keys[full] = search_key(full)
        yield full, key


def generate(url: str, *, scale: float, seed: int, now: datetime, force: bool, crossed: str = "one") -> Stats:
    stats = Stats()
    rng = random.Random(seed)
    began = time.perf_counter()

    step = time.perf_counter()
    recreate_database(psycopg_url(url), force)
    from engine.schema import upgrade

    upgrade(url)
    load_reference_data(url)
    stats.seconds["schema and reference data"] = time.perf_counter() - step

    with psycopg.connect(psycopg_url(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        units = conn.execute("SELECT code, parent_code FROM unit WHERE level = 'commune' ORDER BY code").fetchall()
        provinces = [r[0] for r in conn.execute("SELECT code FROM unit WHERE level = 'province' ORDER BY code")]
        domains: dict[str, str] = dict(conn.execute("SELECT code, domain FROM service_type").fetchall())
        communes = [c for c, _ in units]
        province_of: dict[str, str] = dict(units)

        step = time.perf_counter()
        agency_for, users = _agencies_and_users(conn, stats, communes, provinces, province_of, domains)
        stats.seconds["agencies and users"] = time.perf_counter() - step

        recreate = drop_secondary_structures(conn)
        conn.commit()  # the COPY streams run on other connections: release the DDL locks first
        step = time.perf_counter()
        _people_cases_referrals_deadlines(conn, stats, rng, scale, now, communes, province_of, domains, agency_for,
                                          users, crossed)
        stats.seconds["generate and copy"] = time.perf_counter() - step

        step = time.perf_counter()
        for statement in recreate:
            conn.execute(statement)
        for table in ("child", "case_file", "referral", "deadline", "app_user"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 1) FROM {table}))")
        conn.commit()
        stats.seconds["indexes and foreign keys"] = time.perf_counter() - step
        step = time.perf_counter()
        _training_register(conn, stats, seed)
        conn.commit()
        stats.seconds["training register"] = time.perf_counter() - step
        step = time.perf_counter()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        stats.seconds["vacuum analyze"] = time.perf_counter() - step
    stats.seconds["total"] = time.perf_counter() - began
    return stats


def _agencies_and_users(
    conn: psycopg.Connection[Any], stats: Stats, communes: list[str], provinces: list[str],
    province_of: dict[str, str], domains: dict[str, str],
) -> tuple[dict[tuple[str, str], str], dict[str, tuple[int, int]]]:
    """Agencies per commune and province, what they offer and cover; a caseworker and a supervisor per commune
    and a supervisor per province. Returns the agency serving each (commune, service), and users by unit."""
    agencies = Copier(conn, "agency", ("code", "name_vi", "name_en", "kind", "unit_code", "supervisor_code",
                                       "status", "emails", "phones", "notify_urls", "language"), stats)
    offered: list[tuple[str, str]] = []
    areas: list[tuple[str, str]] = []
    for prefix, kind, level, supervisor, services in AGENCY_KINDS:
        # Supervising (provincial) agencies come first in AGENCY_KINDS, so the foreign key always holds.
        for unit in (provinces if level == "province" else communes):
            code = f"{prefix}-{unit}"
            sup = f"{supervisor}-{unit if level == 'province' else province_of[unit]}" if supervisor else None
            agencies.add(code, f"{kind} {unit}", f"{kind} {unit}", kind, unit, sup, "active",
                         f'["{code.lower()}@example.vn"]', "[]", "[]", "vi")
            offered += [(code, s) for s in services if s in domains]
            areas.append((code, unit))
    agencies.close()
    for table, cols, rows in (("agency_service", ("agency_code", "service_code"), offered),
                              ("agency_area", ("agency_code", "unit_code"), areas)):
        copier = Copier(conn, table, cols, stats)
        for row in rows:
            copier.add(*row)
        copier.close()
    # Routing as the referrals room would find it: the commune's own agency first, else the province's.
    agency_for: dict[tuple[str, str], str] = {}
    commune_level = {s: p for p, _k, lvl, _s, ss in AGENCY_KINDS if lvl == "commune" for s in ss}
    province_level = {s: p for p, _k, lvl, _s, ss in AGENCY_KINDS if lvl == "province" for s in ss}
    users_copy = Copier(conn, "app_user", ("id", "login", "full_name", "password_hash", "role", "unit_code",
                                           "email", "language", "active", "created_at"), stats)
    users: dict[str, tuple[int, int]] = {}
    next_id = 1
    created = ts(BENCH_NOW - timedelta(days=400))
    for unit in provinces + communes:
        ids = []
        for role in ("caseworker", "supervisor"):
            login = f"{role}-{unit}"
            users_copy.add(next_id, login, login, "!bench-no-login", role, unit, f"{login}@example.vn", "vi", "t",
                           created)
            ids.append(next_id)
            next_id += 1
        users[unit] = (ids[0], ids[1])
    users_copy.close()
    for commune in communes:
        for service in domains:
            local = commune_level.get(service)
            if local is not None:
                agency_for[(commune, service)] = f"{local}-{commune}"
            elif service in province_level:
                agency_for[(commune, service)] = f"{province_level[service]}-{province_of[commune]}"
    return agency_for, users


def _training_register(conn: psycopg.Connection[Any], stats: Stats, seed: int) -> None:
    """A staff roster (2 officials and 8 collaborators per commune), one officials' and one caregivers' training
    per commune in the year before ``BENCH_NOW``, about 75% of the roster and the caregivers of about 65% of
    the children attending: the training indicators then count real rows. Set-based SQL, seeded."""
    year = BENCH_NOW.year - 1
    conn.execute("SELECT setseed(%s)", (((seed * 7919) % 1000) / 1000,))
    statements = {
        "staff_roster": (
            "INSERT INTO staff_roster (unit_code, person_name, kind) "
            "SELECT u.code, 'Cán bộ ' || u.code || '-' || g, CASE WHEN g <= 2 THEN 'official' ELSE 'collaborator' END "
            "FROM unit u CROSS JOIN generate_series(1, 10) g WHERE u.level = 'commune'"),
        "training_session": (
            "INSERT INTO training_session (unit_code, topic, audience, held_on) "
            "SELECT u.code, t.topic, t.audience, make_date(%(year)s, 1, 5) + (random() * 340)::int "
            "FROM unit u CROSS JOIN (VALUES ('Chăm sóc trẻ khuyết tật tại nhà', 'caregivers'), "
            "('Quản lý trường hợp trẻ khuyết tật', 'officials')) t(topic, audience) WHERE u.level = 'commune'"),
        "training_participant": (
            "INSERT INTO training_participant (session_id, person_name, kind, child_id, unit_code) "
            "SELECT s.id, r.person_name, r.kind, NULL, r.unit_code FROM staff_roster r "
            "JOIN training_session s ON s.unit_code = r.unit_code AND s.audience = 'officials' "
            "WHERE random() < 0.75 "
            "UNION ALL "
            "SELECT s.id, 'Người chăm sóc ' || c.id, 'caregiver', c.id, c.commune_code FROM child c "
            "JOIN training_session s ON s.unit_code = c.commune_code AND s.audience = 'caregivers' "
            "WHERE random() < 0.65"),
    }
    for table, statement in statements.items():
        stats.rows[table] = conn.execute(statement, {"year": year}).rowcount  # type: ignore[arg-type]


def _people_cases_referrals_deadlines(
    conn: psycopg.Connection[Any], stats: Stats, rng: random.Random, scale: float, now: datetime,
    communes: list[str], province_of: dict[str, str], domains: dict[str, str],
    agency_for: dict[tuple[str, str], str], users: dict[str, tuple[int, int]], crossed: str,
) -> None:
    n_children = max(1, round(CHILDREN * scale))
    n_referrals = max(1, round(REFERRALS * scale))
    policy = ladders()
    # One connection per table: a connection streams one COPY at a time, and these five are written together.
    conns = [psycopg.connect(conn.info.dsn, password=conn.info.password) for _ in range(5)]
    for c in conns:
        c.execute("SET synchronous_commit = off")
    children = Copier(conns[0], "child", ("id", "full_name", "name_key", "date_of_birth", "sex", "commune_code",
                                      "guardians", "disability_types", "severity", "special_circumstances",
                                      "household_status", "created_at"), stats)
    cases = Copier(conns[1], "case_file", ("id", "child_id", "unit_code", "stage", "step", "version", "owner_id",
                                       "urgency", "source", "data", "opened_at", "updated_at", "closed_at"), stats)
    referrals = Copier(conns[2], "referral", ("id", "case_id", "service_code", "domain", "agency_code", "state",
                                          "version", "routing_reason", "outcome", "created_by", "created_at",
                                          "updated_at", "requested_at", "accepted_at", "started_at", "ended_at"),
                       stats)
    deadlines = Copier(conns[3], "deadline", ("id", "case_id", "referral_id", "policy_key", "owner_user_id",
                                          "owner_agency_code", "owner_unit_code", "owner_role", "opened_at",
                                          "due_at", "paused_at"), stats)
    rungs = Copier(conns[4], "deadline_rung", ("deadline_id", "rung", "action", "audience", "fire_at"), stats)
    pick_step = weighted(rng, CASE_STEPS)
    pick_open = weighted(rng, OPEN_REFERRAL_STATES)
    pick_ended = weighted(rng, ENDED_REFERRAL_STATES)
    open_share = sum(w for _s, w in OPEN_REFERRAL_STATES)
    services = sorted(s for s in domains if (communes[0], s) in agency_for)
    name_source = names(rng)
    referral_id = 0
    crossing = 0
    # (opened at, case, referral, policy key, owner, due at) of every open clock, written once all are known
    # (..., rungs fired by earlier sweeps: not pending any more)
    clocks: list[tuple[datetime, int, int | None, str, tuple[Any, Any, Any, Any], datetime, int]] = []

    def clock(case_id: int, ref_id: int | None, key: str, owner: tuple[Any, Any, Any, Any]) -> None:
        nonlocal crossing
        ladder = policy.get(key)
        if ladder is None or not ladder.rungs:
            return
        offsets = [offset for _n, _a, _aud, offset in ladder.rungs]
        if rng.random() < CROSSING_SHARE:
            # Rungs 1..k+1 crossed a little while ago (before rung k+2 is due); with one crossed, rungs 1..k
            # fired in earlier sweeps and are no longer pending (they are left out below).
            k = rng.randrange(len(offsets))
            window = (offsets[k + 1] - offsets[k]) if k + 1 < len(offsets) else timedelta(days=1)
            due = now - window * rng.uniform(0.05, 0.95) - offsets[k]
            crossing += 1
            fired_before = k if crossed == "one" else 0
        else:
            wait = timedelta(minutes=rng.uniform(10, max(60.0, ladder.duration.total_seconds() / 60)))
            due = now + wait - offsets[0]
            fired_before = 0
        clocks.append((due - ladder.duration, case_id, ref_id, key, owner, due, fired_before))

    day = timedelta(days=1)
    referrals_left = n_referrals
    for child_id in range(1, n_children + 1):
        commune = communes[rng.randrange(len(communes))]
        caseworker, supervisor = users[commune]
        full, key = next(name_source)
        born = BENCH_NOW - timedelta(days=rng.randrange(365, 16 * 365))
        opened = BENCH_NOW - timedelta(days=rng.randrange(10, 900))
        children.add(child_id, full, key, born.date().isoformat(), rng.choice(("male", "female")), commune, "[]",
                     f'["{rng.choice(DISABILITIES)}"]', rng.choice(SEVERITIES), "[]", rng.choice(HOUSEHOLDS),
                     ts(opened))
        step, stage, _w = pick_step()
        closed = step == "closed"
        cases.add(child_id, child_id, commune, stage, step, rng.randrange(2, 12), caseworker,
                  "urgent" if rng.random() < 0.03 else "normal", "survey", "{}", ts(opened),
                  ts(opened + day * rng.randrange(1, 9)), ts(BENCH_NOW - day * rng.randrange(1, 9)) if closed else None)
        if not closed:
            owner = ((None, None, commune, "supervisor") if step in SUPERVISOR_STEPS
                     else (caseworker, None, None, None))
            clock(child_id, None, f"case.{step}", owner)
        # Referrals belong to cases in care or beyond; spread the total over the remaining children.
        if stage not in ("care", "closure"):
            continue
        remaining_children = n_children - child_id + 1
        share = referrals_left / max(1, remaining_children * 0.8)
        count = min(referrals_left, int(share) + (1 if rng.random() < share - int(share) else 0))
        referrals_left -= count
        for _ in range(count):
            referral_id += 1
            service = services[rng.randrange(len(services))]
            agency = agency_for.get((commune, service))
            if agency is None:
                continue
            created = opened + day * rng.randrange(5, 60)
            if not closed and rng.random() < open_share:
                state = pick_open()[0]
                ended = None
            else:
                state = pick_ended()[0]
                ended = ts(created + day * rng.randrange(3, 90))
            started = ts(created + day * 3) if state in ("in_progress", "on_hold", "completed", "failed") else None
            accepted = ts(created + day * 2) if state not in ("requested", "rejected", "cancelled") else None
            referrals.add(referral_id, child_id, service, domains[service], agency, state, rng.randrange(2, 7),
                          "bench", "delivered_fully" if state == "completed" else None, caseworker, ts(created),
                          ts(created + day), ts(created), accepted, started, ended)
            if ended is None:
                clock(child_id, referral_id, f"referral.{state}", (None, agency, None, None))
    # In service a clock's row and its rungs are appended when it opens, so ids and the rows' places on disk
    # follow the opening time; the sweep's reads and writes land where they would in production.
    clocks.sort(key=lambda c: c[0])
    for deadline_id, (opened_at, case_id, ref_id, key, owner, due, fired_before) in enumerate(clocks, start=1):
        deadlines.add(deadline_id, case_id, ref_id, key, *owner, ts(opened_at), ts(due), None)
        for number, action, audience, offset in policy[key].rungs[fired_before:]:
            rungs.add(deadline_id, number, action, audience, ts(due + offset))
    clocks.clear()
    for copier in (children, cases, referrals, deadlines, rungs):
        copier.close()
    for c in conns:
        c.commit()
        c.close()
    stats.rows["open deadlines crossing a rung"] = crossing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", default=BENCH_NOW.isoformat(), help="the benchmark's time (ISO 8601 with offset)")
    parser.add_argument("--force", action="store_true", help="replace a database not named ketnoi_bench*")
    parser.add_argument("--crossed", choices=("one", "several"), default="one",
                        help="rungs each crossing deadline has crossed: its next one (steady state, the default) or "
                             "1 to all of them (a first sweep after downtime)")
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(args.now)
    if now.tzinfo is None:
        raise SystemExit("--now needs a UTC offset, e.g. 2027-03-15T09:00:00+07:00")
    from engine.db import normalise_url

    url = normalise_url(args.db_url)
    print(f"generating at scale {args.scale}, {args.crossed} rung crossed, into {url.rsplit('/', 1)[1]} "
          f"(now = {now.isoformat()})", flush=True)
    stats = generate(url, scale=args.scale, seed=args.seed, now=now.astimezone(UTC), force=args.force,
                     crossed=args.crossed)
    print("rows:")
    for table, count in stats.rows.items():
        print(f"  {table:32} {count:>12,}")
    print("seconds:")
    for what, seconds in stats.seconds.items():
        print(f"  {what:32} {seconds:>12.1f}")


if __name__ == "__main__":
    main()
