"""The deadline sweep at national scale, beside a naive approach. Prints figures; it is not a pass/fail test.

    .venv/bin/python -m bench.generate_national            # once: builds ketnoi_bench (a few minutes)
    .venv/bin/python -m bench.generate_national --crossed several --db-url .../ketnoi_bench_downtime  # optional
    .venv/bin/python -m bench.sweep_bench [--db-url postgresql://postgres@127.0.0.1:5432/ketnoi_bench]
                                          [--now 2027-03-15T09:00:00+07:00] [--generate 0.01] [--shards N]

Each approach runs on its own copy of the generated database (``CREATE DATABASE ... TEMPLATE``), so both
start from the same state and the source stays untouched, and each measurement runs in a fresh Python
process: the time is wall-clock around the call, the memory is that process's peak resident size. The
set-based sweep runs ``--rounds`` times (3 by default), each on a fresh copy, and the median round is
reported (a shared machine's figures swing by a third from one run to the next); the naive one runs once.

- set-based: ``engine.sweep.sweep_sharded(engine, now, shards)`` as the flow runs it (``--shards`` parts at once,
  each in its own transaction; default ``KETNOI_SWEEP_SHARDS``, 2), run twice (the second has nothing to do);
  after each, what the flow does after a sweep (``flows.sweep.tidy_after_sweep``: a ``VACUUM (ANALYZE)`` of the
  rungs after a large sweep), timed apart and printed as "tidy" (it is not part of the sweep's transaction);
- naive: load every open deadline's pending rungs into Python, then for each crossed rung record the
  escalation, delete the fired rung and write the owner's notification, one statement at a time.

Goals printed against: first sweep < 1 s, second < 0.1 s, at least 20 times faster than naive, peak < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.generate_national import BENCH_NOW, DEFAULT_DB_URL, psycopg_url

GOAL_FIRST_S = 1.0
GOAL_SECOND_S = 0.1
GOAL_RATIO = 20.0
GOAL_PEAK_MB = 300.0


def rss_mb() -> float:
    """This process's current resident size."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_set_based(url: str, now: datetime, repeat: int, shards: int) -> list[dict[str, Any]]:
    from engine.db import make_engine
    from engine.sweep import sweep_sharded
    from flows.sweep import tidy_after_sweep

    engine = make_engine(url)
    connections = [engine.connect() for _ in range(shards)]  # open the pool's connections outside the measurement
    for conn in connections:
        conn.exec_driver_sql("SELECT 1")
        conn.close()
    results = []
    for _ in range(repeat):
        before = rss_mb()
        started = time.perf_counter()
        counts = sweep_sharded(engine, now, shards)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        tidied = tidy_after_sweep(engine, counts)
        tidy = time.perf_counter() - started
        results.append({"seconds": seconds, "counts": counts, "rss_before_mb": before, "peak_mb": peak_rss_mb(),
                        "tidy_seconds": tidy if tidied else None})
    engine.dispose()
    return results


