"""The outbox: notifications written in the transaction that causes them, delivered later.

Placeholder until the notifications issue lands: the hooks exist and write nothing yet.
"""

from __future__ import annotations

from sqlmodel import Session

from engine.models import Case, Event, Referral


def on_case_event(session: Session, case: Case, event: Event) -> None:
    """Write the notifications a case transition causes (e.g. care plan awaiting approval)."""
    return None


def on_referral_event(session: Session, referral: Referral, case: Case, event: Event) -> None:
    """Write the notifications a referral transition causes (requested, rejected, completed...)."""
    return None
