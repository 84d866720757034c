"""Indicators on a small hand-built data set whose numerators and denominators were counted by hand.

Communes A = 05443 and B = 05710 of province 19 (Thái Nguyên, 92 communes). Times are local (UTC+7).

Children (every one has a disability type):
  c1 A  registered 2025-10-01  R1 health_care/health   requested Mon 5 Jan, accepted Wed 7 Jan (2 wd),
                                                        started 8 Jan, completed 10 Feb 2026
                               caregiver trained 1 Mar 2026
  c2 A  registered 2026-04-20  (mid-period: in H1 and the year, not in Q1)
                               R2 inclusive_education   requested Mon 4 May, accepted Thu 7 May (3 wd),
                                                        started 20 Jun, completed 10 Jul (after H1)
  c3 B  registered 2025-06-01  R3 counselling/social    requested Thu 12 Feb, accepted Mon 23 Feb
                                                        (13 Feb, then Tết 16–20 Feb, then 23 Feb: 2 wd),
                                                        never started; its clock was due 13 Feb, closed 23 Feb
  c4 B  registered 2026-08-01  R5 rehabilitation        requested Mon 3 Aug, accepted 4 Aug (1 wd), started 5 Aug
  c5 A  born 2009-06-01: 16 before 2026 began — not counted in any 2026 period
  c6 B  registered 2026-01-10  R4 rehabilitation        requested Mon 12 Jan, accepted 13 Jan (1 wd),
                                                        started 14 Jan, failed 1 Mar 2026
                               caregiver trained 15 Jul 2026
Staff roster: An (A, official), Bình (A, collaborator), Cường (B, official), Dung (19, official) = 4.
Trainings: 10 Apr 2026 — An (official, A) ✓, Dung (official, 19) ✓, Bình recorded as *official* (kind differs,
no match), Em (A, collaborator; not on the roster); 1 Sep 2026 — Cường ✓ (only from September).
Network (PHCN-19 temporarily closed for this test): A has health (TYT-05443), education (TH-05443) and social
(UBND-05443): linked. B: its health station is closed and PHCN-19 too, so only education (TH-05710) and
social (CTXH-19): two domains, not linked. The other 90 communes only have CTXH-19 (social): not linked.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.db import transaction
from engine.models import Agency
from supervision.indicators import IndicatorReport, compute_indicators
from tests.support.people import COMMUNE_A, COMMUNE_B, DEMO_PROVINCE
from tests.support.supervision_data import COMMUNES_IN_PROVINCE, build


def counts(report: IndicatorReport) -> dict[str, tuple[int | None, int | None]]:
    return {i.key: (i.numerator, i.denominator) for i in report.indicators}


def test_first_half_of_2026(db: Engine) -> None:
    build(db)
    with transaction(db) as s:
        report = compute_indicators(s, unit_code=DEMO_PROVINCE, period="2026-H1")
    assert counts(report) == {
        "children_registered": (4, None),  # c1 c2 c3 c6 (c4 registered in August, c5 aged out)
        "reached_service": (2, 4),  # c1 (R1 started 8 Jan), c2 (R2 started 20 Jun); c6's R4 failed in March
        "health_rehabilitation": (1, 4),  # c1 only: c6's rehabilitation failed before the end
        "caregivers_trained": (1, 4),  # c1 (March); c6's caregiver was trained in July
        "officials_trained": (2, 4),  # An and Dung; Bình's record has another kind; Cường in September
        "linked_network": (1, COMMUNES_IN_PROVINCE),  # only A
        "referral_days_to_accept": (4, None),  # R1 R2 R3 R4 accepted in H1
        "referral_completed": (1, 4),  # R1; R2 completed in July
        "referral_overdue": (1, 4),  # R3
    }
    days = report.indicator("referral_days_to_accept")
    assert days.value == 2.0  # 1, 2, 2, 3
    reached = report.indicator("reached_service")
    assert reached.value == 0.5 and reached.target == 0.9 and reached.target_year == 2025 and reached.met is False
    assert report.indicator("linked_network").target == 0.9
    rows = {r.unit_code: r.values for r in report.breakdown}
    assert rows[COMMUNE_A]["reached_service"] == {"numerator": 2, "denominator": 2, "value": 1.0}
    assert rows[COMMUNE_B]["reached_service"] == {"numerator": 0, "denominator": 2, "value": 0.0}
    assert rows[COMMUNE_A]["referral_days_to_accept"]["value"] == 2.5  # 2 and 3
    assert rows[COMMUNE_B]["referral_days_to_accept"]["value"] == 1.5  # 2 and 1
    assert rows[COMMUNE_B]["linked_network"] == {"numerator": 0, "denominator": 1, "value": 0.0}  # two domains only
    assert rows[DEMO_PROVINCE]["officials_trained"] == {"numerator": 1, "denominator": 1, "value": 1.0}
    assert rows[COMMUNE_A]["officials_trained"]["numerator"] == 1


@pytest.mark.parametrize(
    ("period", "expected", "median"),
    [
        # Q1: c2 not yet registered; R1 R3 R4 requested; R1 completed 10 Feb; days 2, 2, 1
        ("2026-Q1", {"children_registered": (3, None), "reached_service": (1, 3), "health_rehabilitation": (1, 3),
                     "caregivers_trained": (1, 3), "officials_trained": (0, 4), "referral_completed": (1, 3),
                     "referral_overdue": (1, 3)}, 2.0),
        # the year: c4 joins (rehabilitation from 5 Aug), c6's caregiver (July) and Cường (September) count;
        # R2 completed in July now counts, and its clock (due 5 Jul, never closed) makes it overdue; days 1 1 2 2 3
        ("2026", {"children_registered": (5, None), "reached_service": (3, 5), "health_rehabilitation": (2, 5),
                  "caregivers_trained": (2, 5), "officials_trained": (3, 4), "referral_completed": (2, 5),
                  "referral_overdue": (2, 5)}, 2.0),
    ],
)
def test_other_periods(db: Engine, period: str, expected: dict[str, tuple[int, int | None]], median: float) -> None:
    build(db)
    with transaction(db) as s:
        report = compute_indicators(s, unit_code=DEMO_PROVINCE, period=period)
    got = counts(report)
    assert {k: got[k] for k in expected} == expected
    assert report.indicator("referral_days_to_accept").value == median


def test_commune_scope_and_network_with_all_agencies_active(db: Engine) -> None:
    build(db)
    with transaction(db) as s:
        commune_b = compute_indicators(s, unit_code=COMMUNE_B, period="2026-H1")
        s.execute(sa.update(Agency).where(Agency.code == "PHCN-19").values(status="active"))
        # PHCN-19 (rehabilitation, province-wide) gives B its health group back: A and B are linked
        province = compute_indicators(s, unit_code=DEMO_PROVINCE, period="2026-H1")
    assert counts(commune_b)["children_registered"] == (2, None)  # c3, c6
    assert counts(commune_b)["reached_service"] == (0, 2)
    assert counts(commune_b)["officials_trained"] == (0, 1)
    assert counts(commune_b)["linked_network"] == (0, 1)
    assert counts(province)["linked_network"] == (2, COMMUNES_IN_PROVINCE)


@pytest.mark.parametrize("unit_code", [DEMO_PROVINCE, COMMUNE_A, "VN"])
@pytest.mark.parametrize("period", ["2026-Q1", "2026-H1", "2026"])
def test_postgresql_single_pass_matches_the_portable_queries(pg_db: Engine, unit_code: str, period: str) -> None:
    """PostgreSQL computes the referral counts and medians in one pass; they must equal the portable queries."""
    db = pg_db
    from engine.settings import get_settings
    from supervision.indicators import _median_days_to_accept, _referral_counts, _referral_performance_postgresql
    from supervision.overdue import unit_path
    from supervision.periods import parse_period

    build(db)
    tz = get_settings().timezone
    chosen = parse_period(period, tz)
    with transaction(db) as s:
        root = unit_path(s, unit_code)
        counts_one, medians_one, overall_one = _referral_performance_postgresql(s, root, chosen, tz)
        counts_two = _referral_counts(s, root, chosen)
        medians_two, overall_two = _median_days_to_accept(s, root, chosen, tz, "postgresql")
    assert counts_one == counts_two and counts_one
    assert medians_one == medians_two and overall_one == overall_two