def run_naive(url: str, now: datetime, repeat: int) -> list[dict[str, Any]]:
    """The loop a first version would write: everything into Python, then row by row."""
    results = []
    with psycopg.connect(psycopg_url(url)) as conn:
        conn.execute("SELECT 1")
        for _ in range(repeat):
            before = rss_mb()
            started = time.perf_counter()
            rows = conn.execute(
                "SELECT d.id, d.case_id, d.referral_id, d.owner_agency_code, d.owner_user_id, d.owner_unit_code, "
                "d.owner_role, d.due_at, r.rung, r.action, r.audience, r.fire_at "
                "FROM deadline d JOIN deadline_rung r ON r.deadline_id = d.id "
                "WHERE d.closed_at IS NULL AND d.paused_at IS NULL"
            ).fetchall()
            loaded = len(rows)
            fired = 0
            for (deadline_id, case_id, referral_id, agency, user_id, unit, role, _due, rung, action, audience,
                 fire_at) in rows:
                if fire_at > now:
                    continue
                inserted = conn.execute(
                    "INSERT INTO escalation (deadline_id, rung, action, audience, fired_at, swept_at) "
                    "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT DO NOTHING",
                    (deadline_id, rung, action, audience, now),
                ).rowcount
                if not inserted:
                    continue
                conn.execute("DELETE FROM deadline_rung WHERE deadline_id = %s AND rung = %s", (deadline_id, rung))
                kind, ref = (("agency", agency) if agency else ("user", str(user_id)) if user_id
                             else ("unit_role", f"{unit}:{role}"))
                conn.execute(
                    "INSERT INTO outbox (dedupe_key, template, language, recipient_kind, recipient_ref, addresses, "
                    "context, case_id, referral_id, agency_code, status, attempts, next_attempt_at, created_at) "
                    "VALUES (%s, %s, 'vi', %s, %s, '[]', '{}', %s, %s, %s, 'pending', 0, now(), now()) "
                    "ON CONFLICT DO NOTHING",
                    (f"naive:{deadline_id}:{rung}:{kind}:{ref}", "escalation" if action == "escalate" else "overdue",
                     kind, ref, case_id, referral_id, agency),
                )
                fired += 1
            conn.commit()
            del rows
            seconds = time.perf_counter() - started
            results.append({"seconds": seconds, "counts": {"rows_loaded": loaded, "rungs_fired": fired},
                            "rss_before_mb": before, "peak_mb": peak_rss_mb()})
    return results


