"""The national-scale generator at a tiny scale: consistent data that the real sweep fires exactly as planned."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from bench.generate_national import BENCH_NOW, generate, psycopg_url
from engine.db import make_engine, transaction
from engine.policy import current_policy
from engine.sweep import sweep, sweep_sharded
from tests.conftest import PG_ADMIN_URL


def drop_database(url: str) -> None:
    base, name = psycopg_url(url).rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def bench_url() -> Iterator[str]:
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/ketnoi_bench_test_{uuid.uuid4().hex[:8]}"
    try:
        yield url
    finally:
        drop_database(url)


# What a sweep writes, without the ids and clock readings that differ from one run to another.
WRITTEN = {
    "escalation": "SELECT deadline_id, rung, action, audience, fired_at FROM escalation",
    "outbox": "SELECT dedupe_key, template, language, recipient_kind, recipient_ref, context::text, case_id, "
              "referral_id, agency_code, status FROM outbox",
    "task": "SELECT case_id, referral_id, kind, owner_user_id, owner_agency_code, owner_unit_code, owner_role, "
            "note, closed_at FROM task",
    "deadline_rung": "SELECT deadline_id, rung, fire_at FROM deadline_rung",
}


def written(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(psycopg_url(url)) as conn:
        return {table: sorted(map(tuple, conn.execute(sql).fetchall()), key=repr)  # type: ignore[arg-type]
                for table, sql in WRITTEN.items()}


def test_a_sharded_sweep_writes_what_one_sweep_writes(bench_url: str) -> None:
    # after downtime: several rungs per crossing deadline, so the shards must agree on superseded reminders too
    generate(bench_url, scale=0.002, seed=11, now=BENCH_NOW, force=False, crossed="several")
    base, name = psycopg_url(bench_url).rsplit("/", 1)
    copy_url = bench_url + "_sharded"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}_sharded" TEMPLATE "{name}"')  # type: ignore[arg-type]
    try:
        whole, sharded = make_engine(bench_url), make_engine(copy_url)
        try:
            with transaction(whole) as session:
                counts = sweep(session, BENCH_NOW)
            assert sweep_sharded(sharded, BENCH_NOW, 3) == counts
            assert counts["rungs_fired"] > 20 and counts["tasks"] > 0 and counts["superseded"] > 0
            assert sweep_sharded(sharded, BENCH_NOW, 3) == dict.fromkeys(counts, 0)
        finally:
            whole.dispose()
            sharded.dispose()
        assert written(copy_url) == written(bench_url)
    finally:
        drop_database(copy_url)


@pytest.mark.parametrize("crossed", ["one", "several"])
def test_generated_data_is_consistent_and_sweeps_as_planned(bench_url: str, crossed: str) -> None:
    stats = generate(bench_url, scale=0.002, seed=7, now=BENCH_NOW, force=False, crossed=crossed)
    assert stats.rows["child"] == 1400 and stats.rows["case_file"] == 1400
    assert 0 < stats.rows["referral"] <= 4000

    engine = make_engine(bench_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:  # every foreign key the generator re-added unchecked holds
            unchecked = conn.exec_driver_sql(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"
            ).all()
            for table, name in unchecked:
                conn.exec_driver_sql(f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"')
        assert len(unchecked) >= 5
        with engine.connect() as conn:
            communes = conn.exec_driver_sql("SELECT count(*) FROM unit WHERE level = 'commune'").scalar()
            provinces = conn.exec_driver_sql("SELECT count(*) FROM unit WHERE level = 'province'").scalar()
            # Every open deadline's pending rungs: the end of its policy key's ladder (all of it if none has fired)
            ladders = {key: len(rule.ladder) for key, rule in current_policy().deadlines.items()}
            per_deadline = conn.exec_driver_sql(
                "SELECT d.policy_key, min(r.rung), max(r.rung), count(*), bool_or(r.fire_at <= %(now)s) "
                "FROM deadline d JOIN deadline_rung r ON r.deadline_id = d.id WHERE d.closed_at IS NULL "
                "GROUP BY d.id, d.policy_key", {"now": BENCH_NOW}
            ).all()
            # Open referrals have a clock on the agency they wait on; ended ones have none.
            orphans = conn.exec_driver_sql(
                "SELECT count(*) FROM referral f WHERE f.state IN ('requested','accepted','in_progress','on_hold') "
                "AND NOT EXISTS (SELECT 1 FROM deadline d WHERE d.referral_id = f.id "
                "AND d.owner_agency_code = f.agency_code)"
            ).scalar()
            ended_with_clock = conn.exec_driver_sql(
                "SELECT count(*) FROM referral f JOIN deadline d ON d.referral_id = f.id "
                "WHERE f.state IN ('completed','rejected','failed','cancelled')"
            ).scalar()
            crossed_rungs = conn.exec_driver_sql(
                "SELECT count(*), count(DISTINCT deadline_id) FROM deadline_rung "
                "WHERE fire_at <= %(now)s", {"now": BENCH_NOW}
            ).one()
            caregivers, strangers = conn.exec_driver_sql(
                "SELECT count(*), count(*) FILTER (WHERE c.commune_code <> p.unit_code) FROM training_participant p "
                "JOIN child c ON c.id = p.child_id WHERE p.kind = 'caregiver'"
            ).one()
            roster_attended = conn.exec_driver_sql(
                "SELECT count(*) FROM training_participant p JOIN staff_roster r ON (r.unit_code, r.person_name, "
                "r.kind) = (p.unit_code, p.person_name, p.kind)"
            ).scalar()
        assert (communes, provinces) == (3321, 34)
        # the training register: 10 people per commune, about 75% of them and 65% of the children's caregivers trained
        assert stats.rows["staff_roster"] == 10 * communes
        assert roster_attended == stats.rows["training_participant"] - caregivers
        assert 0.6 * stats.rows["staff_roster"] < roster_attended < 0.9 * stats.rows["staff_roster"]
        assert 0.5 * stats.rows["child"] < caregivers < 0.8 * stats.rows["child"] and strangers == 0
        assert per_deadline and all(last == ladders[key] and count == last - first + 1
                                    for key, first, last, count, _crossing in per_deadline)
        # a deadline not crossing yet has its whole ladder; after downtime the crossing ones have theirs too
        whole = [first == 1 for _key, first, _last, _count, crossing in per_deadline
                 if not crossing or crossed == "several"]
        assert whole and all(whole)
        assert orphans == 0 and ended_with_clock == 0
        assert crossed_rungs[1] == stats.rows["open deadlines crossing a rung"]
        assert 0 < crossed_rungs[1] < 0.05 * len(per_deadline)  # about 1%
        if crossed == "one":  # each crossing deadline's next rung, and that one only, has come due
            assert crossed_rungs[0] == crossed_rungs[1]
        else:
            assert crossed_rungs[0] > crossed_rungs[1]

        with transaction(engine) as session:
            first = sweep(session, BENCH_NOW)
        with transaction(engine) as session:
            second = sweep(session, BENCH_NOW)
        assert first["rungs_fired"] == crossed_rungs[0]
        assert second["rungs_fired"] == 0
    finally:
        engine.dispose()
