"""Indicator report (and overdue audit) timings on the national-scale data set, PostgreSQL.

    .venv/bin/python -m bench.generate_national --db-url postgresql://postgres@127.0.0.1:5432/ketnoi_bench
    .venv/bin/python -m bench.indicators_bench [--db-url URL] [--province 01] [--period 2026] [--repeat 5]

The database comes from ``--db-url`` or ``KETNOI_BENCH_DB_URL`` (default: the generator's). For one province
and for the whole country it prints the best and median wall time of ``compute_indicators`` over
``--repeat`` runs (after one warm-up run), the peak of Python memory allocated during one run
(tracemalloc), the machine's load average before and after the runs (the timings mean little on a busy
machine) and the process's peak resident size, then the indicator values, so the figures can be checked
for sense. Goals: under 1 s for a province and under 5 s for the country, set-based SQL only.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.db import make_engine, transaction
from supervision.indicators import IndicatorReport, compute_indicators
from supervision.overdue import NATIONAL, overdue_audit

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/ketnoi_bench"
BENCH_NOW = datetime(2027, 3, 15, 2, 0, tzinfo=UTC)  # the generator's "now": Monday 15 March 2027, 09:00 local
# The generator's clocks are all still running at its "now"; three weeks on, most of them are overdue,
# which is what the audit has to chew through.
AUDIT_AS_OF = BENCH_NOW + timedelta(days=21)
GOALS = {"province": 1.0, "country": 5.0}


def timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], int, Any]:
    """Wall times of ``repeat`` runs after a warm-up, and the Python allocation peak of one traced run."""
    result = run()  # warm-up: plan caches, catalogue, the OS page cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    run()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return times, peak, result


def show(report: IndicatorReport) -> None:
    for item in report.indicators:
        if item.value is None:
            shown = "—"
        elif item.kind == "share":
            shown = f"{item.value:6.1%}"
        else:
            shown = f"{item.value:g}"
        denominator = "" if item.denominator is None else f"/{item.denominator:,}"
        target = "" if item.target is None else f"  target {item.target:.0%} by {item.target_year}"
        print(f"    {item.key:24} {shown:>8}  ({item.numerator:,}{denominator}){target}")
    print(f"    breakdown rows: {len(report.breakdown):,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=os.environ.get("KETNOI_BENCH_DB_URL", DEFAULT_DB_URL))
    parser.add_argument("--province", default="01", help="province code (default 01, Hà Nội)")
    parser.add_argument("--period", default="2026")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    engine = make_engine(args.db_url)
    with engine.connect() as conn:
        sizes = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 (fixed names)
                 for t in ("child", "case_file", "referral", "deadline", "unit", "agency")}
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
    print(f"period {args.period}, {args.repeat} timed runs after a warm-up\n")

    failures = []
    for label, unit in (("province", args.province), ("country", NATIONAL)):
        def indicators(unit: str = unit) -> IndicatorReport:
            with transaction(engine) as session:
                return compute_indicators(session, unit_code=unit, period=args.period)

        load_before = os.getloadavg()[0]
        times, peak, report = timed(indicators, args.repeat)
        best, median = min(times), statistics.median(times)
        load = f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
        verdict = "ok" if median < GOALS[label] else "OVER GOAL"
        if median >= GOALS[label]:
            failures.append(label)
        print(f"indicators, {label} {unit} ({report.unit_name_vi}): best {best:.3f} s, median {median:.3f} s "
              f"(goal < {GOALS[label]:.0f} s: {verdict}); Python peak {peak / 1e6:.1f} MB; {load}")
        show(report)

        def audit(unit: str = unit) -> int:
            with transaction(engine) as session:
                return overdue_audit(session, within_unit=unit, as_of=AUDIT_AS_OF).total

        times, peak, total = timed(audit, max(1, args.repeat // 2))
        print(f"  overdue audit at {AUDIT_AS_OF.isoformat()}: {total:,} items; best {min(times):.3f} s, "
              f"median {statistics.median(times):.3f} s; Python peak {peak / 1e6:.1f} MB\n")

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak resident size: {rss_mb:.0f} MB")
    if failures:
        print("over goal: " + ", ".join(failures))
    engine.dispose()


if __name__ == "__main__":
    main()