def child(kind: str, url: str, now: datetime, repeat: int, shards: int = 1) -> list[dict[str, Any]]:
    """Run one approach in a fresh process, so that its time and memory are its own."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.sweep_bench", "--run", kind, "--db-url", url, "--now", now.isoformat(),
         "--repeat", str(repeat), "--shards", str(shards)],
        check=True, capture_output=True, text=True,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def copy_database(url: str, suffix: str) -> str:
    base, name = psycopg_url(url).rsplit("/", 1)
    copy = f"{name}_{suffix}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        # FILE_COPY, then a checkpoint: the copy leaves no WAL and no dirty pages behind for the checkpointer
        # to write during the measurement (the default WAL_LOG strategy logs all 1.5 GB of it)
        admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}" STRATEGY = FILE_COPY')
        admin.execute("CHECKPOINT")
    return f"{base}/{copy}"


def drop_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def describe(url: str, now: datetime) -> dict[str, int]:
    with psycopg.connect(psycopg_url(url)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM referral), (SELECT count(*) FROM deadline WHERE closed_at IS NULL), "
            "(SELECT count(*) FROM deadline_rung), "
            "(SELECT count(DISTINCT r.deadline_id) FROM deadline_rung r JOIN deadline d ON d.id = r.deadline_id "
            " WHERE r.fire_at <= %s AND d.closed_at IS NULL), "
            "(SELECT count(*) FROM deadline_rung r JOIN deadline d ON d.id = r.deadline_id "
            " WHERE r.fire_at <= %s AND d.closed_at IS NULL), "
            "pg_database_size(current_database())", (now, now)
        ).fetchone()
    assert row is not None
    return dict(zip(("referrals", "open deadlines", "pending rungs", "deadlines crossing", "rungs crossed",
                     "database bytes"), row, strict=True))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DEFAULT_DB_URL, help="the generated database (left untouched)")
    parser.add_argument("--now", default=BENCH_NOW.isoformat())
    parser.add_argument("--generate", type=float, metavar="SCALE", help="generate the database first at this scale")
    parser.add_argument("--crossed", choices=("one", "several"), default="one",
                        help="with --generate: rungs each crossing deadline has crossed (see bench.generate_national)")
    parser.add_argument("--keep", action="store_true", help="keep the two working copies")
    parser.add_argument("--set-based-only", action="store_true", help="skip the (slow) naive approach")
    parser.add_argument("--rounds", type=int, default=3,
                        help="set-based rounds, each on a fresh copy; the median first sweep is reported")
    parser.add_argument("--shards", type=int, default=None,
                        help="set-based sweep in this many parts at once (default: KETNOI_SWEEP_SHARDS, 2)")
    parser.add_argument("--run", choices=("set-based", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(args.now).astimezone(UTC)
    from engine.db import normalise_url
    from engine.settings import Settings

    url = normalise_url(args.db_url)
    shards = args.shards or Settings(database_url=url).sweep_shards
    if args.run == "set-based":
        print(json.dumps(run_set_based(url, now, args.repeat, shards)))
        return
    if args.run == "naive":
        print(json.dumps(run_naive(url, now, args.repeat)))
        return

    if args.generate is not None:
        from bench.generate_national import generate

        print(f"generating at scale {args.generate}, {args.crossed} rung crossed...", flush=True)
        generate(url, scale=args.generate, seed=1, now=now, force=False, crossed=args.crossed)
    facts = describe(url, now)
    print(f"database {url.rsplit('/', 1)[1]} at {now.isoformat()}: "
          + ", ".join(f"{k} {v:,}" for k, v in facts.items()), flush=True)

    rounds: list[list[dict[str, Any]]] = []
    for _ in range(args.rounds):
        sweep_copy = copy_database(url, "sweep")
        try:
            rounds.append(child("set-based", sweep_copy, now, 2, shards))
        finally:
            if not args.keep:
                drop_database(sweep_copy)
    naive_copy = None if args.set_based_only else copy_database(url, "naive")
    try:
        naive = child("naive", naive_copy, now, 2) if naive_copy else None
    finally:
        if naive_copy and not args.keep:
            drop_database(naive_copy)

    # the round whose first sweep took the median time stands for all (each round starts from a fresh copy)
    first, second = sorted(rounds, key=lambda pair: pair[0]["seconds"])[(len(rounds) - 1) // 2]
    if len(rounds) > 1:
        print("first sweeps, one per fresh copy: "
              + ", ".join(f"{pair[0]['seconds']:.3f}" for pair in rounds) + " s; the median round is shown")
    print()
    print(f"{'':26}{'seconds':>10}{'peak MB':>10}  counts")
    print(f"set-based sweep in {shards} shard(s) at once, each in its own transaction")
    lines = [("set-based, first sweep", first), ("set-based, second sweep", second)]
    if naive:
        lines += [("naive, first pass", naive[0]), ("naive, second pass", naive[1])]
    for label, result in lines:
        print(f"{label:26}{result['seconds']:>10.3f}{result['peak_mb']:>10.0f}  {result['counts']}")
        if result.get("tidy_seconds") is not None:
            print(f"{'  then tidy (VACUUM)':26}{result['tidy_seconds']:>10.3f}  outside the sweep's transaction")
    print()
    print(f"first sweep   {first['seconds']:.3f} s  (goal < {GOAL_FIRST_S} s)   "
          f"{verdict(first['seconds'] < GOAL_FIRST_S)}")
    print(f"second sweep  {second['seconds']:.3f} s  (goal < {GOAL_SECOND_S} s)  "
          f"{verdict(second['seconds'] < GOAL_SECOND_S)}")
    if naive:
        ratio = naive[0]["seconds"] / first["seconds"] if first["seconds"] else float("inf")
        print(f"naive / set-based  {ratio:.1f}x  (goal >= {GOAL_RATIO:.0f}x)   {verdict(ratio >= GOAL_RATIO)}")
    peak = max(first["peak_mb"], second["peak_mb"])
    print(f"peak memory   {peak:.0f} MB of the sweeping process (goal < {GOAL_PEAK_MB:.0f} MB)   "
          f"{verdict(peak < GOAL_PEAK_MB)}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; load from other processes shows up "
          "in every figure)")


if __name__ == "__main__":
    main()
